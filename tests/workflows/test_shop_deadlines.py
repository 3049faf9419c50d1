"""Every deadline and timer of the shop flow, on time-skipping servers of their own."""

from __future__ import annotations

import time
from datetime import timedelta

from flows.shop_order.policy import ShopPolicy
from models.common import Role
from models.orders import PaymentKind
from tests.support.shop_order import MIN, ShopHarness

S = Role.support
SEC = timedelta(seconds=1)
DOWN = "SalesforceUnavailable: Salesforce is unreachable: connection refused"


def real_time_since(began: float) -> timedelta:
    """Wall-clock time since ``began`` (monotonic): how far the test server's clock may have
    run on by itself (it skips only while a test sleeps, and runs in real time otherwise)."""
    return timedelta(seconds=time.monotonic() - began)


async def test_patience_flags_the_order_and_a_late_sync_clears_it(shop: ShopHarness) -> None:
    shop.sf.down = True
    began = time.monotonic()
    order = await shop.start()
    view = await shop.settled(order, "order_placed")
    placed_at = next(t.at for t in view.history if t.to_status == "order_placed")
    patience_ends = placed_at + 10 * MIN
    # Just before the patience ends, by a margin of what reading the view costs here.
    read = time.monotonic()
    await shop.view(order)
    margin = max(2 * SEC, 20 * real_time_since(read))
    # Attempts at 0, 1, 3 and 7 minutes (pauses of 1, 2, 4 minutes, doubling).
    await shop.sleep(patience_ends - margin - await shop.now())
    view = await shop.view(order)
    assert await shop.now() < patience_ends, f"the view was read after the patience ({margin})"
    assert view.status == "order_placed" and not view.needs_attention
    assert view.shop is not None
    sync = view.shop.salesforce
    assert (sync.state, sync.attempts, sync.last_error) == ("pending", 4, DOWN)
    assert sync.next_attempt_at is not None
    # Each pause starts when an attempt has failed: later by the attempts' real time.
    fifth_attempt = placed_at + 15 * MIN
    assert fifth_attempt <= sync.next_attempt_at <= fifth_attempt + real_time_since(began)
    assert view.next_deadline is not None
    assert view.next_deadline.name == "salesforce_sync"
    assert view.next_deadline.due_at == patience_ends

    await shop.sleep(patience_ends + SEC - await shop.now())
    view = await shop.until(order, lambda v: v.needs_attention, "flagged after its patience")
    assert view.attention_reason == (
        f"not in Salesforce 10 min after it was placed ({DOWN}); enter it in Salesforce by "
        "hand and mark it entered (mark_entered); the sync keeps retrying"
    )
    assert view.next_deadline is not None and view.next_deadline.name == "salesforce_retry"
    assert len(shop.sf.calls_for(view.order_id)) == 4

    # Salesforce is back: the retry at 15 minutes syncs, moves the order on, clears the flag.
    shop.sf.down = False
    await shop.sleep(5 * MIN)
    view = await shop.settled(order, "in_process")
    assert not view.needs_attention and view.attention_reason is None
    assert view.shop is not None and view.shop.salesforce.state == "synced"
    assert view.history[-1].reason == (
        f"in Salesforce: Opportunity 006-{view.order_id}, Order 801-{view.order_id} (attempt 5)"
    )
    assert view.next_deadline is not None
    assert view.next_deadline.name == "payment_hold_renewal"


async def test_retry_pause_doubles_up_to_its_cap(shop: ShopHarness) -> None:
    shop.sf.down = True
    policy = ShopPolicy(sync_retry_initial=MIN, sync_retry_max=10 * MIN)
    order = await shop.start(
        payment={"method": "purchase_order", "po_number": "PO-1"}, policy=policy
    )
    await shop.settled(order, "order_placed")
    pauses = []
    began = time.monotonic()
    for attempt in range(1, 7):
        sync = await shop.failed_attempt(order, attempt)
        assert sync.next_attempt_at is not None and sync.last_attempt_at is not None
        pauses.append(sync.next_attempt_at - sync.last_attempt_at)
        await shop.sleep(sync.next_attempt_at - await shop.now() + SEC)
    # Each pause starts when its attempt has failed; the server's clock also runs in real
    # time while an attempt runs, so a pause may look longer by at most that.
    expected = [timedelta(seconds=s) for s in (60, 120, 240, 480, 600, 600)]
    slack = real_time_since(began)
    assert all(e <= p <= e + slack for p, e in zip(pauses, expected, strict=True)), pauses
    view = await shop.view(order)
    assert view.status == "order_placed" and view.needs_attention
    assert view.shop is not None and view.shop.salesforce.attempts == 7


async def test_entered_manually_clears_the_flag_and_stops_the_sync(shop: ShopHarness) -> None:
    shop.sf.down = True
    order = await shop.start(kind="repair_eval")
    await shop.sleep(11 * MIN)
    assert (await shop.view(order)).needs_attention
    calls = len(shop.sf.calls)

    view = await shop.act(order, "mark_entered", S, {"reference": "OPP-77", "note": "typed in"})
    assert view.status == "awaiting_evaluation"
    assert not view.needs_attention and view.next_deadline is None
    assert view.history[-1].reason == "entered in Salesforce by hand as OPP-77: typed in"
    assert view.shop is not None
    assert (view.shop.salesforce.state, view.shop.salesforce.reference) == (
        "entered_manually",
        "OPP-77",
    )
    shop.sf.down = False
    await shop.sleep(2 * 60 * MIN)
    assert len(shop.sf.calls) == calls, "the sync went on after a CSR entered the order"
    assert (await shop.view(order)).status == "awaiting_evaluation"


async def test_incomplete_order_is_cancelled_after_its_window(shop: ShopHarness) -> None:
    order = await shop.start(payment=None)
    view = await shop.view(order)
    assert view.next_deadline is not None and view.next_deadline.name == "payment"
    assert view.next_deadline.due_at == view.created_at + timedelta(hours=72)
    await shop.sleep(timedelta(hours=72) - MIN)
    assert (await shop.view(order)).status == "incomplete"
    await shop.sleep(2 * MIN)
    final = await order.result()
    assert final.status == "cancelled"
    assert final.history[-1].actor.role == Role.system
    assert final.history[-1].reason == "no satisfactory payment within 72 h"
    assert shop.sf.calls == []


async def test_hold_is_renewed_while_the_quote_waits(shop: ShopHarness) -> None:
    order = await shop.start(kind="repair", amount=15000)
    await shop.settled(order, "awaiting_customer_approval")
    await shop.sleep(timedelta(days=7))
    view = await shop.view(order)
    kinds = [p.kind for p in view.payments]
    assert kinds == [PaymentKind.authorisation, PaymentKind.authorisation, PaymentKind.release]
    assert view.amount_held == 15000 and not view.needs_attention
    result = await shop.callback(order, "quote_approved")
    assert result.status == "in_process"
