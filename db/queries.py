"""Reads of the order database, for the API and the command line (which never write)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from db.tables import ORDERS as _ORDERS
from db.tables import OrderSummary, TransitionRow
from models.orders import Actor, OrderView, Role, Transition

__all__ = ["OrderSummary", "get_order_view", "list_orders", "recorded_tenant", "transitions_of"]

_SUMMARY_COLUMNS = [_ORDERS.c[name] for name in OrderSummary.model_fields]


def list_orders(
    session: Session,
    *,
    flow: str | None = None,
    status: str | None = None,
    customer_id: str | None = None,
    provider_id: str | None = None,
    needs_attention: bool | None = None,
    archived: bool | None = False,
    limit: int = 50,
    offset: int = 0,
    tenant: str | None = None,
) -> tuple[list[OrderSummary], int]:
    """One page of orders, newest first, and how many match in all.

    Archived orders are left out unless ``archived`` is True (only them) or None (all).
    ``tenant``: only that tenant's orders (None: every order, whatever its tenant).
    """
    if limit < 1 or offset < 0:
        raise ValueError("limit must be at least 1 and offset not negative")
    conditions: list[Any] = []
    if tenant is not None:
        conditions.append(_ORDERS.c.tenant == tenant)
    if flow is not None:
        conditions.append(_ORDERS.c.flow == flow)
    if status is not None:
        conditions.append(_ORDERS.c.status == status)
    if customer_id is not None:
        conditions.append(_ORDERS.c.customer_id == customer_id)
    if provider_id is not None:
        conditions.append(_ORDERS.c.provider_id == provider_id)
    if needs_attention is not None:
        conditions.append(_ORDERS.c.needs_attention == needs_attention)
    if archived is not None:
        conditions.append(_ORDERS.c.archived == archived)
    where = sa.and_(sa.true(), *conditions)
    total = session.execute(select(func.count()).select_from(_ORDERS).where(where)).scalar_one()
    page = session.execute(
        sa.select(*_SUMMARY_COLUMNS)
        .where(where)
        .order_by(_ORDERS.c.created_at.desc(), _ORDERS.c.order_id)
        .limit(limit)
        .offset(offset)
    )
    return [OrderSummary.model_validate(dict(row._mapping)) for row in page], total


def get_order_view(session: Session, order_id: str) -> OrderView | None:
    """The last recorded view of an order, or None if it was never recorded."""
    view_json = session.execute(
        sa.select(_ORDERS.c.view_json).where(_ORDERS.c.order_id == order_id)
    ).scalar_one_or_none()
    if view_json is None:
        return None
    return OrderView.model_validate(view_json)


def recorded_tenant(session: Session, order_id: str) -> tuple[str | None] | None:
    """``(tenant,)`` of a recorded order (the tenant may be None), or None if not recorded."""
    row = session.execute(sa.select(_ORDERS.c.tenant).where(_ORDERS.c.order_id == order_id)).first()
    return None if row is None else (row[0],)


def transitions_of(session: Session, order_id: str) -> list[Transition]:
    """An order's recorded history, oldest first (empty if unknown)."""
    rows = session.exec(
        select(TransitionRow)
        .where(col(TransitionRow.order_id) == order_id)
        .order_by(col(TransitionRow.seq))
    ).all()
    return [
        Transition(
            seq=row.seq,
            at=row.at,
            actor=Actor(role=Role(row.actor_role), id=row.actor_id, key_name=row.key_name),
            action=row.action,
            from_status=row.from_status,
            to_status=row.to_status,
            reason=row.reason,
        )
        for row in rows
    ]
