"""The payment activities against a real localstripe server."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import stripe
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.payments import (
    STRIPE_API_ERROR,
    STRIPE_AUTHENTICATION_ERROR,
    STRIPE_CONNECTION_ERROR,
    STRIPE_IDEMPOTENCY_ERROR,
    STRIPE_INVALID_REQUEST,
    STRIPE_PERMISSION_ERROR,
    STRIPE_RATE_LIMITED,
    PaymentActivities,
    stripe_failure,
)
from config.settings import Settings
from models.activities import ChargeInput, RefundInput
from models.orders import PaymentOutcome
from tests.activities.test_payments_scenarios import authorise_input
from tests.fixtures.smtp import free_port
from tests.fixtures.stripe import (
    CARD_3DS,
    CARD_DECLINED,
    CARD_OK,
    LocalStripe,
    RecordingHTTPClient,
    create_test_payment_method,
    latest_charge,
)


@pytest.fixture
def stripe_client(localstripe: LocalStripe) -> stripe.StripeClient:
    return localstripe.stripe_client()


@pytest.fixture
def payments(stripe_client: stripe.StripeClient) -> PaymentActivities:
    return PaymentActivities(stripe_client)


def charge_input(order_id: str, payment_method: str, amount: int = 12_000) -> ChargeInput:
    return ChargeInput(
        idempotency_key=f"{order_id}:charge:1",
        order_id=order_id,
        amount=amount,
        currency="EUR",
        payment_method=payment_method,
        customer_email="ada@customer.test",
    )


def refund_input(order_id: str, intent_id: str, amount: int, seq: int = 1) -> RefundInput:
    return RefundInput(
        idempotency_key=f"{order_id}:refund:{seq}",
        order_id=order_id,
        payment_intent_id=intent_id,
        amount=amount,
        currency="EUR",
    )


async def paid_intent(
    env: ActivityEnvironment,
    payments: PaymentActivities,
    stripe_client: stripe.StripeClient,
    order_id: str,
) -> str:
    method = await create_test_payment_method(stripe_client, CARD_OK)
    result = await env.run(payments.charge_payment, charge_input(order_id, method))
    assert result.outcome is PaymentOutcome.succeeded
    assert result.payment_intent_id is not None
    return result.payment_intent_id


async def test_charge_succeeds(
    env: ActivityEnvironment,
    payments: PaymentActivities,
    stripe_client: stripe.StripeClient,
    order_id: str,
) -> None:
    method = await create_test_payment_method(stripe_client, CARD_OK)

    result = await env.run(payments.charge_payment, charge_input(order_id, method))

    assert result.outcome is PaymentOutcome.succeeded
    assert result.failure_code is None
    assert result.payment_intent_id is not None
    intent = await stripe_client.v1.payment_intents.retrieve_async(result.payment_intent_id)
    assert intent.status == "succeeded"
    assert intent.amount == 12_000
    assert intent.currency == "eur"
    assert intent.payment_method == method
    assert intent.metadata["order_id"] == order_id


async def test_declined_card_is_an_outcome_not_an_error(
    env: ActivityEnvironment,
    payments: PaymentActivities,
    stripe_client: stripe.StripeClient,
    order_id: str,
) -> None:
    method = await create_test_payment_method(stripe_client, CARD_DECLINED)

    result = await env.run(payments.charge_payment, charge_input(order_id, method))

    assert result.outcome is PaymentOutcome.declined
    assert result.failure_code == "card_declined"
    assert result.failure_message == "Your card was declined."


async def test_canonical_test_payment_method_ids_work(
    env: ActivityEnvironment, payments: PaymentActivities, order_id: str
) -> None:
    ok = await env.run(payments.charge_payment, charge_input(order_id, "pm_card_visa"))
    declined = await env.run(
        payments.charge_payment, charge_input(order_id + "-2", "pm_card_chargeCustomerFail")
    )

    assert ok.outcome is PaymentOutcome.succeeded
    assert declined.outcome is PaymentOutcome.declined


async def test_card_needing_authentication_returns_client_secret(
    env: ActivityEnvironment,
    payments: PaymentActivities,
    stripe_client: stripe.StripeClient,
    order_id: str,
) -> None:
    method = await create_test_payment_method(stripe_client, CARD_3DS)

    result = await env.run(payments.charge_payment, charge_input(order_id, method))

    assert result.outcome is PaymentOutcome.requires_action
    assert result.payment_intent_id is not None
    assert result.client_secret is not None
    assert result.client_secret.startswith(result.payment_intent_id + "_secret_")


async def test_bad_api_key_is_non_retryable(
    env: ActivityEnvironment, localstripe: LocalStripe, order_id: str
) -> None:
    payments = PaymentActivities(localstripe.stripe_client(api_key="not-a-secret-key"))

    with pytest.raises(ApplicationError) as caught:
        await env.run(payments.charge_payment, charge_input(order_id, "pm_card_visa"))

    assert caught.value.type == STRIPE_AUTHENTICATION_ERROR
    assert caught.value.non_retryable


async def test_unknown_payment_method_is_a_refusal_not_an_unknown_outcome(
    env: ActivityEnvironment, payments: PaymentActivities, order_id: str
) -> None:
    # Stripe refuses the request outright (invalid_request_error): nothing was charged, so
    # the order must stay payable with another method, not insist on this one.
    refused = await env.run(payments.charge_payment, charge_input(order_id, "pm_doesnotexist"))
    assert refused.outcome == PaymentOutcome.declined
    assert refused.failure_message is not None
    assert refused.failure_message.startswith("refused by the payment provider: ")
    held = await env.run(payments.authorise_payment, authorise_input(order_id, "pm_doesnotexist"))
    assert (held.outcome, held.payment_intent_id) == (PaymentOutcome.declined, None)
    # Another method then goes through.
    ok = await env.run(payments.charge_payment, charge_input(order_id + "-2", "pm_card_visa"))
    assert ok.outcome == PaymentOutcome.succeeded


async def test_unreachable_stripe_is_retryable(
    env: ActivityEnvironment, localstripe: LocalStripe, order_id: str
) -> None:
    stripe_client = stripe.StripeClient(
        localstripe.api_key,
        base_addresses={"api": f"http://127.0.0.1:{free_port()}"},
        http_client=stripe.HTTPXClient(),
    )
    payments = PaymentActivities(stripe_client)

    with pytest.raises(ApplicationError) as caught:
        await env.run(payments.charge_payment, charge_input(order_id, "pm_card_visa"))

    assert caught.value.type == STRIPE_CONNECTION_ERROR
    assert not caught.value.non_retryable


async def test_full_refund(
    env: ActivityEnvironment,
    payments: PaymentActivities,
    stripe_client: stripe.StripeClient,
    order_id: str,
) -> None:
    intent_id = await paid_intent(env, payments, stripe_client, order_id)

    result = await env.run(payments.refund_payment, refund_input(order_id, intent_id, 12_000))

    assert result.outcome is PaymentOutcome.succeeded
    assert result.refund_id is not None
    refund = await stripe_client.v1.refunds.retrieve_async(result.refund_id)
    assert refund.amount == 12_000
    assert refund.status == "succeeded"
    assert refund.metadata is not None and refund.metadata["order_id"] == order_id
    charge = await latest_charge(stripe_client, intent_id)
    assert charge.amount_refunded == 12_000
    assert charge.refunded


async def test_partial_refunds(
    env: ActivityEnvironment,
    payments: PaymentActivities,
    stripe_client: stripe.StripeClient,
    order_id: str,
) -> None:
    intent_id = await paid_intent(env, payments, stripe_client, order_id)

    first = await env.run(payments.refund_payment, refund_input(order_id, intent_id, 5_000, 1))
    charge = await latest_charge(stripe_client, intent_id)
    assert first.outcome is PaymentOutcome.succeeded
    assert charge.amount_refunded == 5_000
    assert not charge.refunded

    second = await env.run(payments.refund_payment, refund_input(order_id, intent_id, 7_000, 2))
    charge = await latest_charge(stripe_client, intent_id)
    assert second.outcome is PaymentOutcome.succeeded
    assert second.refund_id != first.refund_id
    assert charge.amount_refunded == 12_000
    assert charge.refunded


async def test_refund_of_unknown_payment_is_an_invalid_request(
    env: ActivityEnvironment, payments: PaymentActivities, order_id: str
) -> None:
    with pytest.raises(ApplicationError) as caught:
        await env.run(payments.refund_payment, refund_input(order_id, "pi_doesnotexist", 100))

    assert caught.value.type == STRIPE_INVALID_REQUEST
    assert caught.value.non_retryable


async def test_idempotency_keys_are_sent(
    env: ActivityEnvironment, localstripe: LocalStripe, order_id: str
) -> None:
    # localstripe ignores Idempotency-Key, so the check is on what the SDK put on the wire.
    recorder = RecordingHTTPClient()
    stripe_client = localstripe.stripe_client(http_client=recorder)
    payments = PaymentActivities(stripe_client)

    charged = await env.run(payments.charge_payment, charge_input(order_id, "pm_card_visa"))
    assert charged.payment_intent_id is not None
    await env.run(payments.refund_payment, refund_input(order_id, charged.payment_intent_id, 1_000))

    sent = [
        (r.method, r.url.removeprefix(localstripe.base_url), r.headers.get("Idempotency-Key"))
        for r in recorder.requests
    ]
    assert sent == [
        ("post", "/v1/payment_intents", f"{order_id}:charge:1"),
        ("post", "/v1/refunds", f"{order_id}:refund:1"),
    ]


async def test_built_from_settings_for_a_stripe_compatible_server(
    env: ActivityEnvironment, localstripe: LocalStripe, order_id: str
) -> None:
    settings = Settings(
        stripe_api_key=SecretStr(localstripe.api_key),
        stripe_api_base=localstripe.base_url,
        stripe_webhook_secret=SecretStr("whsec_test"),
    )
    payments = PaymentActivities.from_settings(settings)

    result = await env.run(payments.charge_payment, charge_input(order_id, "pm_card_visa"))

    assert result.outcome is PaymentOutcome.succeeded


async def test_real_stripe_confirms_without_redirects(
    env: ActivityEnvironment, localstripe: LocalStripe, order_id: str
) -> None:
    # Real Stripe needs automatic_payment_methods[allow_redirects]=never to confirm on the
    # server; localstripe refuses that parameter, which shows it was sent.
    recorder = RecordingHTTPClient()
    payments = PaymentActivities(
        localstripe.stripe_client(http_client=recorder), disallow_redirects=True
    )

    refused = await env.run(payments.charge_payment, charge_input(order_id, "pm_card_visa"))

    # A refused request is an outcome (nothing was charged), with Stripe's reason.
    assert refused.outcome is PaymentOutcome.declined
    assert (refused.failure_message or "").startswith("refused by the payment provider: ")
    [request] = recorder.requests
    sent = parse_qs(request.body)
    assert sent["automatic_payment_methods[enabled]"] == ["true"]
    assert sent["automatic_payment_methods[allow_redirects]"] == ["never"]


async def test_charge_sends_only_what_localstripe_accepts(
    env: ActivityEnvironment, localstripe: LocalStripe, order_id: str
) -> None:
    recorder = RecordingHTTPClient()
    payments = PaymentActivities(localstripe.stripe_client(http_client=recorder))

    await env.run(payments.charge_payment, charge_input(order_id, "pm_card_visa", amount=4_250))

    [request] = recorder.requests
    assert parse_qs(request.body) == {
        "amount": ["4250"],
        "currency": ["eur"],
        "payment_method": ["pm_card_visa"],
        "capture_method": ["automatic"],
        "confirm": ["true"],
        "metadata[order_id]": [order_id],
    }


@pytest.mark.parametrize(
    ("error", "expected_type", "retryable"),
    [
        (
            stripe.AuthenticationError("bad key", http_status=401),
            STRIPE_AUTHENTICATION_ERROR,
            False,
        ),
        (stripe.PermissionError("restricted", http_status=403), STRIPE_PERMISSION_ERROR, False),
        (stripe.IdempotencyError("reused", http_status=400), STRIPE_IDEMPOTENCY_ERROR, False),
        (
            stripe.InvalidRequestError("no such", "id", http_status=404),  # type: ignore[no-untyped-call]
            STRIPE_INVALID_REQUEST,
            False,
        ),
        (stripe.RateLimitError("slow down", http_status=429), STRIPE_RATE_LIMITED, True),
        (stripe.APIConnectionError("refused"), STRIPE_CONNECTION_ERROR, True),  # type: ignore[no-untyped-call]
        (stripe.APIError("internal", http_status=500), STRIPE_API_ERROR, True),
        (stripe.APIError("conflict", http_status=409), STRIPE_API_ERROR, True),
    ],
)
def test_stripe_errors_map_to_retry_policy(
    error: stripe.StripeError, expected_type: str, retryable: bool
) -> None:
    failure = stripe_failure(error)

    assert failure.type == expected_type
    assert failure.non_retryable is not retryable
