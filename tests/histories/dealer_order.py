"""Scenarios of the dealer order flow whose histories are recorded for replay."""

from __future__ import annotations

from datetime import timedelta

from models.common import Role
from tests.histories.scenarios import Handle, Scenarios
from tests.support.dealer_order import ON_ACCOUNT, DealerHarness, card
from tests.support.fakes import DECLINE
from tests.support.harness import FlowHarness

S = Role.support
CLOSES = timedelta(days=31)  # past archive_after: the workflow ends


def _dealer(h: FlowHarness) -> DealerHarness:
    return DealerHarness(h.env, h.task_queue, h.fakes)


async def card_captured_shipped_refunded(fh: FlowHarness) -> Handle:
    h = _dealer(fh)
    order = await h.start()
    await h.confirmed(order)
    await h.act(order, "capture_payment")
    await h.act(order, "mark_shipped")
    await h.act(order, "refund")
    await h.act(order, "archive")
    await h.sleep(CLOSES)
    await order.result()
    return order


async def confirmation_failed_then_shipped_on_account(fh: FlowHarness) -> Handle:
    h = _dealer(fh)
    order = await h.start(payment=ON_ACCOUNT)
    await h.act(order, "accept")
    await h.sleep(timedelta(days=10))  # past any 1-business-day deadline
    await h.act(order, "confirm")
    await h.act(order, "mark_shipped")
    await h.sleep(CLOSES)
    await order.result()
    return order


async def declined_at_placement(fh: FlowHarness) -> Handle:
    h = _dealer(fh)
    order = await h.start(payment=card(DECLINE))
    await h.sleep(CLOSES)
    await order.result()
    return order


async def hold_renewed_then_cancelled(fh: FlowHarness) -> Handle:
    h = _dealer(fh)
    order = await h.start()
    await h.act(order, "accept")
    await h.sleep(timedelta(days=8))  # the failure message, then the hold's renewal
    await h.act(order, "cancel", S)
    await h.act(order, "archive")
    await h.act(order, "unarchive", S)
    await h.sleep(CLOSES)
    await order.result()
    return order


SCENARIOS: Scenarios = {
    "card_captured_shipped_refunded": card_captured_shipped_refunded,
    "confirmation_failed_then_shipped_on_account": confirmation_failed_then_shipped_on_account,
    "declined_at_placement": declined_at_placement,
    "hold_renewed_then_cancelled": hold_renewed_then_cancelled,
}
