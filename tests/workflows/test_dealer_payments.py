"""The dealer order's money: pre-authorise, capture, ship, refund, cancel, renew the hold."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError

from flows.dealer_order.declaration import CONTEXT_KEYS
from models import errors
from models.activities import (
    CAPTURE_PAYMENT,
    REFUND_PAYMENT,
    CaptureInput,
    CaptureResult,
    RefundInput,
    RefundResult,
)
from models.common import Role
from models.orders import PaymentKind, PaymentOutcome
from tests.support.dealer_order import ON_ACCOUNT, DealerHarness
from tests.support.fakes import FakeActivities
from tests.support.harness import Rejected

S = Role.support
# The README's dealer deadline table: the hold is renewed after 6.5 days (Stripe keeps 7).
RENEWED_AFTER = timedelta(days=6, hours=12)


def stripe_down() -> ApplicationError:
    return ApplicationError("Stripe down", type="StripeAuthenticationError", non_retryable=True)


class FlakyMoney(FakeActivities):
    """Captures and refunds that fail while the test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.capture_down = False
        self.refund_down = False

    @activity.defn(name=CAPTURE_PAYMENT)
    async def capture_payment(self, input: CaptureInput) -> CaptureResult:
        if self.capture_down:
            raise stripe_down()
        return await super().capture_payment(input)

    @activity.defn(name=REFUND_PAYMENT)
    async def refund_payment(self, input: RefundInput) -> RefundResult:
        if self.refund_down:
            raise stripe_down()
        return await super().refund_payment(input)


@pytest.fixture
def dealer_fakes() -> FakeActivities:
    """The ``dealer`` harness (tests/workflows/conftest.py) on fakes whose money can fail."""
    return FlakyMoney()


def money(h: DealerHarness) -> FlakyMoney:
    assert isinstance(h.fakes, FlakyMoney)
    return h.fakes


async def test_capture_then_ship_then_refund_the_whole_order(dealer: DealerHarness) -> None:
    order = await dealer.start()
    view = await dealer.view(order)
    assert (view.amount_held, view.amount_paid) == (12000, 0)
    await dealer.confirmed(order)
    view = await dealer.act(order, "capture_payment")
    assert view.status == "paid"
    assert (view.amount_held, view.amount_paid) == (0, 12000)
    shipment = {"tracking_numbers": ["T1"], "carrier": "DHL"}
    view = await dealer.act(order, "mark_shipped", payload=shipment)
    assert view.status == "shipped"
    assert len(dealer.fakes.captures) == 1, "shipping a paid order captures nothing more"
    assert view.dealer is not None and view.dealer.collection == "card"
    view = await dealer.act(order, "refund", payload={"reason": "returned"})
    assert view.status == "refunded"
    assert (view.amount_paid, view.amount_refunded) == (12000, 12000)
    assert [(r.amount, r.payment_intent_id) for r in dealer.fakes.refunds] == [(12000, "pi_auth_1")]
    assert dealer.fakes.refunds[0].idempotency_key == f"{view.order_id}:refund-order:3"
    # A second refund is refused: the Refunded tab has none.
    with pytest.raises(Rejected) as rejected:
        await dealer.act(order, "refund")
    assert rejected.value.kind == errors.NOT_ALLOWED
    refunded = await dealer.mail(view.order_id, "refunded")
    assert refunded[0].context["refund_amount"] == "120.00 EUR"
    assert refunded[0].recipient_role == "customer"
    # The workflow passes every template key there is, whatever the event.
    assert set(refunded[0].context) == CONTEXT_KEYS


async def test_shipping_a_card_order_captures_it(dealer: DealerHarness) -> None:
    order = await dealer.start()
    await dealer.confirmed(order)
    view = await dealer.act(order, "mark_shipped")
    assert view.status == "shipped"
    assert [p.kind for p in view.payments] == [PaymentKind.authorisation, PaymentKind.capture]
    assert view.amount_paid == 12000
    assert view.dealer is not None
    assert view.dealer.tracking_numbers == ["1Z999AA10123456784", "1Z999AA10123456785"]
    shipped = await dealer.mail(view.order_id, "shipped")
    assert shipped[0].context["tracking_numbers"] == "1Z999AA10123456784, 1Z999AA10123456785"


async def test_on_account_the_external_system_collects_and_credits(dealer: DealerHarness) -> None:
    order = await dealer.start(payment=ON_ACCOUNT)
    await dealer.confirmed(order)
    view = await dealer.act(order, "mark_shipped")
    assert view.status == "shipped"
    assert [(p.kind, p.amount, p.outcome) for p in view.payments] == [
        (PaymentKind.invoice, 12000, PaymentOutcome.requires_action)
    ]
    assert view.dealer is not None and view.dealer.collection == "external_system"
    assert view.amount_paid == 0
    view = await dealer.act(order, "refund")
    assert view.status == "refunded"
    assert view.dealer is not None and view.dealer.credit_due
    assert view.amount_refunded == 0
    assert not (dealer.fakes.authorisations or dealer.fakes.captures or dealer.fakes.refunds)
    refunded = await dealer.mail(view.order_id, "refunded")
    assert refunded[0].context["refund_amount"] == "to be credited on your account"


async def test_cancelling_a_new_order_releases_the_hold(dealer: DealerHarness) -> None:
    order = await dealer.start()
    await dealer.act(order, "accept")
    view = await dealer.act(order, "cancel", payload={"reason": "out of stock"})
    assert view.status == "cancelled"
    assert [r.payment_intent_id for r in dealer.fakes.releases] == ["pi_auth_1"]
    assert (view.amount_held, view.amount_paid) == (0, 0)
    cancelled = await dealer.mail(view.order_id, "cancelled")
    # The dealer cancelled it: only the customer is told.
    assert [(e.recipient_role, e.context["refund_amount"]) for e in cancelled] == [
        ("customer", "nothing was charged; the hold on your card is released")
    ]


async def test_cancelling_a_paid_order_refunds_it(dealer: DealerHarness) -> None:
    order = await dealer.start()
    await dealer.confirmed(order)
    await dealer.act(order, "capture_payment")
    view = await dealer.act(order, "cancel", S, {"reason": "customer called"})
    assert view.status == "cancelled"
    assert view.amount_refunded == 12000
    assert dealer.fakes.refunds[0].idempotency_key.split(":")[1] == "refund-cancel"
    assert not dealer.fakes.releases
    cancelled = await dealer.mail(view.order_id, "cancelled")
    # Support cancelled it: the dealer is told as well.
    assert sorted(e.recipient_role for e in cancelled) == ["customer", "provider"]
    assert cancelled[0].context["refund_amount"] == "120.00 EUR refunded to your card"


async def test_a_failed_capture_is_503_and_flags_until_it_works(dealer: DealerHarness) -> None:
    order = await dealer.start()
    await dealer.confirmed(order)
    money(dealer).capture_down = True
    with pytest.raises(Rejected) as rejected:
        await dealer.act(order, "mark_shipped")
    assert rejected.value.kind == errors.PAYMENT_UNAVAILABLE
    assert rejected.value.message.startswith("card capture failed: ")
    assert rejected.value.message.endswith("; try again")
    view = await dealer.view(order)
    assert view.status == "new" and view.needs_attention and view.amount_held == 12000
    money(dealer).capture_down = False
    view = await dealer.act(order, "mark_shipped")
    assert view.status == "shipped" and not view.needs_attention


async def test_a_failed_refund_is_recorded_and_can_be_repeated(dealer: DealerHarness) -> None:
    order = await dealer.start()
    await dealer.confirmed(order)
    await dealer.act(order, "mark_shipped")
    money(dealer).refund_down = True
    with pytest.raises(Rejected) as rejected:
        await dealer.act(order, "refund")
    assert rejected.value.kind == errors.PAYMENT_UNAVAILABLE
    view = await dealer.view(order)
    assert view.status == "shipped" and view.needs_attention
    assert view.payments[-1].kind == PaymentKind.refund
    assert view.payments[-1].outcome == PaymentOutcome.failed
    money(dealer).refund_down = False
    view = await dealer.act(order, "refund")
    assert view.status == "refunded" and not view.needs_attention
    assert view.amount_refunded == 12000
    keys = [r.idempotency_key for r in view.payments if r.kind == PaymentKind.refund]
    assert len(set(keys)) == 2, "a failed refund's retry is a new request"


async def test_a_hold_kept_past_seven_days_is_renewed_and_captured(dealer: DealerHarness) -> None:
    order = await dealer.start()
    await dealer.confirmed(order)
    view = await dealer.view(order)
    assert view.next_deadline is not None
    assert view.next_deadline.name == "payment_hold_renewal"
    assert view.next_deadline.due_at - view.payments[0].at == RENEWED_AFTER
    await dealer.sleep(timedelta(days=8))
    view = await dealer.view(order)
    assert [a.amount for a in dealer.fakes.authorisations] == [12000, 12000]
    assert [r.payment_intent_id for r in dealer.fakes.releases] == ["pi_auth_1"]
    assert view.amount_held == 12000 and not view.needs_attention
    view = await dealer.act(order, "mark_shipped")
    assert [c.payment_intent_id for c in dealer.fakes.captures] == ["pi_auth_2"]
    assert view.amount_paid == 12000
