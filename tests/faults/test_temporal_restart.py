"""The Temporal server stops with open orders waiting on deadlines, and the deadlines pass
while it is down: after a restart on the same SQLite file every deadline fires exactly once
and no order is lost.

Each order pins a confirmation window (``PrepaidPolicy.confirm_window``, what
``ORDERCLOCK_PREPAID__CONFIRM_WINDOW`` sets) of a few seconds, chosen so that all of them
end at the same moment. The server is stopped once every order waits on nothing but its
timer (its emails sent and recorded in the order database), kept down until the deadlines
have passed, then started again on the same file and port; the worker process keeps running
throughout and reconnects by itself. First stopped (SIGTERM) with 50 orders, then killed
(SIGKILL) with 20 more on the same file.

The window is as short as the machine allows: a first guess from the number of orders, and
when the orders were not at rest before it ended (a busy machine), a new batch with a
window twice what the last one needed.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from api.errors import Unavailable
from flows.prepaid_service.policy import PrepaidPolicy
from models.common import SYSTEM
from models.ids import order_workflow_id
from models.orders import OrderView
from tests.faults.prepaid import order_id, prepaid_request
from tests.fixtures.stack import FaultStack, Part, until

STARTS_AT_ONCE = 10
# The first window each order gets: enough for these machines to start and settle the orders
# when quiet. A busier machine shows it by not settling in time, and the outage is tried
# again with a window derived from what it measured (so no fixed margin can fail the test).
SECONDS_PER_ORDER = 0.1
BASE_WINDOW = timedelta(seconds=4)
ATTEMPTS = 4
# The slowest outage accepted: orders that take longer than this to come to rest mean
# something is broken rather than busy.
LONGEST_WINDOW = timedelta(minutes=3)


async def test_deadlines_fire_once_after_the_server_was_stopped_and_killed(
    fault_stack: FaultStack,
) -> None:
    stack = fault_stack
    temporal, _ = await asyncio.gather(stack.start_temporal(), stack.start_smtp())
    await stack.start_worker()
    temporal, first = await outage(stack, temporal, signal.SIGTERM, 50)
    # Then killed, on the same file, with 20 more orders.
    _, second = await outage(stack, temporal, signal.SIGKILL, 20)

    # The read model agrees: every order is there, cancelled once (orders of an outage that
    # was tried again included: their deadlines fired with the server up).
    started = first + second
    with stack.engine.connect() as db:
        rows = db.execute(sa.text("select status, count(*) from orders group by status")).all()
        cancels = db.execute(
            sa.text(
                "select count(*) from transitions where action = 'cancel' and actor_role = 'system'"
            )
        ).scalar_one()
    assert [tuple(row) for row in rows] == [("cancelled", len(started))]
    assert cancels == len(started)


async def outage(
    stack: FaultStack, temporal: Part, stop: signal.Signals, orders: int
) -> tuple[Part, list[str]]:
    """Start ``orders`` orders due at one moment, stop the server with ``stop`` until they are
    due, restart it; check each deadline fired once. The restarted server and every order
    started (those of attempts that were too slow to stop the server before the deadline
    included: they must have been cancelled once all the same)."""
    window = BASE_WINDOW + orders * timedelta(seconds=SECONDS_PER_ORDER)
    started: list[str] = []
    for _ in range(ATTEMPTS):
        ids, dues, rested = await start_until_at_rest(stack, orders, window)
        started += ids
        if rested:
            break
        # They needed more than the whole window: twice that, next time.
        window = min(2 * window, LONGEST_WINDOW)
    else:
        raise AssertionError(f"{orders} orders did not come to rest within {window}")

    temporal.kill(stop)
    await asyncio.sleep((max(dues) - datetime.now(UTC)).total_seconds() + 1)
    restarted = await stack.start_temporal()  # same SQLite file, same port

    client = await stack.client()
    handles = [client.get_workflow_handle(order_workflow_id(oid)) for oid in started]
    # No order lost: each one's workflow completes, its deadline having fired exactly once.
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 120)
    for view in (OrderView.model_validate(r) for r in results):
        assert view.status == "cancelled", view.order_id
        fired = [t for t in view.history if t.actor == SYSTEM]
        assert [(t.action, t.from_status, t.to_status) for t in fired] == [
            ("cancel", "confirmation", "cancelled")
        ], view.order_id
        assert [t.action for t in view.history] == ["create", "cancel"], view.order_id
    return restarted, started


async def view_when_ready(stack: FaultStack, oid: str) -> OrderView | None:
    try:
        return await stack.view(oid)
    except Unavailable:
        return None


async def start_until_at_rest(
    stack: FaultStack, orders: int, window: timedelta
) -> tuple[list[str], list[datetime], bool]:
    """Start ``orders`` orders whose windows all end ``window`` from now, and wait until
    each waits on nothing but its deadline (its emails sent and recorded).

    Returns their ids, due times, and whether they were at rest a second before they fell
    due (if not, the server could not be stopped in time).
    """
    ids = [order_id("restart") for _ in range(orders)]
    gate = asyncio.Semaphore(STARTS_AT_ONCE)
    # Every order's window ends at ``due``: the server need be down only until then.
    due = datetime.now(UTC) + window

    async def start(oid: str) -> OrderView | None:
        async with gate:
            left = due - datetime.now(UTC)
            if left <= timedelta(0):
                return None  # too slow already; the attempt is given up below
            policy = PrepaidPolicy(confirm_window=left, same_day_confirm_window=left)
            try:
                return await stack.start_order(prepaid_request(oid), policy=policy)
            except Unavailable:
                # Started, but a busy worker did not answer the view's query in time (the
                # API's 503 says so): the view comes once it does.
                view: OrderView = await until(
                    lambda: view_when_ready(stack, oid), f"the view of {oid}"
                )
                return view

    views = await asyncio.gather(*(start(oid) for oid in ids))
    started = [view for view in views if view is not None]
    ids = [view.order_id for view in started]
    dues = [view.next_deadline.due_at for view in started if view.next_deadline is not None]
    assert len(dues) == len(started)
    if len(started) < orders:
        return ids, dues or [due], False

    def at_rest() -> bool:
        # Each order recorded with both its emails sent: nothing left but the timer.
        query = sa.text(
            "select count(*) from notifications where status = 'sent' and event = 'created' "
            "and order_id in (select order_id from orders where status = 'confirmation' "
            "and order_id in :ids)"
        ).bindparams(sa.bindparam("ids", expanding=True))
        with stack.engine.connect() as db:
            return bool(db.execute(query, {"ids": ids}).scalar_one() == 2 * orders)

    # At rest, so that no activity is in flight when the server stops: one that finishes
    # while the server is down cannot report it (the worker gives up after its retries), so
    # it waits out its 30 s start-to-close timeout after the restart: half a minute more,
    # proving nothing more.
    last_moment = min(dues) - timedelta(seconds=1)
    while not await asyncio.to_thread(at_rest):
        if datetime.now(UTC) > last_moment:
            return ids, dues, False
        await asyncio.sleep(0.1)
    return ids, dues, True
