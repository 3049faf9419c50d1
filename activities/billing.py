"""The bill-cycle run's activity: invoice one page of a cycle's completed account orders."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import Engine
from temporalio import activity

from db.billing import invoice_page
from db.engine import session_scope
from models.activities import INVOICE_CYCLE_PAGE, InvoiceCyclePageInput, InvoiceCyclePageResult


class BillingActivities:
    """Invoice writers, built by the worker with the order database's engine injected."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name=INVOICE_CYCLE_PAGE)
    async def invoice_cycle_page(self, input: InvoiceCyclePageInput) -> InvoiceCyclePageResult:
        """Insert the page's missing invoices in one transaction; a retry adds nothing."""
        return await asyncio.to_thread(self._page, input)

    def _page(self, input: InvoiceCyclePageInput) -> InvoiceCyclePageResult:
        with session_scope(self._engine) as session:
            orders, added, after = invoice_page(session, input.cycle, input.after, input.limit)
        return InvoiceCyclePageResult(orders=orders, invoiced=added, next_after=after)
