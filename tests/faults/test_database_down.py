"""The order database is unreachable for a while: read-model writes retry and catch up,
and ``orderclock reconcile`` repairs drift made behind the workflows' back.

The worker reaches its PostgreSQL database (one of the test's own on the machine's
server) through :class:`~tests.fixtures.stack.TcpProxy`; stopping the proxy cuts every
connection and refuses new ones, which is what the worker sees when the database goes
away. The machine's PostgreSQL itself is never stopped.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from temporalio.client import Client, WorkflowExecutionStatus

from api.gateway import pending_activities
from cli.reconcile import reconcile
from db.engine import make_engine, session_scope
from db.writes import store_order_view
from models.ids import order_workflow_id
from models.orders import OrderView
from tests.faults.prepaid import PROVIDER, SUPPORT, order_id, prepaid_request
from tests.fixtures.devstack import orderclock_command
from tests.fixtures.stack import TIMEOUTS, FaultStack, TcpProxy, tcp_proxy, until

ORDERS = 5


def through(proxy: TcpProxy, url: str) -> str:
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(False)


async def disagreements(stack: FaultStack, ids: list[str]) -> dict[str, Any]:
    """Orders whose database row differs from the workflow's (status, version)."""
    client = await stack.client()
    live: dict[str, tuple[str, int]] = {}
    for oid in ids:
        view = await client.get_workflow_handle(order_workflow_id(oid)).query(
            "view", result_type=OrderView
        )
        live[oid] = (view.status, view.version)

    def stored() -> dict[str, tuple[str, int]]:
        with stack.engine.connect() as db:
            rows = db.execute(sa.text("select order_id, status, version from orders")).all()
        return {row.order_id: (row.status, row.version) for row in rows}

    rows = await asyncio.to_thread(stored)
    return {oid: (live[oid], rows.get(oid)) for oid in ids if rows.get(oid) != live[oid]}


async def run_reconcile(stack: FaultStack, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [*orderclock_command(), "reconcile", *args],
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_database_down_writes_catch_up_and_reconcile_repairs_drift(
    fault_stack: FaultStack, own_postgres_url: str
) -> None:
    stack = fault_stack
    database = make_url(own_postgres_url)
    stack.database_url = own_postgres_url  # the test's own reads go straight to it
    with tcp_proxy(database.host or "127.0.0.1", database.port or 5432) as proxy:
        stack.process_database_url = through(proxy, own_postgres_url)
        await asyncio.gather(stack.start_temporal(), stack.start_smtp())
        await stack.start_worker()
        ids = [order_id("db-down") for _ in range(ORDERS)]
        for oid in ids:
            await stack.start_order(prepaid_request(oid))
        await until(lambda: _agree(stack, ids), "every order recorded")

        proxy.stop()  # the database is gone
        for oid in ids[:3]:
            await stack.act(oid, "confirm", PROVIDER)
        await stack.act(ids[3], "cancel", SUPPORT, {"reason": "customer called"})

        # The writes wait and retry; support can see why.
        async def record_retrying() -> Any:
            pending = await pending_activities(await stack.client(), ids[0], timeouts=TIMEOUTS)
            found = [p for p in pending or [] if p.activity_type == "record_order"]
            return found[0] if found and found[0].attempt >= 2 else None

        retrying = await until(record_retrying, "the read-model write to retry", within=30)
        assert retrying.activity == "record order (payment)"
        assert retrying.last_failure and "Failure exceeds size limit" not in retrying.last_failure
        assert "connection" in retrying.last_failure.lower(), retrying.last_failure
        # The cancelled order stays open until its last write is in.
        client = await stack.client()
        cancelled = await client.get_workflow_handle(order_workflow_id(ids[3])).describe()
        assert cancelled.status == WorkflowExecutionStatus.RUNNING

        proxy.start()  # the database is back
        await until(lambda: _agree(stack, ids), "the database to agree with every workflow", 60)
        await until(lambda: _closed(client, ids[3]), "the cancelled order to close")
    assert not await disagreements(stack, ids)

    # Drift made behind the workflows' back: a row deleted, one with another status, one
    # an older version, one with other content; and a row Temporal does not know.
    missing, wrong_status, old_version, altered = ids[0], ids[1], ids[2], ids[3]
    engine = make_engine(own_postgres_url)
    try:
        with engine.begin() as db:
            db.execute(sa.text("delete from orders where order_id = :o"), {"o": missing})
            db.execute(
                sa.text("update orders set status = 'closed' where order_id = :o"),
                {"o": wrong_status},
            )
            db.execute(
                sa.text("update orders set version = version - 1 where order_id = :o"),
                {"o": old_version},
            )
            db.execute(
                sa.text(
                    "update orders set view_json = (view_json::jsonb || "
                    "'{\"amount_paid\": 1}')::json where order_id = :o"
                ),
                {"o": altered},
            )
        ghost = (await stack.view(ids[4])).model_copy(update={"order_id": "ghost-order"})
        with session_scope(engine) as session:
            store_order_view(session, ghost)
    finally:
        engine.dispose()

    # Reconcile goes straight to the database (the proxy is gone now).
    stack.process_database_url = None
    dry = await run_reconcile(stack, "--dry-run", "--json")
    assert dry.returncode == 1, dry.stderr
    report = json.loads(dry.stdout)
    kinds = {d["order_id"]: d["kind"] for d in report["drifts"]}
    assert kinds == {
        missing: "missing",
        wrong_status: "status",
        old_version: "stale",
        altered: "content",
    }
    assert report["checked"] == ORDERS
    assert report["repaired"] == 0
    assert report["not_in_temporal"] == ["ghost-order"]
    assert set(await disagreements(stack, ids)) == {missing, wrong_status, old_version}

    fixed = await run_reconcile(stack)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert f"checked {ORDERS} orders: 4 drifted, 4 repaired" in fixed.stdout
    rows = {line.split()[1]: line.split() for line in fixed.stdout.splitlines()[2:6]}
    assert rows[missing] == ["missing", missing, "payment", "v2", "-", "repaired"]
    assert rows[wrong_status] == [
        "status",
        wrong_status,
        "payment",
        "v2",
        "closed",
        "v2",
        "repaired",
    ]
    assert "unknown to Temporal, left alone: ghost-order" in fixed.stdout
    assert not await disagreements(stack, ids)
    with stack.engine.connect() as db:
        transitions = db.execute(
            sa.text("select count(*) from transitions where order_id = :o"), {"o": missing}
        ).scalar_one()
    assert transitions == len((await stack.view(missing)).history)

    again = await reconcile(await stack.client(), stack.engine, dry_run=True)
    assert (again.drifts, again.exit_code) == ([], 0)


async def _agree(stack: FaultStack, ids: list[str]) -> bool:
    return not await disagreements(stack, ids)


async def _closed(client: Client, oid: str) -> bool:
    description = await client.get_workflow_handle(order_workflow_id(oid)).describe()
    return description.status == WorkflowExecutionStatus.COMPLETED
