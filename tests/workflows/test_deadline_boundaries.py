"""Each default window at its boundary: just before it, exactly at it, and just after.

The flows' own deadline tests check a window a minute either side; here each window's due
instant is checked to be exactly its start plus the window as the seed (or the README,
where the seed is silent) states it, nothing has fired a moment before it, the deadline has
fired once the clock reaches it exactly, and it does not fire again after it. The windows
are written out, not read from the policies (``tests/models/test_default_windows.py`` pins
the defaults themselves).

"A moment before" is derived from what reading the view costs on this machine right now:
the test server's clock runs in real time while the test reads, so a read that takes long
on a busy machine must start further from the deadline. For the same reason "exactly at"
is as exact as that clock allows: the deadline must have fired between its due instant and
the real time the test spent since moving the clock there (a timer set late by a few
seconds while the test waits for the expiry is not told apart from a slow machine; one set
a minute late fails the flows' own tests).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import WorkflowHandle

from models.common import Role
from models.orders import OrderView, PaymentKind
from tests.support.account_order import APPROVAL, AccountHarness
from tests.support.dealer_order import ON_ACCOUNT, DealerHarness
from tests.support.harness import FlowHarness
from tests.support.prepaid_service import PrepaidHarness
from tests.support.shop_order import ShopHarness

Handle = WorkflowHandle[Any, OrderView]
H = timedelta(hours=1)
DAY = timedelta(days=1)
SEC = timedelta(seconds=1)
C, P, S = Role.customer, Role.provider, Role.support


async def at_the_boundary(
    h: FlowHarness,
    order: Handle,
    name: str,
    began: datetime,
    window: timedelta,
    moved: Callable[[OrderView], bool],
) -> OrderView:
    """Check the deadline ``name`` is due ``window`` after ``began`` exactly; that a moment
    before it nothing fired, at it exactly it fired, and after it not again. The view after.
    """
    view = await h.view(order)
    assert view.next_deadline is not None and view.next_deadline.name == name, view.next_deadline
    due = view.next_deadline.due_at
    assert due - began == window, f"{name} is due {due - began} after it began, not {window}"
    # Just before: by a margin of what one read of the view takes here (at least a second).
    read = time.monotonic()
    await h.view(order)
    margin = max(SEC, 20 * timedelta(seconds=time.monotonic() - read))
    await h.sleep(due - margin - await h.now())
    before = await h.view(order)
    assert await h.now() < due, f"the view was read after {name} fell due (margin {margin})"
    assert not moved(before), f"{name} acted {margin} before it was due"
    assert name not in [f.name for f in before.deadlines_fired if f.due_at == due]
    # Exactly at: the clock moved to the due instant itself. The timer's workflow task may
    # still run when the sleep returns, and the clock runs on in real time meanwhile: the
    # deadline must have fired no later than the real time spent since the move began.
    moving = time.monotonic()
    await h.sleep(due - await h.now())
    at = await until_moved(h, order, moved, name)
    since_the_move = timedelta(seconds=time.monotonic() - moving)
    [fired] = [f for f in at.deadlines_fired if f.name == name and f.due_at == due]
    assert due <= fired.fired_at <= due + since_the_move, (fired, since_the_move)
    # Just after: nothing fires twice.
    await h.sleep(margin)
    after = await h.view(order)
    assert [f for f in after.deadlines_fired if f.name == name and f.due_at == due] == [fired]
    return after


async def until_moved(
    h: FlowHarness, order: Handle, moved: Callable[[OrderView], bool], name: str
) -> OrderView:
    """The view once ``moved`` holds (bounded: 30 s of real time only catch a hang)."""
    give_up = time.monotonic() + 30
    while not moved(view := await h.view(order)):
        assert time.monotonic() < give_up, f"{name} had not acted 30 s after it was due"
        await asyncio.sleep(0.02)
    return view


# ----- prepaid service (seed 003) --------------------------------------------------------


async def test_prepaid_confirmation_24_hours(harness: PrepaidHarness) -> None:
    order = await harness.start(starts_in=timedelta(days=4))
    began = (await harness.view(order)).created_at
    view = await at_the_boundary(
        harness, order, "confirmation", began, 24 * H, lambda v: v.status == "cancelled"
    )
    assert view.history[-1].reason == "not confirmed by the provider within 24 h"


async def test_prepaid_payment_12_hours(harness: PrepaidHarness) -> None:
    order = await harness.start(starts_in=timedelta(days=4))
    began = (await harness.to_payment(order)).history[-1].at
    await at_the_boundary(harness, order, "payment", began, 12 * H, lambda v: v.status != "payment")


async def test_prepaid_mark_done_72_hours_after_the_appointment(harness: PrepaidHarness) -> None:
    order = await harness.start(starts_in=timedelta(days=1), duration_minutes=60)
    view = await harness.to_execution(order)
    end = view.appointment.start + timedelta(minutes=60)
    await harness.sleep(end - await harness.now() + H)
    await at_the_boundary(
        harness, order, "mark_done", end, 72 * H, lambda v: v.status == "execution_confirmation"
    )


async def test_prepaid_execution_confirmation_5_days(harness: PrepaidHarness) -> None:
    order = await harness.start(starts_in=timedelta(days=1))
    view = await harness.to_execution(order)
    await harness.sleep(view.appointment.start - await harness.now() + 2 * H)
    began = (await harness.act(order, "mark_done", P)).history[-1].at
    await at_the_boundary(
        harness, order, "execution_confirmation", began, 5 * DAY, lambda v: v.status == "closed"
    )


async def test_prepaid_payout_14_days_after_closing(harness: PrepaidHarness) -> None:
    order = await harness.start(starts_in=timedelta(days=1))
    view = await harness.to_execution(order)
    await harness.sleep(view.appointment.start - await harness.now() + 2 * H)
    await harness.act(order, "mark_done", P)
    closed = await harness.act(order, "confirm_execution", C)
    assert closed.closed_at is not None
    await at_the_boundary(
        harness,
        order,
        "payout",
        closed.closed_at,
        14 * DAY,
        lambda v: v.payout is not None and v.payout.paid_at is not None,
    )


# ----- account order (README: the seed names no durations) -------------------------------


async def test_account_draft_expiry_30_days(account: AccountHarness) -> None:
    order = await account.start()
    began = (await account.view(order)).created_at
    await at_the_boundary(
        account, order, "draft_expiry", began, 30 * DAY, lambda v: v.status == "cancelled"
    )


async def test_account_approval_flag_after_3_days(account: AccountHarness) -> None:
    order = await account.start(APPROVAL)
    began = (await account.act(order, "place", C)).history[-1].at
    await at_the_boundary(account, order, "approval", began, 3 * DAY, lambda v: v.needs_attention)


async def test_account_completion_flag_after_3_days(account: AccountHarness) -> None:
    order = await account.start(APPROVAL)
    await account.act(order, "place", C)
    began = (await account.act(order, "approve", S)).history[-1].at
    await at_the_boundary(account, order, "completion", began, 3 * DAY, lambda v: v.needs_attention)


async def test_account_receipt_window_90_days(account: AccountHarness) -> None:
    order = await account.start()
    view = await account.act(order, "place", C)
    assert view.closed_at is not None
    view = await at_the_boundary(
        account,
        order,
        "receipt_window",
        view.closed_at,
        90 * DAY,
        lambda v: v.allowed_actions == {},
    )
    assert view.next_deadline is None


# ----- dealer order (README: the seed names no archive time) ------------------------------


async def test_dealer_archive_30_days_after_shipping(dealer: DealerHarness) -> None:
    order = await dealer.start(payment=ON_ACCOUNT)
    await dealer.confirmed(order)
    shipped = await dealer.act(order, "mark_shipped")
    await at_the_boundary(
        dealer, order, "archive", shipped.history[-1].at, 30 * DAY, lambda v: v.archived
    )


async def test_dealer_card_hold_renewed_after_6_5_days(dealer: DealerHarness) -> None:
    # Stripe keeps an uncaptured hold 7 days; the README renews it after 6.5.
    order = await dealer.start()
    view = await dealer.confirmed(order)
    held_at = view.payments[0].at

    def renewed(v: OrderView) -> bool:
        return sum(1 for p in v.payments if p.kind == PaymentKind.authorisation) == 2

    await at_the_boundary(dealer, order, "payment_hold_renewal", held_at, 6 * DAY + 12 * H, renewed)


# ----- shop order (README: 72 h without satisfactory payment) -----------------------------


async def test_shop_incomplete_order_72_hours(shop: ShopHarness) -> None:
    order = await shop.start(payment=None)
    began = (await shop.view(order)).created_at
    await at_the_boundary(shop, order, "payment", began, 72 * H, lambda v: v.status == "cancelled")
