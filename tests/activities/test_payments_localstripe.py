"""Payment activities on localstripe only: its 3-D Secure route, its gaps, error mapping."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import stripe
from temporalio.exceptions import ApplicationError

from activities.payments import (
    STRIPE_API_ERROR,
    STRIPE_AUTHENTICATION_ERROR,
    STRIPE_CONNECTION_ERROR,
    STRIPE_INVALID_REQUEST,
    PaymentActivities,
)
from models.activities import CreateCustomerInput
from models.orders import PaymentOutcome
from tests.activities.test_payments_scenarios import (
    authorise_input,
    cancel_input,
    capture_input,
    charge_input,
    hold,
    refund_input,
)
from tests.fixtures.smtp import free_port
from tests.fixtures.stripe import (
    CARD_3DS,
    CARD_OK,
    LocalStripe,
    ProxiedRequest,
    StripeProxy,
    StripeTarget,
    intents_for_order,
    run_activity,
)


@pytest.fixture
async def failing_proxy(localstripe: LocalStripe) -> AsyncIterator[StripeProxy]:
    """A proxy that answers every POST with Stripe's 500 and forwards nothing."""

    def fail(request: ProxiedRequest) -> tuple[int, bytes] | None:
        if request.method != "POST":
            return None
        error = {"error": {"type": "api_error", "message": "An unknown error occurred"}}
        return 500, json.dumps(error).encode()

    proxy = StripeProxy(localstripe.base_url, fail=fail)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


Call = Callable[[PaymentActivities, str], Awaitable[Any]]


async def _create_customer(payments: PaymentActivities, order_id: str) -> Any:
    return await run_activity(
        payments.create_customer,
        CreateCustomerInput(
            idempotency_key=f"{order_id}:customer:1", order_id=order_id, email="a@b.test", name="A"
        ),
    )


async def _authorise(payments: PaymentActivities, order_id: str) -> Any:
    return await run_activity(payments.authorise_payment, authorise_input(order_id, "pm_card_visa"))


async def _capture(payments: PaymentActivities, order_id: str) -> Any:
    return await run_activity(payments.capture_payment, capture_input(order_id, "pi_doesnotexist"))


async def _cancel(payments: PaymentActivities, order_id: str) -> Any:
    return await run_activity(
        payments.cancel_authorisation, cancel_input(order_id, "pi_doesnotexist")
    )


EVERY_NEW_ACTIVITY = pytest.mark.parametrize(
    "call",
    [_create_customer, _authorise, _capture, _cancel],
    ids=["create_customer", "authorise_payment", "capture_payment", "cancel_authorisation"],
)


async def test_three_d_secure_hold_completes_through_authentication(
    stripe_target: StripeTarget, localstripe: LocalStripe, order_id: str
) -> None:
    method = await stripe_target.payment_method(CARD_3DS)
    pending = await stripe_target.run(
        stripe_target.payments.authorise_payment, authorise_input(order_id, method, 8_000)
    )
    assert pending.outcome is PaymentOutcome.requires_action
    assert pending.payment_intent_id is not None and pending.client_secret is not None

    # What the customer's browser does with the client secret the order shows.
    await localstripe.authenticate(pending.payment_intent_id, pending.client_secret)

    intent = await stripe_target.client.v1.payment_intents.retrieve_async(pending.payment_intent_id)
    assert intent.status == "requires_capture"
    captured = await stripe_target.run(
        stripe_target.payments.capture_payment, capture_input(order_id, intent.id)
    )
    assert captured.status == "succeeded"
    assert captured.amount_captured == 8_000
    assert await stripe_target.captured(intent.id) == 8_000


async def test_three_d_secure_charge_succeeds_after_authentication(
    stripe_target: StripeTarget, localstripe: LocalStripe, order_id: str
) -> None:
    method = await stripe_target.payment_method(CARD_3DS)
    pending = await stripe_target.run(
        stripe_target.payments.charge_payment, charge_input(order_id, method)
    )
    assert pending.outcome is PaymentOutcome.requires_action
    assert pending.payment_intent_id is not None and pending.client_secret is not None

    await localstripe.authenticate(pending.payment_intent_id, pending.client_secret)

    intent = await stripe_target.client.v1.payment_intents.retrieve_async(pending.payment_intent_id)
    assert intent.status == "succeeded"
    assert await stripe_target.captured(intent.id) == 10_000


async def test_failed_authentication_leaves_no_hold(
    stripe_target: StripeTarget, localstripe: LocalStripe, order_id: str
) -> None:
    method = await stripe_target.payment_method(CARD_3DS)
    pending = await stripe_target.run(
        stripe_target.payments.authorise_payment, authorise_input(order_id, method)
    )
    assert pending.payment_intent_id is not None and pending.client_secret is not None

    await localstripe.authenticate(pending.payment_intent_id, pending.client_secret, False)

    intent = await stripe_target.client.v1.payment_intents.retrieve_async(pending.payment_intent_id)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error is not None
    assert intent.last_payment_error.code == "payment_intent_authentication_failure"


async def test_localstripe_does_not_bound_refunds(
    stripe_target: StripeTarget, order_id: str
) -> None:
    """localstripe refunds more than was captured; Stripe refuses (test_stripe_live.py).

    So on localstripe nothing but the workflow keeps refunds within the captured amount,
    which is why the workflow enforces the bound itself. If localstripe starts refusing,
    this test fails and the gap can come out of docs/payments.md.
    """
    method = await stripe_target.payment_method(CARD_OK)
    charged = await stripe_target.run(
        stripe_target.payments.charge_payment, charge_input(order_id, method, 5_000)
    )
    assert charged.payment_intent_id is not None

    refunds = [
        await stripe_target.run(
            stripe_target.payments.refund_payment,
            refund_input(order_id, charged.payment_intent_id, 5_000, seq),
        )
        for seq in (1, 2)
    ]

    assert [r.outcome for r in refunds] == [PaymentOutcome.succeeded] * 2
    charge = await stripe_target.client.v1.charges.retrieve_async(
        (
            await stripe_target.client.v1.payment_intents.retrieve_async(charged.payment_intent_id)
        ).latest_charge.id  # type: ignore[union-attr]
    )
    assert charge.amount_refunded == 10_000 > charge.amount


async def test_the_local_server_honours_idempotency_keys(
    stripe_target: StripeTarget, order_id: str
) -> None:
    """The same charge twice under one key: one PaymentIntent, the second answer the first's
    (localstripe alone made two; ``devstack/localstripe_server.py`` adds Stripe's key handling)."""
    results = [
        await stripe_target.run(
            stripe_target.payments.charge_payment, charge_input(order_id, "pm_card_visa")
        )
        for _ in range(2)
    ]

    assert results[0] == results[1]
    assert results[0].outcome is PaymentOutcome.succeeded
    assert await intents_for_order(stripe_target.client, order_id) == [results[0].payment_intent_id]


async def test_cancelling_a_captured_intent_is_refused(
    stripe_target: StripeTarget, order_id: str
) -> None:
    held = await hold(stripe_target, order_id)
    assert held.payment_intent_id is not None
    await stripe_target.run(
        stripe_target.payments.capture_payment, capture_input(order_id, held.payment_intent_id)
    )

    with pytest.raises(ApplicationError) as caught:
        await stripe_target.run(
            stripe_target.payments.cancel_authorisation,
            cancel_input(order_id, held.payment_intent_id),
        )

    assert caught.value.type == STRIPE_INVALID_REQUEST
    assert caught.value.non_retryable


async def test_capture_of_a_released_hold_is_not_retried(
    stripe_target: StripeTarget, order_id: str
) -> None:
    held = await hold(stripe_target, order_id)
    assert held.payment_intent_id is not None
    await stripe_target.run(
        stripe_target.payments.cancel_authorisation, cancel_input(order_id, held.payment_intent_id)
    )

    # Stripe answers 400; localstripe captures the charge but leaves the intent canceled.
    with pytest.raises(ApplicationError) as caught:
        await stripe_target.run(
            stripe_target.payments.capture_payment,
            capture_input(order_id, held.payment_intent_id),
        )

    assert caught.value.non_retryable


@EVERY_NEW_ACTIVITY
async def test_bad_api_key_is_non_retryable(
    call: Call, localstripe: LocalStripe, order_id: str
) -> None:
    payments = PaymentActivities(localstripe.stripe_client(api_key="not-a-secret-key"))

    with pytest.raises(ApplicationError) as caught:
        await call(payments, order_id)

    assert caught.value.type == STRIPE_AUTHENTICATION_ERROR
    assert caught.value.non_retryable


@EVERY_NEW_ACTIVITY
async def test_unreachable_stripe_is_retryable(
    call: Call, localstripe: LocalStripe, order_id: str
) -> None:
    client = stripe.StripeClient(
        localstripe.api_key,
        base_addresses={"api": f"http://127.0.0.1:{free_port()}"},
        http_client=stripe.HTTPXClient(),
    )

    with pytest.raises(ApplicationError) as caught:
        await call(PaymentActivities(client), order_id)

    assert caught.value.type == STRIPE_CONNECTION_ERROR
    assert not caught.value.non_retryable


@EVERY_NEW_ACTIVITY
async def test_stripe_server_error_is_retryable(
    call: Call, localstripe: LocalStripe, failing_proxy: StripeProxy, order_id: str
) -> None:
    client = stripe.StripeClient(
        localstripe.api_key,
        base_addresses={"api": failing_proxy.base_url},
        http_client=stripe.HTTPXClient(),
    )

    with pytest.raises(ApplicationError) as caught:
        await call(PaymentActivities(client), order_id)

    assert caught.value.type == STRIPE_API_ERROR
    assert not caught.value.non_retryable
    # One request: the SDK does not retry the 5xx itself (max_network_retries=0).
    assert [r.method for r in failing_proxy.requests] == ["POST"]


@pytest.mark.parametrize("call", [_capture, _cancel], ids=["capture", "cancel"])
async def test_unknown_payment_intent_is_an_invalid_request(
    call: Call, localstripe: LocalStripe, order_id: str
) -> None:
    with pytest.raises(ApplicationError) as caught:
        await call(PaymentActivities(localstripe.stripe_client()), order_id)

    assert caught.value.type == STRIPE_INVALID_REQUEST
    assert caught.value.non_retryable


def readme_payment_methods() -> list[tuple[str, str]]:
    """The table of test payment methods in docs/payments.md: (method, outcome text)."""
    text = (Path(__file__).parents[2] / "docs" / "payments.md").read_text()
    section = text.split("### Test payment methods on the local stack", 1)[1]
    rows = re.findall(r"^\| `(pm_[A-Za-z_]+)`[^|]*\| ([^|]+) \|$", section, re.MULTILINE)
    assert rows, "docs/payments.md lists no test payment methods"
    return [(method, outcome.strip()) for method, outcome in rows]


@pytest.mark.parametrize("method,outcome", readme_payment_methods())
async def test_the_readmes_test_payment_methods_do_what_it_says(
    localstripe: LocalStripe, order_id: str, method: str, outcome: str
) -> None:
    payments = PaymentActivities(localstripe.stripe_client())
    result = await run_activity(payments.charge_payment, charge_input(order_id, method))
    expected = {
        "succeeds": (PaymentOutcome.succeeded, None),
        "declined": (PaymentOutcome.declined, "declined"),
        "needs the customer's authentication": (PaymentOutcome.requires_action, None),
        "refused by the payment provider": (PaymentOutcome.declined, "refused"),
    }
    said = next(key for key in expected if outcome.startswith(key))
    wanted, message = expected[said]
    assert result.outcome == wanted, (method, result)
    if message == "refused":
        assert (result.failure_message or "").startswith("refused by the payment provider")
    if wanted == PaymentOutcome.requires_action:
        assert result.client_secret
