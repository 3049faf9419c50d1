"""The bill-cycle run: invoice every completed account order of a cycle exactly once.

Started by a Temporal Schedule (``orderclock setup`` / ``orderclock dev`` create it from
``ORDERCLOCK_BILL_CYCLE_CRON``, monthly by default) with no cycle, it invoices the cycle
that ended before the run (the previous calendar month, UTC); ``orderclock bill-cycle run
--cycle 2026-11`` runs a given cycle by hand. The work is pages of one activity each
(``invoice_cycle_page``), which selects the cycle's completed orders from the read model
and inserts their invoices with ``ON CONFLICT DO NOTHING``: the unique (order, cycle)
makes a retried page or a rerun of the cycle add nothing. Not an order flow: the worker
registers it beside ``workflows/registry.py``'s ``WORKFLOWS``.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from models.activities import (
        INVOICE_CYCLE_PAGE,
        InvoiceCyclePageInput,
        InvoiceCyclePageResult,
    )
    from models.billing import BillCycleInput, BillCycleResult, previous_cycle

# The database may be down for a while: keep trying, the invoices are owed.
BILLING_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)


@workflow.defn(name="bill_cycle")
class BillCycleWorkflow:
    """Invoice a cycle's completed account orders, one invoice per order and cycle."""

    @workflow.run
    async def run(self, input: BillCycleInput) -> BillCycleResult:
        """Page through the cycle's orders until every one has its invoice."""
        cycle = input.cycle or previous_cycle(workflow.now())
        orders = invoiced = 0
        after: str | None = None
        while True:
            page = await workflow.execute_activity(
                INVOICE_CYCLE_PAGE,
                InvoiceCyclePageInput(cycle=cycle, after=after, limit=input.page_size),
                result_type=InvoiceCyclePageResult,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=BILLING_RETRY,
                summary=f"invoice {cycle}" + (f" after {after}" if after else ""),
            )
            orders += page.orders
            invoiced += page.invoiced
            if page.next_after is None:
                return BillCycleResult(cycle=cycle, orders=orders, invoiced=invoiced)
            after = page.next_after
