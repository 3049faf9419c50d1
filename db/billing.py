"""The bill-cycle run's reads and writes: invoice a cycle's completed account orders once.

Which orders: ``flow = 'account_order'``, ``status = 'completed'`` and the completion time
(the read model's ``closed_at``, set once at completion) within the cycle's month in UTC.
Each page inserts one ``invoices`` row per order with ``ON CONFLICT DO NOTHING`` on
``(order_id, cycle)``: a retried page or a rerun of the cycle adds nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from db.tables import INVOICES, ORDERS, InvoiceRow
from db.writes import _insert
from models.billing import cycle_bounds, invoice_number

ACCOUNT_FLOW = "account_order"


def invoice_page(
    session: Session, cycle: str, after: str | None, limit: int
) -> tuple[int, int, str | None]:
    """Invoice up to ``limit`` orders of ``cycle`` after order id ``after``.

    Returns (orders seen, invoices added, the next page's ``after`` or None when done).
    """
    start, end = cycle_bounds(cycle)
    conditions = [
        ORDERS.c.flow == ACCOUNT_FLOW,
        ORDERS.c.status == "completed",
        ORDERS.c.closed_at >= start,
        ORDERS.c.closed_at < end,
    ]
    if after is not None:
        conditions.append(ORDERS.c.order_id > after)
    orders = session.execute(
        sa.select(
            ORDERS.c.order_id,
            ORDERS.c.customer_id,
            ORDERS.c.currency,
            ORDERS.c.amount_total,
            ORDERS.c.closed_at,
        )
        .where(*conditions)
        .order_by(ORDERS.c.order_id)
        .limit(limit)
    ).all()
    if not orders:
        return 0, 0, None
    now = datetime.now(UTC)
    stmt = (
        _insert(session, INVOICES)
        .values(
            [
                {
                    "order_id": row.order_id,
                    "cycle": cycle,
                    "number": invoice_number(cycle, row.order_id),
                    "account_id": row.customer_id,
                    "currency": row.currency,
                    "amount": row.amount_total,
                    "completed_at": row.closed_at,
                    "created_at": now,
                }
                for row in orders
            ]
        )
        .on_conflict_do_nothing(index_elements=["order_id", "cycle"])
        .returning(INVOICES.c.order_id)
    )
    added = len(session.execute(stmt).all())
    next_after = orders[-1].order_id if len(orders) == limit else None
    return len(orders), added, next_after


def invoices_of(session: Session, order_id: str) -> list[InvoiceRow]:
    """An order's invoices, oldest cycle first."""
    return list(
        session.exec(
            select(InvoiceRow)
            .where(col(InvoiceRow.order_id) == order_id)
            .order_by(col(InvoiceRow.cycle))
        ).all()
    )
