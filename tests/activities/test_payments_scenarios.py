"""Payment scenarios on a Stripe target: localstripe here, Stripe's test mode in
test_stripe_live.py (which runs these same functions against its own ``stripe_target``).

Each scenario asserts the activity's result and then what the server itself recorded.
"""

from __future__ import annotations

from models.activities import (
    AuthoriseInput,
    AuthoriseResult,
    CancelAuthorisationInput,
    CaptureInput,
    ChargeInput,
    CreateCustomerInput,
    RefundInput,
    RefundResult,
)
from models.orders import PaymentOutcome
from tests.fixtures.stripe import CARD_3DS, CARD_DECLINED, CARD_OK, StripeTarget


def authorise_input(
    order_id: str,
    payment_method: str,
    amount: int = 10_000,
    seq: int = 1,
    customer_id: str | None = None,
) -> AuthoriseInput:
    return AuthoriseInput(
        idempotency_key=f"{order_id}:authorise:{seq}",
        order_id=order_id,
        amount=amount,
        currency="EUR",
        payment_method=payment_method,
        customer_id=customer_id,
    )


def charge_input(order_id: str, payment_method: str, amount: int = 10_000) -> ChargeInput:
    return ChargeInput(
        idempotency_key=f"{order_id}:charge:1",
        order_id=order_id,
        amount=amount,
        currency="EUR",
        payment_method=payment_method,
    )


def capture_input(
    order_id: str, intent_id: str, amount: int | None = None, seq: int = 1
) -> CaptureInput:
    return CaptureInput(
        idempotency_key=f"{order_id}:capture:{seq}",
        order_id=order_id,
        payment_intent_id=intent_id,
        amount_to_capture=amount,
    )


def cancel_input(order_id: str, intent_id: str, seq: int = 1) -> CancelAuthorisationInput:
    return CancelAuthorisationInput(
        idempotency_key=f"{order_id}:cancel:{seq}", order_id=order_id, payment_intent_id=intent_id
    )


def refund_input(order_id: str, intent_id: str, amount: int, seq: int) -> RefundInput:
    return RefundInput(
        idempotency_key=f"{order_id}:refund:{seq}",
        order_id=order_id,
        payment_intent_id=intent_id,
        amount=amount,
        currency="EUR",
    )


async def hold(target: StripeTarget, order_id: str, amount: int = 10_000) -> AuthoriseResult:
    """An authorisation on a card that pays, checked to be in place."""
    method = await target.payment_method(CARD_OK)
    result = await target.run(
        target.payments.authorise_payment, authorise_input(order_id, method, amount)
    )
    assert result.outcome is PaymentOutcome.succeeded, result
    assert result.payment_intent_id is not None
    return result


async def refund_in_parts(
    target: StripeTarget, order_id: str, intent_id: str, parts: list[int]
) -> list[RefundResult]:
    """Refund ``parts`` one after another, each under its own key, and check each on Stripe."""
    results = []
    for seq, amount in enumerate(parts, start=1):
        result = await target.run(
            target.payments.refund_payment, refund_input(order_id, intent_id, amount, seq)
        )
        assert result.outcome is PaymentOutcome.succeeded, result
        assert result.refund_id is not None
        refund = await target.client.v1.refunds.retrieve_async(result.refund_id)
        assert refund.amount == amount
        assert refund.status == "succeeded"
        assert refund.metadata is not None and refund.metadata["order_id"] == order_id
        results.append(result)
    assert len({r.refund_id for r in results}) == len(parts)
    return results


async def test_create_customer(stripe_target: StripeTarget, order_id: str) -> None:
    result = await stripe_target.run(
        stripe_target.payments.create_customer,
        CreateCustomerInput(
            idempotency_key=f"{order_id}:customer:1",
            order_id=order_id,
            email="cleo@customer.test",
            name="Cleo Customer",
        ),
    )

    assert result.customer_id.startswith("cus_")
    customer = await stripe_target.client.v1.customers.retrieve_async(result.customer_id)
    assert customer.email == "cleo@customer.test"
    assert customer.name == "Cleo Customer"
    assert customer.metadata is not None and customer.metadata["order_id"] == order_id


async def test_authorise_for_a_customer_holds_the_amount(
    stripe_target: StripeTarget, order_id: str
) -> None:
    customer = await stripe_target.run(
        stripe_target.payments.create_customer,
        CreateCustomerInput(
            idempotency_key=f"{order_id}:customer:1",
            order_id=order_id,
            email="cleo@customer.test",
            name="Cleo Customer",
        ),
    )
    method = await stripe_target.payment_method(CARD_OK)

    result = await stripe_target.run(
        stripe_target.payments.authorise_payment,
        authorise_input(order_id, method, 7_500, customer_id=customer.customer_id),
    )

    assert result.outcome is PaymentOutcome.succeeded
    assert result.status == "requires_capture"
    assert result.amount_capturable == 7_500
    assert result.failure_code is None
    assert result.payment_intent_id is not None
    intent = await stripe_target.client.v1.payment_intents.retrieve_async(result.payment_intent_id)
    assert intent.status == "requires_capture"
    assert intent.capture_method == "manual"
    assert intent.amount == 7_500
    assert intent.customer == customer.customer_id
    assert intent.metadata["order_id"] == order_id
    assert await stripe_target.captured(result.payment_intent_id) == 0


async def test_authorise_then_capture_in_full(stripe_target: StripeTarget, order_id: str) -> None:
    held = await hold(stripe_target, order_id, 12_000)
    assert held.payment_intent_id is not None

    captured = await stripe_target.run(
        stripe_target.payments.capture_payment, capture_input(order_id, held.payment_intent_id)
    )

    assert captured.status == "succeeded"
    assert captured.amount_captured == 12_000
    assert captured.payment_intent_id == held.payment_intent_id
    assert await stripe_target.captured(held.payment_intent_id) == 12_000


async def test_authorise_then_capture_part(stripe_target: StripeTarget, order_id: str) -> None:
    held = await hold(stripe_target, order_id, 10_000)
    assert held.payment_intent_id is not None

    captured = await stripe_target.run(
        stripe_target.payments.capture_payment,
        capture_input(order_id, held.payment_intent_id, 6_000),
    )

    assert captured.status == "succeeded"
    assert captured.amount_captured == 6_000
    assert await stripe_target.captured(held.payment_intent_id) == 6_000


async def test_cancel_releases_the_hold(stripe_target: StripeTarget, order_id: str) -> None:
    held = await hold(stripe_target, order_id)
    assert held.payment_intent_id is not None

    released = await stripe_target.run(
        stripe_target.payments.cancel_authorisation, cancel_input(order_id, held.payment_intent_id)
    )

    assert released.status == "canceled"
    assert released.payment_intent_id == held.payment_intent_id
    intent = await stripe_target.client.v1.payment_intents.retrieve_async(held.payment_intent_id)
    assert intent.status == "canceled"
    assert await stripe_target.captured(held.payment_intent_id) == 0


async def test_cancelling_a_released_hold_again_is_a_no_op(
    stripe_target: StripeTarget, order_id: str
) -> None:
    # A new key, so Stripe cannot replay the first answer: it refuses the second cancel
    # and the activity finds the hold already released.
    held = await hold(stripe_target, order_id)
    assert held.payment_intent_id is not None
    await stripe_target.run(
        stripe_target.payments.cancel_authorisation, cancel_input(order_id, held.payment_intent_id)
    )

    again = await stripe_target.run(
        stripe_target.payments.cancel_authorisation,
        cancel_input(order_id, held.payment_intent_id, seq=2),
    )

    assert again.status == "canceled"


async def test_refunds_of_a_partial_capture_up_to_the_captured_amount(
    stripe_target: StripeTarget, order_id: str
) -> None:
    """Several partial refunds add up to what was captured, not to what was held.

    The bound (never more than captured in total) is the workflow's to enforce: localstripe
    does not enforce it at all (test_localstripe_does_not_bound_refunds), Stripe does.
    """
    held = await hold(stripe_target, order_id, 10_000)
    assert held.payment_intent_id is not None
    await stripe_target.run(
        stripe_target.payments.capture_payment,
        capture_input(order_id, held.payment_intent_id, 6_000),
    )

    await refund_in_parts(stripe_target, order_id, held.payment_intent_id, [1_000, 2_500, 2_500])

    assert await stripe_target.captured(held.payment_intent_id) == 6_000


async def test_charge_then_several_partial_refunds(
    stripe_target: StripeTarget, order_id: str
) -> None:
    method = await stripe_target.payment_method(CARD_OK)
    charged = await stripe_target.run(
        stripe_target.payments.charge_payment, charge_input(order_id, method, 9_000)
    )
    assert charged.outcome is PaymentOutcome.succeeded
    assert charged.payment_intent_id is not None

    await refund_in_parts(stripe_target, order_id, charged.payment_intent_id, [3_000, 3_000, 3_000])

    assert await stripe_target.captured(charged.payment_intent_id) == 9_000


async def test_declined_card_on_authorise_is_an_outcome(
    stripe_target: StripeTarget, order_id: str
) -> None:
    method = await stripe_target.payment_method(CARD_DECLINED)

    result = await stripe_target.run(
        stripe_target.payments.authorise_payment, authorise_input(order_id, method)
    )

    assert result.outcome is PaymentOutcome.declined
    assert result.failure_code == "card_declined"
    assert result.failure_message
    assert result.amount_capturable == 0
    assert result.client_secret is None
    if result.payment_intent_id is not None:
        # Stripe sends the declined intent with the error; localstripe does not.
        assert result.status == "requires_payment_method"


async def test_three_d_secure_card_on_authorise_requires_action(
    stripe_target: StripeTarget, order_id: str
) -> None:
    method = await stripe_target.payment_method(CARD_3DS)

    result = await stripe_target.run(
        stripe_target.payments.authorise_payment, authorise_input(order_id, method)
    )

    assert result.outcome is PaymentOutcome.requires_action
    assert result.status == "requires_action"
    assert result.payment_intent_id is not None
    assert result.client_secret is not None
    assert result.client_secret.startswith(result.payment_intent_id + "_secret_")
    assert result.amount_capturable == 0
    # The customer never authenticates: releasing the pending hold works as for any other.
    released = await stripe_target.run(
        stripe_target.payments.cancel_authorisation,
        cancel_input(order_id, result.payment_intent_id),
    )
    assert released.status == "canceled"
