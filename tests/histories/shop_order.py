"""Scenarios of the shop order flow whose histories are recorded for replay."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from models.common import Role
from tests.histories.scenarios import Handle, Scenarios
from tests.support.fakes import DECLINE, FakeActivities, FakeSalesforce
from tests.support.harness import FlowHarness, Rejected
from tests.support.shop_order import PO, ShopHarness

C, S = Role.customer, Role.support
# The fake Salesforce of each recording run, by its FakeActivities (see extra_activities).
_SALESFORCE: dict[int, FakeSalesforce] = {}


def extra_activities(fakes: FakeActivities) -> list[Any]:
    """The fake Salesforce sync activity."""
    sf = _SALESFORCE[id(fakes)] = FakeSalesforce()
    return [sf.sync_order]


def _shop(h: FlowHarness) -> ShopHarness:
    return ShopHarness(h.env, h.task_queue, h.fakes, _SALESFORCE[id(h.fakes)])


async def card_order_to_completed(fh: FlowHarness) -> Handle:
    h = _shop(fh)
    order = await h.start()
    await h.settled(order, "in_process")
    await h.callback(order, "shipped", event_id="ship-1", tracking_number="T-1")
    # (Versions up to v3 sent the same callback again here; the order may be closed by
    # then, so the repeat raced the order's last effects.)
    await order.result()
    return order


async def outage_flagged_then_entered_by_hand(fh: FlowHarness) -> Handle:
    h = _shop(fh)
    h.sf.down = True
    order = await h.start(payment=PO)
    await h.settled(order, "order_placed")
    await h.sleep(timedelta(minutes=11))
    await h.act(order, "mark_entered", S, {"reference": "OPP-1"})
    await h.callback(order, "shipped")
    await order.result()
    return order


async def eval_price_change(fh: FlowHarness) -> Handle:
    h = _shop(fh)
    order = await h.start(kind="repair_eval")
    await h.settled(order, "awaiting_evaluation")
    await h.callback(order, "evaluation_complete", repair_price=23000)
    await h.callback(order, "quote_approved")
    view = await order.result()
    assert view.shop is not None and view.shop.replaced_by is not None
    replacement = h.env.client.get_workflow_handle(f"order-{view.shop.replaced_by}")
    await h.settled(replacement, "in_process")
    return order


async def declined_then_abandoned(fh: FlowHarness) -> Handle:
    h = _shop(fh)
    order = await h.start(payment={"method": "card", "payment_method": DECLINE})
    await h.sleep(timedelta(hours=1))
    with contextlib.suppress(Rejected):
        await h.act(order, "pay", C, {"payment_method": DECLINE})
    await h.sleep(timedelta(hours=72))
    await order.result()
    return order


async def quote_declined(fh: FlowHarness) -> Handle:
    h = _shop(fh)
    order = await h.start(kind="repair", amount=15000)
    await h.settled(order, "awaiting_customer_approval")
    await h.callback(order, "quote_declined", note="too expensive")
    await order.result()
    return order


SCENARIOS: Scenarios = {
    "card_order_to_completed": card_order_to_completed,
    "outage_flagged_then_entered_by_hand": outage_flagged_then_entered_by_hand,
    "eval_price_change": eval_price_change,
    "declined_then_abandoned": declined_then_abandoned,
    "quote_declined": quote_declined,
}
