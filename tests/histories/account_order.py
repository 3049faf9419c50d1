"""Scenarios of the account order flow whose histories are recorded for replay."""

from __future__ import annotations

from datetime import timedelta

from tests.histories.scenarios import Handle, Scenarios
from tests.support.account_order import APPROVAL, AccountHarness, C, S
from tests.support.harness import FlowHarness

DAY = timedelta(days=1)


def _account(h: FlowHarness) -> AccountHarness:
    return AccountHarness(h.env, h.task_queue, h.fakes)


async def approved_completed_with_receipts(fh: FlowHarness) -> Handle:
    h = _account(fh)
    order = await h.start(APPROVAL)
    await h.act(order, "edit", C, {"notes": "call first", "payment_method": "card"})
    await h.act(order, "place", C)
    await h.sleep(4 * DAY)  # flagged: waiting for approval
    await h.act(order, "approve", S, {"note": "credit checked"})
    await h.act(order, "complete", S)
    await h.act(order, "send_email_receipt", S)
    await h.act(order, "reprint_receipt", C)
    await h.sleep(91 * DAY)
    await order.result()
    return order


async def returned_then_cancelled(fh: FlowHarness) -> Handle:
    h = _account(fh)
    order = await h.start(APPROVAL)
    await h.act(order, "place", S)
    await h.act(order, "return_to_draft", S, {"reason": "wrong address"})
    await h.act(order, "cancel", C, {"reason": "not needed"})
    await order.result()
    return order


async def abandoned_draft(fh: FlowHarness) -> Handle:
    h = _account(fh)
    order = await h.start()
    await h.sleep(31 * DAY)
    await order.result()
    return order


async def placed_without_approval(fh: FlowHarness) -> Handle:
    h = _account(fh)
    order = await h.start()
    await h.act(order, "place", C)
    await h.sleep(91 * DAY)
    await order.result()
    return order


SCENARIOS: Scenarios = {
    "approved_completed_with_receipts": approved_completed_with_receipts,
    "returned_then_cancelled": returned_then_cancelled,
    "abandoned_draft": abandoned_draft,
    "placed_without_approval": placed_without_approval,
}
