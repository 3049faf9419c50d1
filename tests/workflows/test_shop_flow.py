"""The shop order's paths from checkout to completed or cancelled, on the time-skipping server."""

from __future__ import annotations

import pytest

from models import errors
from models.common import Role
from models.orders import OrderView, PaymentKind, PaymentOutcome
from tests.support.fakes import DECLINE
from tests.support.harness import Rejected
from tests.support.shop_order import PO, ShopHarness

C, S = Role.customer, Role.support


async def test_card_order_is_authorised_synced_shipped_and_captured(shop: ShopHarness) -> None:
    order = await shop.start(amount=4900)
    view = await shop.settled(order, "in_process")
    assert view.amount_held == 4900 and view.amount_paid == 0
    assert view.shop is not None
    sync = view.shop.salesforce
    assert (sync.state, sync.attempts, sync.record_type) == ("synced", 1, "Order")
    assert sync.opportunity_id == f"006-{view.order_id}"
    [call] = shop.sf.calls_for(view.order_id)
    assert (call.stage, call.amount_total, call.payment_method) == ("Closed Won", 4900, "card")
    assert [(t.action, t.to_status) for t in view.history] == [
        ("create", "incomplete"),
        ("pay", "order_placed"),
        ("salesforce_sync", "in_process"),
    ]
    assert view.history[-1].actor.id == "salesforce"

    result = await shop.callback(order, "shipped", carrier="DHL", tracking_number="JD0001")
    assert (result.outcome, result.status) == ("applied", "completed")
    final = await order.result()
    assert final.amount_paid == 4900 and final.amount_held == 0
    assert final.shop is not None and final.shop.shipment is not None
    assert final.shop.shipment.tracking_number == "JD0001"
    assert [p.kind for p in final.payments] == [PaymentKind.authorisation, PaymentKind.capture]
    assert final.payments[0].idempotency_key == f"{final.order_id}:authorise:1"
    for event in ("placed", "shipped"):
        [mail] = await shop.mail(final.order_id, event)
        assert mail.to_address == "sam@example.com"


async def test_purchase_order_awaits_payment_and_is_invoiced_after_shipping(
    shop: ShopHarness,
) -> None:
    order = await shop.start(payment=PO)
    view = await shop.settled(order, "awaiting_payment")
    assert view.payments == [] and view.shop is not None
    assert view.shop.po_number == "PO-4711"
    assert shop.fakes.authorisations == []
    assert shop.sf.calls_for(view.order_id)[0].po_number == "PO-4711"
    await shop.callback(order, "shipped")
    final = await order.result()
    assert final.status == "completed"
    [invoice] = final.payments
    assert (invoice.kind, invoice.amount) == (PaymentKind.invoice, 4900)
    assert invoice.failure_reason == "purchase order PO-4711: invoice after shipping"


async def test_declined_card_stays_incomplete_until_the_customer_pays_again(
    shop: ShopHarness,
) -> None:
    order = await shop.start(payment={"method": "card", "payment_method": DECLINE})
    view = await shop.until(order, lambda v: bool(v.payments), "declined")
    assert view.status == "incomplete"
    assert view.payments[0].outcome == PaymentOutcome.declined
    assert view.history[-1].reason == "payment declined: Your card was declined."
    assert await shop.mail(view.order_id, "payment_failed")
    assert shop.sf.calls == [], "an incomplete order was sent to Salesforce"

    with pytest.raises(Rejected) as refused:
        await shop.act(order, "pay", C, {"payment_method": DECLINE})
    assert refused.value.kind == errors.PAYMENT_DECLINED
    view = await shop.act(order, "pay", C, {"po_number": "PO-9"})
    assert view.status == "order_placed"
    await shop.settled(order, "awaiting_payment")


async def test_order_without_payment_is_placed_by_pay(shop: ShopHarness) -> None:
    order = await shop.start(payment=None)
    view = await shop.view(order)
    assert view.status == "incomplete"
    assert view.allowed_actions[C] == ["pay"]
    view = await shop.act(order, "pay", C, {"payment_method": "pm_card_visa"})
    assert (view.status, view.amount_held) == ("order_placed", 4900)
    await shop.settled(order, "in_process")


async def test_priced_repair_waits_for_the_quote_then_goes_in_process(shop: ShopHarness) -> None:
    order = await shop.start(kind="repair", amount=15000)
    view = await shop.settled(order, "awaiting_customer_approval")
    assert view.shop is not None and view.shop.quoted_amount == 15000
    assert view.shop.salesforce.record_type == "Quote"
    [mail] = await shop.mail(view.order_id, "quote_ready")
    assert mail.context["quote_amount"] == "150.00 EUR"
    result = await shop.callback(order, "quote_approved")
    assert result.status == "in_process"


async def test_declined_quote_cancels_and_releases_the_hold(shop: ShopHarness) -> None:
    order = await shop.start(kind="repair", amount=15000)
    await shop.settled(order, "awaiting_customer_approval")
    await shop.callback(order, "quote_declined", note="too expensive")
    final = await order.result()
    assert final.status == "cancelled"
    assert final.history[-1].reason == "the customer declined the repair quote: too expensive"
    assert final.amount_held == 0
    assert [r.payment_intent_id for r in shop.fakes.releases] == ["pi_auth_1"]


async def test_eval_price_change_cancels_and_starts_the_priced_order(shop: ShopHarness) -> None:
    order = await shop.start(kind="repair_eval")
    view = await shop.settled(order, "awaiting_evaluation")
    assert shop.fakes.authorisations == [], "a zero-price EVAL was authorised"
    assert view.shop is not None and view.shop.salesforce.record_type == "Quote"
    assert shop.sf.calls_for(view.order_id)[0].stage == "Needs Analysis"

    # Not before the evaluation: Salesforce learns that the approval does not apply yet.
    with pytest.raises(Rejected) as refused:
        await shop.callback(order, "quote_approved")
    assert refused.value.message == (
        "quote_approved does not apply to an order in awaiting_evaluation "
        "(only in awaiting_customer_approval)"
    )
    await shop.callback(order, "evaluation_complete", repair_price=23000, currency="EUR")
    view = await shop.view(order)
    assert view.status == "awaiting_customer_approval"
    assert view.shop is not None and view.shop.quoted_amount == 23000
    assert (await shop.mail(view.order_id, "quote_ready"))[0].context["quote_amount"] == (
        "230.00 EUR"
    )

    await shop.callback(order, "quote_approved", event_id="approve-1")
    old = await order.result()
    new_id = f"{old.order_id}-r1"
    assert (old.status, old.history[-1].reason) == ("cancelled", "price changed")
    assert old.shop is not None and old.shop.replaced_by == new_id
    [cancelled_mail] = await shop.mail(old.order_id, "cancelled")
    assert cancelled_mail.context["reason"].startswith(
        f"price changed: your repair continues as order {new_id}"
    )

    new = shop.env.client.get_workflow_handle(f"order-{new_id}")
    priced = await shop.settled(new, "in_process")
    assert priced.shop is not None and priced.shop.replaces == old.order_id
    assert priced.shop.kind == "repair" and priced.amount_total == 23000
    assert priced.customer == old.customer
    assert [i.name for i in priced.items] == ["Pump evaluation"]
    assert priced.amount_held == 23000
    assert shop.fakes.authorisations[-1].idempotency_key == f"{new_id}:authorise:1"
    # The approved quote is not asked for again: the priced order goes to Salesforce as an Order.
    assert shop.sf.calls_for(new_id)[0].record_type == "Order"
    assert priced.history[0].actor.id == "salesforce"


async def test_duplicate_callback_is_applied_once(shop: ShopHarness) -> None:
    # The duplicate is of an event that leaves the order open: a repeat of the event that
    # completes it may find the workflow closed already (the API then answers 409 with how
    # the order closed), so the test of it raced the order's last effects.
    order = await shop.start(kind="repair_eval")
    await shop.settled(order, "awaiting_evaluation")
    price = {"repair_price": 23000, "currency": "EUR"}
    first = await shop.callback(order, "evaluation_complete", event_id="sf-evt-1", **price)
    again = await shop.callback(order, "evaluation_complete", event_id="sf-evt-1", **price)
    assert (first.outcome, again.outcome) == ("applied", "duplicate")
    view = await shop.view(order)
    assert view.status == "awaiting_customer_approval"
    assert [t.action for t in view.history].count("evaluation_complete") == 1
    # One shipment captures once, however it is told.
    paid = await shop.start()
    await shop.settled(paid, "in_process")
    shipped = await shop.callback(paid, "shipped", event_id="sf-evt-2")
    assert shipped.outcome == "applied"
    final = await paid.result()
    assert [p.kind for p in final.payments].count(PaymentKind.capture) == 1
    assert [t.action for t in final.history].count("shipped") == 1


async def test_support_cancels_with_reason_and_releases_the_hold(shop: ShopHarness) -> None:
    order = await shop.start()
    await shop.settled(order, "in_process")
    await shop.act(order, "cancel", S, {"reason": "out of stock"})
    final = await order.result()
    assert (final.status, final.history[-1].reason) == ("cancelled", "out of stock")
    assert final.amount_held == 0 and final.payments[-1].kind == PaymentKind.release
    [mail] = await shop.mail(final.order_id, "cancelled")
    assert mail.context["reason"] == "out of stock"


async def test_an_attempt_running_when_a_csr_acts_only_records_its_ids(shop: ShopHarness) -> None:
    shop.sf.delay = 1.0
    entered = await shop.start(kind="repair")
    cancelled = await shop.start()

    def running(view: OrderView) -> bool:
        return view.shop is not None and view.shop.salesforce.attempts == 1

    await shop.until(entered, running, "syncing")
    await shop.until(cancelled, running, "syncing")
    view = await shop.act(entered, "mark_entered", S, {"reference": "Q-1"})
    assert view.status == "awaiting_customer_approval"
    await shop.act(cancelled, "cancel", S, {"reason": "duplicate order"})
    final = await cancelled.result()
    assert final.shop is not None and final.shop.salesforce.state == "stopped"

    # The attempt ends later: its ids are kept, the order does not move again.
    view = await shop.until(
        entered,
        lambda v: v.shop is not None and v.shop.salesforce.opportunity_id is not None,
        "the late attempt's ids",
    )
    assert view.status == "awaiting_customer_approval"
    assert view.shop is not None and view.shop.salesforce.state == "entered_manually"
    assert [t.action for t in view.history].count("mark_entered") == 1
    assert "salesforce_sync" not in [t.action for t in view.history]
