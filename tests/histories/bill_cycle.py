"""Scenarios of the bill-cycle run (not an order flow) whose histories are recorded for replay.

The run gets a worker of its own here (order flows' workers do not register it), with a
fake ``invoice_cycle_page`` that serves three pages.
"""

from __future__ import annotations

from typing import Any

from temporalio import activity

from models.activities import INVOICE_CYCLE_PAGE, InvoiceCyclePageInput, InvoiceCyclePageResult
from models.billing import BillCycleInput
from tests.fixtures.temporal import running_worker
from tests.histories.scenarios import Scenarios
from tests.support.harness import FlowHarness
from workflows.bill_cycle import BillCycleWorkflow
from workflows.sandbox import workflow_runner

PAGES = {None: "o-2", "o-2": "o-4", "o-4": None}


@activity.defn(name=INVOICE_CYCLE_PAGE)
async def invoice_cycle_page(input: InvoiceCyclePageInput) -> InvoiceCyclePageResult:
    """Fake: two orders per page, three pages."""
    return InvoiceCyclePageResult(orders=2, invoiced=2, next_after=PAGES[input.after])


async def _run(h: FlowHarness, input: BillCycleInput, name: str) -> Any:
    queue = f"{h.task_queue}-billing"
    async with running_worker(
        h.env.client,
        task_queue=queue,
        workflows=[BillCycleWorkflow],
        activities=[invoice_cycle_page],
        workflow_runner=workflow_runner(),
    ):
        handle = await h.env.client.start_workflow(
            BillCycleWorkflow.run, input, id=f"bill-cycle-{name}", task_queue=queue
        )
        await handle.result()
    return handle


async def manual_cycle(h: FlowHarness) -> Any:
    return await _run(h, BillCycleInput(cycle="2026-11", page_size=2), "manual")


async def scheduled_cycle(h: FlowHarness) -> Any:
    return await _run(h, BillCycleInput(page_size=2), "scheduled")


SCENARIOS: Scenarios = {"manual_cycle": manual_cycle, "scheduled_cycle": scheduled_cycle}
