"""Scenarios of the prepaid service flow whose histories are recorded for replay."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from models.common import Role
from tests.histories.scenarios import Handle, Scenarios
from tests.support.fakes import DECLINE
from tests.support.harness import FlowHarness, Rejected
from tests.support.prepaid_service import PrepaidHarness

H = timedelta(hours=1)
C, P, S = Role.customer, Role.provider, Role.support


def _prepaid(h: FlowHarness) -> PrepaidHarness:
    return PrepaidHarness(h.env, h.task_queue, h.fakes)


async def lifecycle_to_payout(fh: FlowHarness) -> Handle:
    h = _prepaid(fh)
    order = await h.start(starts_in=timedelta(days=2))
    await h.act(order, "edit", P, {"duration_minutes": 90, "comment": "longer"})
    await h.act(order, "confirm", C)
    with contextlib.suppress(Rejected):
        await h.act(order, "pay", C, {"payment_method": DECLINE})
    await h.act(order, "pay", C)
    later = await h.now() + timedelta(days=2, hours=2)
    await h.act(order, "edit", P, {"start": later.isoformat()})
    await h.act(order, "confirm", C)
    await h.sleep(timedelta(days=2, hours=4))
    await h.act(order, "mark_done", P)
    await h.act(order, "confirm_execution", C)
    await h.act(order, "review", C, {"rating": 5, "text": "great"})
    await h.sleep(timedelta(days=15))
    await order.result()
    return order


async def cancelled_by_deadline(fh: FlowHarness) -> Handle:
    h = _prepaid(fh)
    order = await h.start(starts_in=timedelta(days=2))
    await h.sleep(25 * H)
    await order.result()
    return order


async def claim_with_partial_refund(fh: FlowHarness) -> Handle:
    h = _prepaid(fh)
    order = await h.start(starts_in=2 * H)
    await h.to_execution(order)
    await h.sleep(80 * H)  # auto mark-done after 72 h past the end
    await h.act(order, "open_claim", C, {"reason": "half done"})
    await h.act(order, "resolve_claim", S, {"outcome": "partial_refund", "amount": 5000})
    await h.sleep(timedelta(days=15))
    await order.result()
    return order


async def customer_cancels_late(fh: FlowHarness) -> Handle:
    h = _prepaid(fh)
    order = await h.start(starts_in=30 * H)
    await h.to_execution(order)
    await h.sleep(10 * H)
    await h.act(order, "cancel", C, {"reason": "sick"})
    await order.result()
    return order


async def unpaid_cancelled_by_deadline(fh: FlowHarness) -> Handle:
    h = _prepaid(fh)
    order = await h.start(starts_in=timedelta(days=2))
    await h.to_payment(order)
    await h.sleep(13 * H)
    await order.result()
    return order


SCENARIOS: Scenarios = {
    "lifecycle_to_payout": lifecycle_to_payout,
    "cancelled_by_deadline": cancelled_by_deadline,
    "claim_with_partial_refund": claim_with_partial_refund,
    "customer_cancels_late": customer_cancels_late,
    "unpaid_cancelled_by_deadline": unpaid_cancelled_by_deadline,
}
