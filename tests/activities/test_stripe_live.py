"""The payment scenarios against Stripe's test mode (opt-in: ORDERCLOCK_STRIPE_TEST_KEY).

The same scenario functions as test_payments_scenarios.py, collected here a second time
with this module's ``stripe_target``: Stripe itself, test cards by their ``pm_card_*`` ids,
and ``disallow_redirects=True`` as in production. Run with::

    ORDERCLOCK_STRIPE_TEST_KEY=sk_test_... .venv/bin/pytest tests/activities/test_stripe_live.py

Completing 3-D Secure needs a browser on Stripe, so only localstripe's tests complete it.
"""

from __future__ import annotations

import os

import pytest
import stripe
from temporalio.exceptions import ApplicationError

from activities.payments import STRIPE_INVALID_REQUEST, PaymentActivities
from models.orders import PaymentOutcome
from tests.activities import test_payments_scenarios as scenarios
from tests.fixtures.stripe import CARD_OK, StripeTarget

LIVE_KEY_ENV = "ORDERCLOCK_STRIPE_TEST_KEY"
LIVE_KEY = os.environ.get(LIVE_KEY_ENV, "")

pytestmark = pytest.mark.skipif(
    not LIVE_KEY, reason="set ORDERCLOCK_STRIPE_TEST_KEY to run against Stripe test mode"
)


@pytest.fixture
def stripe_target() -> StripeTarget:
    """Stripe's test mode; a live-mode key is refused before any request."""
    if not LIVE_KEY.startswith(("sk_test_", "rk_test_")):
        pytest.fail(f"{LIVE_KEY_ENV} must be a test-mode key (sk_test_... or rk_test_...)")
    client = stripe.StripeClient(LIVE_KEY, http_client=stripe.HTTPXClient())
    return StripeTarget(
        name="stripe-test-mode",
        client=client,
        payments=PaymentActivities(client, disallow_redirects=True),
        live=True,
    )


test_create_customer = scenarios.test_create_customer
test_authorise_for_a_customer_holds_the_amount = (
    scenarios.test_authorise_for_a_customer_holds_the_amount
)
test_authorise_then_capture_in_full = scenarios.test_authorise_then_capture_in_full
test_authorise_then_capture_part = scenarios.test_authorise_then_capture_part
test_cancel_releases_the_hold = scenarios.test_cancel_releases_the_hold
test_cancelling_a_released_hold_again_is_a_no_op = (
    scenarios.test_cancelling_a_released_hold_again_is_a_no_op
)
test_refunds_of_a_partial_capture_up_to_the_captured_amount = (
    scenarios.test_refunds_of_a_partial_capture_up_to_the_captured_amount
)
test_charge_then_several_partial_refunds = scenarios.test_charge_then_several_partial_refunds
test_declined_card_on_authorise_is_an_outcome = (
    scenarios.test_declined_card_on_authorise_is_an_outcome
)
test_three_d_secure_card_on_authorise_requires_action = (
    scenarios.test_three_d_secure_card_on_authorise_requires_action
)


async def test_stripe_refuses_to_refund_more_than_captured(
    stripe_target: StripeTarget, order_id: str
) -> None:
    """Stripe bounds refunds (localstripe does not: test_localstripe_does_not_bound_refunds)."""
    method = await stripe_target.payment_method(CARD_OK)
    charged = await stripe_target.run(
        stripe_target.payments.charge_payment, scenarios.charge_input(order_id, method, 5_000)
    )
    assert charged.outcome is PaymentOutcome.succeeded
    assert charged.payment_intent_id is not None
    await stripe_target.run(
        stripe_target.payments.refund_payment,
        scenarios.refund_input(order_id, charged.payment_intent_id, 4_000, 1),
    )

    with pytest.raises(ApplicationError) as caught:
        await stripe_target.run(
            stripe_target.payments.refund_payment,
            scenarios.refund_input(order_id, charged.payment_intent_id, 2_000, 2),
        )

    assert caught.value.type == STRIPE_INVALID_REQUEST
    assert caught.value.non_retryable
