"""The contract with Stripe: every request and parameter the payment activities send.

``STRIPE_PARAMETERS`` is the allow-list, per endpoint; the table "Stripe parameters
orderclock relies on" in docs/payments.md is the same list for readers. The activities must
send nothing outside it, localstripe (which refuses parameters it does not know) must have
accepted every parameter in it, and docs/payments.md must list exactly it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe

from activities.payments import PaymentActivities
from models.activities import CreateCustomerInput
from models.orders import PaymentOutcome
from tests.activities.test_payments_scenarios import (
    authorise_input,
    cancel_input,
    capture_input,
    charge_input,
    refund_input,
)
from tests.fixtures.stripe import (
    CARD_3DS,
    CARD_DECLINED,
    CARD_OK,
    PROJECT_ROOT,
    LocalStripe,
    RecordingHTTPClient,
    create_test_payment_method,
    form_keys,
    run_activity,
)

STRIPE_PARAMETERS: dict[str, frozenset[str]] = {
    "POST /v1/customers": frozenset({"email", "name", "metadata[order_id]"}),
    "POST /v1/payment_intents": frozenset(
        {
            "amount",
            "currency",
            "payment_method",
            "confirm",
            "capture_method",
            "customer",
            "metadata[order_id]",
        }
    ),
    "POST /v1/payment_intents/{id}/capture": frozenset({"amount_to_capture"}),
    "POST /v1/payment_intents/{id}/cancel": frozenset(),
    "GET /v1/payment_intents/{id}": frozenset(),
    "POST /v1/refunds": frozenset({"payment_intent", "amount", "metadata[order_id]"}),
}
"""Every request the payment activities make, and the parameters each may carry."""

STRIPE_ONLY_PARAMETERS: dict[str, frozenset[str]] = {
    "POST /v1/payment_intents": frozenset(
        {"automatic_payment_methods[enabled]", "automatic_payment_methods[allow_redirects]"}
    ),
}
"""Sent only to Stripe itself (``disallow_redirects``); localstripe refuses them."""

README_HEADING = "Stripe parameters orderclock relies on"
_STRIPE_ID = re.compile(r"/(?:pi|cus|re|ch|pm)_[A-Za-z0-9]+")
_CODE = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Sent:
    """One request as the contract sees it: endpoint, parameter names, HTTP status."""

    endpoint: str
    parameters: frozenset[str]
    status: int | None


def sent_requests(recorder: RecordingHTTPClient) -> list[Sent]:
    """The recorder's requests, with Stripe ids in paths replaced by ``{id}``."""
    sent = []
    for request in recorder.requests:
        url = urlsplit(request.url)
        parameters = form_keys(request.body) if request.body else set(parse_qs(url.query))
        endpoint = f"{request.method.upper()} {_STRIPE_ID.sub('/{id}', url.path)}"
        sent.append(Sent(endpoint, frozenset(parameters), request.status))
    return sent


async def exercise_every_activity(
    payments: PaymentActivities, client: stripe.StripeClient, order_id: str
) -> None:
    """Every activity on every path that reaches Stripe: holds, captures, refunds, errors."""
    customer = await run_activity(
        payments.create_customer,
        CreateCustomerInput(
            idempotency_key=f"{order_id}:customer:1",
            order_id=order_id,
            email="cleo@customer.test",
            name="Cleo",
        ),
    )
    card = await create_test_payment_method(client, CARD_OK)
    part = await run_activity(
        payments.authorise_payment,
        authorise_input(order_id, card, 9_000, seq=1, customer_id=customer.customer_id),
    )
    assert part.payment_intent_id is not None
    await run_activity(
        payments.capture_payment, capture_input(order_id, part.payment_intent_id, 4_000)
    )
    await run_activity(
        payments.refund_payment, refund_input(order_id, part.payment_intent_id, 1_000, 1)
    )
    full = await run_activity(
        payments.authorise_payment, authorise_input(order_id, "pm_card_visa", seq=2)
    )
    assert full.payment_intent_id is not None
    await run_activity(
        payments.capture_payment, capture_input(order_id, full.payment_intent_id, seq=2)
    )
    released = await run_activity(
        payments.authorise_payment, authorise_input(order_id, "pm_card_visa", seq=3)
    )
    assert released.payment_intent_id is not None
    for seq in (1, 2):  # the second cancel finds the hold released (the GET)
        await run_activity(
            payments.cancel_authorisation,
            cancel_input(order_id, released.payment_intent_id, seq),
        )
    charged = await run_activity(payments.charge_payment, charge_input(order_id, card))
    assert charged.payment_intent_id is not None
    await run_activity(
        payments.refund_payment, refund_input(order_id, charged.payment_intent_id, 500, 2)
    )
    for number, seq in ((CARD_DECLINED, 4), (CARD_3DS, 5)):
        method = await create_test_payment_method(client, number)
        await run_activity(payments.authorise_payment, authorise_input(order_id, method, seq=seq))


@pytest.fixture(scope="module")
async def sent(localstripe: LocalStripe) -> list[Sent]:
    """What the activities sent to localstripe while doing everything they can do."""
    recorder = RecordingHTTPClient()
    client = localstripe.stripe_client(http_client=recorder)
    await exercise_every_activity(PaymentActivities(client), client, f"ord-{uuid.uuid4().hex[:12]}")
    # Test cards are made through the same client; that is set-up, not the activities.
    return [s for s in sent_requests(recorder) if s.endpoint != "POST /v1/payment_methods"]


def test_every_parameter_sent_is_in_the_allow_list(sent: list[Sent]) -> None:
    outside = {
        (s.endpoint, p)
        for s in sent
        for p in s.parameters - STRIPE_PARAMETERS.get(s.endpoint, frozenset({"*"}))
    }
    unknown = {s.endpoint for s in sent} - STRIPE_PARAMETERS.keys()

    assert unknown == set()
    assert outside == set()


def test_localstripe_accepted_every_listed_parameter(sent: list[Sent]) -> None:
    accepted = [s for s in sent if s.status is not None and 200 <= s.status < 300]
    never_accepted = {
        (endpoint, parameter)
        for endpoint, parameters in STRIPE_PARAMETERS.items()
        for parameter in parameters
        if not any(s.endpoint == endpoint and parameter in s.parameters for s in accepted)
    }
    endpoints_never_accepted = STRIPE_PARAMETERS.keys() - {s.endpoint for s in accepted}

    assert never_accepted == set()
    assert endpoints_never_accepted == set()


async def test_stripe_only_parameters_are_all_that_disallow_redirects_adds(
    localstripe: LocalStripe,
) -> None:
    recorder = RecordingHTTPClient()
    payments = PaymentActivities(
        localstripe.stripe_client(http_client=recorder), disallow_redirects=True
    )
    order_id = f"ord-{uuid.uuid4().hex[:12]}"

    authorising = await run_activity(
        payments.authorise_payment, authorise_input(order_id, "pm_card_visa")
    )
    charging = await run_activity(payments.charge_payment, charge_input(order_id, "pm_card_visa"))

    # localstripe refuses them (a refusal is an outcome: nothing was charged).
    for refused in (authorising, charging):
        assert refused.outcome is PaymentOutcome.declined
        assert (refused.failure_message or "").startswith("refused by the payment provider")

    endpoint = "POST /v1/payment_intents"
    for request in sent_requests(recorder):
        assert request.endpoint == endpoint
        extra = request.parameters - STRIPE_PARAMETERS[endpoint]
        assert extra == STRIPE_ONLY_PARAMETERS[endpoint]
        # localstripe refuses them: the reason they are sent to Stripe only.
        assert request.status == 400


def readme_parameters(markdown: str) -> dict[str, frozenset[str]]:
    """The table under ``README_HEADING``: endpoint -> parameters (code spans)."""
    lines = markdown.splitlines()
    heading = re.compile(rf"^#+\s+{re.escape(README_HEADING)}\s*$")
    start = next((i for i, line in enumerate(lines) if heading.match(line)), None)
    assert start is not None, f"docs/payments.md has no heading '{README_HEADING}'"
    table: dict[str, frozenset[str]] = {}
    in_table = False
    for line in lines[start + 1 :]:
        if not line.startswith("|"):
            if in_table:
                break
            if line.startswith("#"):
                break
            continue
        in_table = True
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        endpoint = _CODE.findall(cells[0])
        if not endpoint:  # the header row and the |---| row
            continue
        table[endpoint[0]] = frozenset(_CODE.findall(cells[1]))
    return table


def test_readme_parameters_parser() -> None:
    markdown = (
        f"## Payments\n\n### {README_HEADING}\n\nSome words.\n\n"
        "| request | parameters | sent by |\n|---|---|---|\n"
        "| `POST /v1/refunds` | `payment_intent`, `amount` | refund_payment |\n"
        "| `POST /v1/payment_intents/{id}/cancel` | none | cancel |\n\n"
        "| `POST /v1/other` | `x` | a later table |\n"
    )

    assert readme_parameters(markdown) == {
        "POST /v1/refunds": frozenset({"payment_intent", "amount"}),
        "POST /v1/payment_intents/{id}/cancel": frozenset(),
    }


def test_readme_lists_exactly_the_allow_list() -> None:
    readme = (Path(PROJECT_ROOT) / "docs" / "payments.md").read_text()

    assert readme_parameters(readme) == STRIPE_PARAMETERS
