"""The deadline wins: an action its deadline has closed is refused, however messages arrive.

The race: the worker is down when a deadline passes, then an action arrives. When a worker
comes back, the timer's firing and the action reach the workflow in one workflow task, and
the action's handler runs first. Each test stops the worker before the deadline, lets the
deadline pass, sends the action (it waits at the server), starts a worker, and checks that
the action is refused with the deadline's name and time, that nothing was charged or sent
for it, and that the expiry happened exactly once.

These run on a real dev server with windows of seconds: the time-skipping server does not
move its clock past a fired timer while no worker takes the task it creates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from flows.account_order.policy import AccountPolicy
from flows.charge_box_installation.policy import InstallationPolicy
from flows.dealer_order.policy import DealerPolicy
from flows.prepaid_service.policy import PrepaidPolicy
from flows.shop_order.policy import ShopPolicy
from models import errors
from models.common import Role
from models.orders import OrderView
from tests.support.account_order import AccountHarness
from tests.support.charge_box_installation import InstallationFakes, InstallationHarness
from tests.support.dealer_order import DealerHarness
from tests.support.fakes import FakeActivities, FakeSalesforce
from tests.support.harness import FlowHarness, Rejected, flow_worker
from tests.support.prepaid_service import PrepaidHarness
from tests.support.shop_order import ShopHarness

Handle = WorkflowHandle[Any, OrderView]
C, P, S = Role.customer, Role.provider, Role.support
# Long enough to start an order and stop its worker on a busy machine, short to wait out.
WINDOW = timedelta(seconds=5)


async def refused_after(
    h: FlowHarness,
    due: datetime,
    act: Callable[[], Awaitable[OrderView]],
    extra: Sequence[Any] = (),
) -> Rejected:
    """With the worker stopped before ``due``: pass it, act, start a worker; the refusal."""
    left = (due - await h.now()).total_seconds()
    assert left > 0, f"the worker stopped {-left:.1f} s after the deadline: machine too slow"
    await asyncio.sleep(left + 1)
    pending = asyncio.create_task(act())
    # The action now waits at the server, beside the timer that fired.
    await asyncio.sleep(0.5)
    assert not pending.done(), "the action was answered without a worker"
    async with flow_worker(h.env, h.task_queue, [*h.fakes.all(), *extra]):
        with pytest.raises(Rejected) as refused:
            await asyncio.wait_for(pending, timeout=30)
    return refused.value


async def result(h: FlowHarness, order: Handle, extra: Sequence[Any] = ()) -> OrderView:
    async with flow_worker(h.env, h.task_queue, [*h.fakes.all(), *extra]):
        return await asyncio.wait_for(order.result(), timeout=30)


def fired(view: OrderView, name: str) -> int:
    return sum(1 for d in view.deadlines_fired if d.name == name)


def deadline(view: OrderView, name: str) -> datetime:
    assert view.next_deadline is not None and view.next_deadline.name == name
    return view.next_deadline.due_at


# ----- prepaid service -------------------------------------------------------------------

SHORT = PrepaidPolicy(confirm_window=WINDOW, same_day_confirm_window=WINDOW, payment_window=WINDOW)


async def test_pay_after_the_payment_window_is_refused_and_the_order_cancelled(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    h = PrepaidHarness(dev_env, task_queue, FakeActivities())
    async with flow_worker(h.env, h.task_queue, h.fakes.all()):
        order = await h.start(policy=SHORT)
        confirmed = await h.to_payment(order)
    due = deadline(confirmed, "payment")
    assert due == confirmed.history[-1].at + WINDOW

    refusal = await refused_after(h, due, lambda: h.act(order, "pay", C))

    assert refusal.kind == errors.NOT_ALLOWED
    assert refusal.message.startswith("the payment deadline passed at ")
    assert "UTC)" in refusal.message and "cancelled" in refusal.message
    final = await result(h, order)
    assert final.status == "cancelled"
    assert final.history[-1].reason.startswith("not paid within")  # type: ignore[union-attr]
    assert fired(final, "payment") == 1
    assert h.fakes.charges == []
    assert h.fakes.emails_for(final.order_id, "paid") == []
    assert len(h.fakes.emails_for(final.order_id, "cancelled")) == 2
    # The closed order's view says how and when it closed.
    assert final.closure is not None
    assert final.closure.startswith("the order is cancelled: its payment deadline passed at ")


async def test_confirm_after_the_confirmation_window_is_refused(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    h = PrepaidHarness(dev_env, task_queue, FakeActivities())
    async with flow_worker(h.env, h.task_queue, h.fakes.all()):
        order = await h.start(policy=SHORT)
        view = await h.view(order)
    due = deadline(view, "confirmation")

    refusal = await refused_after(h, due, lambda: h.act(order, "confirm", P))

    assert refusal.message.startswith("the confirmation deadline passed at ")
    final = await result(h, order)
    assert (final.status, fired(final, "confirmation")) == ("cancelled", 1)
    assert h.fakes.emails_for(final.order_id, "confirmed") == []


# ----- charge box installation -----------------------------------------------------------


async def test_cancel_at_the_scheduled_time_loses_to_the_fulfilment(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    h = InstallationHarness(dev_env, task_queue, InstallationFakes())
    async with flow_worker(h.env, h.task_queue, h.fakes.all()):
        order = await h.start(policy=InstallationPolicy())
        at = await h.in_(WINDOW)
        await h.schedule(order, at)

    refusal = await refused_after(
        h, at, lambda: h.act(order, "cancel", S, {"reason": "customer called"})
    )

    assert refusal.message.startswith("the scheduled fulfilment deadline passed at ")
    async with flow_worker(h.env, h.task_queue, h.fakes.all()):
        final = await h.view(order)
        for _ in range(100):
            if final.status == "fulfilled":
                break
            await asyncio.sleep(0.1)
            final = await h.view(order)
    assert final.status == "fulfilled"
    assert fired(final, "scheduled_fulfilment") == 1
    assert len(h.fakes.charges) == 1


# ----- shop order ------------------------------------------------------------------------


async def test_pay_after_the_shop_payment_window_is_refused(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    sf = FakeSalesforce()
    h = ShopHarness(dev_env, task_queue, FakeActivities(), sf)
    async with flow_worker(h.env, h.task_queue, [*h.fakes.all(), sf.sync_order]):
        order = await h.start(payment=None, policy=ShopPolicy(incomplete_window=WINDOW))
        view = await h.view(order)
    due = deadline(view, "payment")

    card = {"payment_method": "pm_card_visa"}
    refusal = await refused_after(
        h, due, lambda: h.act(order, "pay", C, card), extra=[sf.sync_order]
    )

    assert refusal.message.startswith("the payment deadline passed at ")
    final = await result(h, order, [sf.sync_order])
    assert (final.status, fired(final, "payment")) == ("cancelled", 1)
    assert h.fakes.authorisations == []


# ----- account order ---------------------------------------------------------------------


async def test_place_after_the_draft_expired_is_refused(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    h = AccountHarness(dev_env, task_queue, FakeActivities())
    async with flow_worker(h.env, h.task_queue, h.fakes.all()):
        order = await h.start(policy=AccountPolicy(draft_expiry=WINDOW))
        view = await h.view(order)
    due = deadline(view, "draft_expiry")

    refusal = await refused_after(h, due, lambda: h.act(order, "place", C))

    assert refusal.message.startswith("the draft expiry deadline passed at ")
    final = await result(h, order)
    assert (final.status, fired(final, "draft_expiry")) == ("cancelled", 1)


# ----- dealer order ----------------------------------------------------------------------


async def test_refund_after_the_archive_deadline_is_refused(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    h = DealerHarness(dev_env, task_queue, FakeActivities())
    async with flow_worker(h.env, h.task_queue, h.fakes.all()):
        order = await h.start(policy=DealerPolicy(archive_after=WINDOW))
        await h.confirmed(order)
        shipped = await h.act(order, "mark_shipped")
    assert shipped.status == "shipped"
    due = deadline(shipped, "archive")

    refusal = await refused_after(h, due, lambda: h.act(order, "refund", S, {"reason": "returned"}))

    assert refusal.message.startswith("the archive deadline passed at ")
    final = await result(h, order)
    assert (final.status, final.archived, fired(final, "archive")) == ("shipped", True, 1)
    assert h.fakes.refunds == []
