"""The bill-cycle run on SQLite and PostgreSQL: each completed order of a cycle invoiced once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from activities.billing import BillingActivities
from db.engine import session_scope
from db.writes import store_order_view
from models.activities import InvoiceCyclePageInput
from models.billing import BillCycleInput, BillCycleResult, cycle_bounds, previous_cycle
from tests.db.factories import make_view
from tests.fixtures.temporal import running_worker
from workflows.bill_cycle import BillCycleWorkflow
from workflows.sandbox import workflow_runner

NOV_START, NOV_END = cycle_bounds("2026-11")


def completed(order_id: str, at: datetime, **changes: Any) -> Any:
    """An account order's view as the read model stores it once completed at ``at``."""
    fields: dict[str, Any] = {
        "flow": "account_order",
        "status": "completed",
        "stage": "Completed",
        "provider": None,
        "appointment": None,
        "awaiting": None,
        "next_deadline": None,
        "amount_total": 20799,
        "closed_at": at,
    }
    fields.update(changes)
    return make_view(order_id, **fields)


def store(engine: Engine, *views: Any) -> None:
    with session_scope(engine) as session:
        for view in views:
            store_order_view(session, view)


def invoices(engine: Engine) -> list[tuple[str, str, str, int]]:
    with engine.connect() as db:
        rows = db.execute(
            sa.text("select order_id, cycle, number, amount from invoices order by order_id")
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


class Runner:
    """Runs the bill_cycle workflow on this test's task queue."""

    def __init__(self, env: WorkflowEnvironment, task_queue: str) -> None:
        self.env = env
        self.task_queue = task_queue

    async def run(self, cycle: str | None, page_size: int = 500) -> BillCycleResult:
        return await self.env.client.execute_workflow(
            BillCycleWorkflow.run,
            BillCycleInput(cycle=cycle, page_size=page_size),
            id=f"bill-cycle-test-{uuid.uuid4().hex[:10]}",
            task_queue=self.task_queue,
        )


@pytest.fixture
async def runner(
    time_env: WorkflowEnvironment, task_queue: str, engine: Engine
) -> AsyncIterator[Runner]:
    async with running_worker(
        time_env.client,
        task_queue=task_queue,
        workflows=[BillCycleWorkflow],
        activities=[BillingActivities(engine).invoice_cycle_page],
        workflow_runner=workflow_runner(),
    ):
        yield Runner(time_env, task_queue)


async def test_each_completed_order_of_the_cycle_is_invoiced_once(
    runner: Runner, engine: Engine
) -> None:
    store(
        engine,
        completed("nov-a", NOV_START),  # the first moment belongs to the cycle
        completed("nov-b", datetime(2026, 11, 15, 12, tzinfo=UTC), amount_total=500),
        completed("nov-c", NOV_END - timedelta(microseconds=1)),
        completed("dec-a", NOV_END),  # the next cycle's first moment
        completed("oct-a", NOV_START - timedelta(seconds=1)),
        completed("nov-cancelled", NOV_START + timedelta(days=1), status="cancelled"),
        completed("nov-prepaid", NOV_START + timedelta(days=1), flow="prepaid_service"),
    )
    # Pages of two: three orders take two pages.
    result = await runner.run("2026-11", page_size=2)
    assert result == BillCycleResult(cycle="2026-11", orders=3, invoiced=3)
    assert invoices(engine) == [
        ("nov-a", "2026-11", "INV-2026-11-nov-a", 20799),
        ("nov-b", "2026-11", "INV-2026-11-nov-b", 500),
        ("nov-c", "2026-11", "INV-2026-11-nov-c", 20799),
    ]

    # A rerun adds nothing; an order recorded late is added alone.
    assert await runner.run("2026-11") == BillCycleResult(cycle="2026-11", orders=3, invoiced=0)
    store(engine, completed("nov-late", datetime(2026, 11, 30, 23, tzinfo=UTC)))
    assert await runner.run("2026-11") == BillCycleResult(cycle="2026-11", orders=4, invoiced=1)
    assert [row[0] for row in invoices(engine)] == ["nov-a", "nov-b", "nov-c", "nov-late"]

    # The next cycle invoices its own order only.
    result = await runner.run("2026-12")
    assert result == BillCycleResult(cycle="2026-12", orders=1, invoiced=1)
    assert len(invoices(engine)) == 5


async def test_concurrent_pages_of_one_cycle_invoice_once(engine: Engine) -> None:
    # Two runs of a cycle at once (a manual run during the scheduled one) race page by
    # page in the database: the unique (order, cycle) lets each invoice in once.
    store(engine, *(completed(f"o-{n:02d}", NOV_START + timedelta(hours=n)) for n in range(12)))
    billing = BillingActivities(engine)
    pages = [InvoiceCyclePageInput(cycle="2026-11", limit=12) for _ in range(4)]
    results = await asyncio.gather(*(billing.invoice_cycle_page(page) for page in pages))
    assert sum(result.invoiced for result in results) == 12
    assert {result.orders for result in results} == {12}
    assert len(invoices(engine)) == 12


async def test_a_scheduled_run_invoices_the_cycle_that_just_ended(
    runner: Runner, engine: Engine
) -> None:
    now = await runner.env.get_current_time()
    cycle = previous_cycle(now)
    start, end = cycle_bounds(cycle)
    assert end <= now < end + timedelta(days=32)
    store(engine, completed("last-month", start + timedelta(days=2)))
    assert await runner.run(None) == BillCycleResult(cycle=cycle, orders=1, invoiced=1)


def test_cycle_bounds_and_the_previous_cycle() -> None:
    assert cycle_bounds("2026-12") == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert previous_cycle(datetime(2027, 1, 1, 0, 30, tzinfo=UTC)) == "2026-12"
    assert previous_cycle(datetime(2026, 3, 31, 23, tzinfo=UTC)) == "2026-02"
    with pytest.raises(ValueError, match="YYYY-MM"):
        cycle_bounds("2026-13")
