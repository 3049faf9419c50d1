"""The Temporal server stops with open orders waiting on deadlines, and the deadlines pass
while it is down: after a restart on the same SQLite file every deadline fires exactly once
and no order is lost.

Each order pins a confirmation window (``PrepaidPolicy.confirm_window``, what
``ORDERCLOCK_PREPAID__CONFIRM_WINDOW`` sets) of a few seconds, chosen so that all of them
end at the same moment. The server is stopped once every order waits on nothing but its
timer (its emails sent and recorded in the order database), kept down until the deadlines
have passed, then started again on the same file and port; the worker process keeps running
throughout and reconnects by itself. First stopped (SIGTERM) with 100 orders, then killed
(SIGKILL) with 20 more on the same file.
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from models.ids import order_workflow_id
from models.orders import SYSTEM, OrderView
from models.policy import PrepaidPolicy
from tests.faults.prepaid import order_id, prepaid_request
from tests.fixtures.stack import FaultStack, Part, until

STARTS_AT_ONCE = 20


async def test_deadlines_fire_once_after_the_server_was_stopped_and_killed(
    fault_stack: FaultStack,
) -> None:
    stack = fault_stack
    temporal, _ = await asyncio.gather(stack.start_temporal(), stack.start_smtp())
    await stack.start_worker()
    # 100 orders come to rest in 5 to 27 s on these machines, depending on their load.
    temporal = await outage(stack, temporal, signal.SIGTERM, 100, timedelta(seconds=30))
    # Then killed, on the same file, with 20 more orders.
    await outage(stack, temporal, signal.SIGKILL, 20, timedelta(seconds=8))

    # The read model agrees: every order is there, cancelled once.
    with stack.engine.connect() as db:
        rows = db.execute(sa.text("select status, count(*) from orders group by status")).all()
        cancels = db.execute(
            sa.text(
                "select count(*) from transitions where action = 'cancel' and actor_role = 'system'"
            )
        ).scalar_one()
    assert [tuple(row) for row in rows] == [("cancelled", 120)]
    assert cancels == 120


async def outage(
    stack: FaultStack, temporal: Part, stop: signal.Signals, orders: int, within: timedelta
) -> Part:
    """Start ``orders`` orders due in ``within``, stop the server with ``stop`` until they
    are due, restart it; check each deadline fired once. The restarted server."""
    ids = [order_id("restart") for _ in range(orders)]
    gate = asyncio.Semaphore(STARTS_AT_ONCE)
    # Every order's window ends at ``due``: the server need be down only until then.
    due = datetime.now(UTC) + within

    async def start(oid: str) -> OrderView:
        async with gate:
            window = due - datetime.now(UTC)
            assert window > timedelta(0), f"too slow to start {orders} orders in {within}"
            policy = PrepaidPolicy(confirm_window=window, same_day_confirm_window=window)
            return await stack.start_order(prepaid_request(oid), policy=policy)

    started = time.monotonic()
    views = await asyncio.gather(*(start(oid) for oid in ids))
    dues = [view.next_deadline.due_at for view in views if view.next_deadline is not None]
    assert len(dues) == orders

    def at_rest() -> bool:
        # Each order recorded with both its emails sent: nothing left but the timer.
        query = sa.text(
            "select count(*) from notifications where status = 'sent' and event = 'created' "
            "and order_id in (select order_id from orders where status = 'confirmation')"
        )
        with stack.engine.connect() as db:
            return bool(db.execute(query).scalar_one() == 2 * orders)

    # At rest, so that no activity is in flight when the server stops: one that finishes
    # while the server is down cannot report it (the worker gives up after its retries), so
    # it waits out its 30 s start-to-close timeout after the restart: half a minute more,
    # proving nothing more.
    await until(lambda: asyncio.to_thread(at_rest), "every order to wait on its deadline", 60)
    # Otherwise the machine was too slow for the window and the test would prove nothing.
    assert datetime.now(UTC) < min(dues), (
        f"starting {orders} orders took {time.monotonic() - started:.1f} s, longer than "
        f"the {within.total_seconds():.0f} s until their deadline: give them longer"
    )

    temporal.kill(stop)
    await asyncio.sleep((max(dues) - datetime.now(UTC)).total_seconds() + 1)
    restarted = await stack.start_temporal()  # same SQLite file, same port

    client = await stack.client()
    handles = [client.get_workflow_handle(order_workflow_id(oid)) for oid in ids]
    # No order lost: each one's workflow completes, its deadline having fired exactly once.
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 120)
    for view in (OrderView.model_validate(r) for r in results):
        assert view.status == "cancelled", view.order_id
        fired = [t for t in view.history if t.actor == SYSTEM]
        assert [(t.action, t.from_status, t.to_status) for t in fired] == [
            ("cancel", "confirmation", "cancelled")
        ], view.order_id
        assert [t.action for t in view.history] == ["create", "cancel"], view.order_id
    return restarted
