"""Reads of the order database, for the API and the command line (which never write)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, col, func, select

from db.tables import NOTIFICATIONS as _NOTIFICATIONS
from db.tables import ORDERS as _ORDERS
from db.tables import OrderSummary, TransitionRow
from models.common import Actor, Role
from models.orders import NotificationStatus, OrderView, Transition

__all__ = [
    "EmailIssue",
    "OrderSort",
    "OrderSummary",
    "email_issues",
    "get_order_view",
    "list_orders",
    "recorded_tenant",
    "status_counts",
    "transitions_of",
    "views_of",
]


class OrderSort(StrEnum):
    """The orders of a list: newest first, or the soonest next deadline first."""

    created = "created"
    next_deadline = "next_deadline"


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
    customer_email: str | None = None,
    due_before: datetime | None = None,
    sort: OrderSort = OrderSort.created,
    limit: int = 50,
    offset: int = 0,
    tenant: str | None = None,
) -> tuple[list[OrderSummary], int]:
    """One page of orders, newest first (or by next deadline), and how many match in all.

    Archived orders are left out unless ``archived`` is True (only them) or None (all).
    ``customer_email`` matches in any case; ``due_before`` keeps the orders whose next
    deadline is before that time (past due ones included). Sorted by next deadline, the
    orders without one come last, newest first.
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
    if customer_email is not None:
        conditions.append(func.lower(_ORDERS.c.customer_email) == customer_email.lower())
    if due_before is not None:
        conditions.append(_ORDERS.c.next_deadline_at < due_before)
    where = sa.and_(sa.true(), *conditions)
    total = session.execute(select(func.count()).select_from(_ORDERS).where(where)).scalar_one()
    order: list[Any] = [_ORDERS.c.created_at.desc(), _ORDERS.c.order_id]
    if sort == OrderSort.next_deadline:
        deadline = _ORDERS.c.next_deadline_at
        # NULLS LAST spelt portably (SQLite and PostgreSQL sort NULL differently).
        order = [deadline.is_(None), deadline.asc(), *order]
    page = session.execute(
        sa.select(*_SUMMARY_COLUMNS).where(where).order_by(*order).limit(limit).offset(offset)
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


def status_counts(session: Session, flow: str, *, tenant: str | None = None) -> dict[str, int]:
    """How many orders of ``flow`` are in each status (archived ones not counted), and
    how many are archived under the key ``"archived"``; ``tenant``: only that tenant's."""
    of_flow = [_ORDERS.c.flow == flow]
    if tenant is not None:
        of_flow.append(_ORDERS.c.tenant == tenant)
    by_status = session.execute(
        sa.select(_ORDERS.c.status, func.count())
        .where(*of_flow, _ORDERS.c.archived == sa.false())
        .group_by(_ORDERS.c.status)
    ).all()
    counts = {str(status): int(count) for status, count in by_status}
    archived = session.execute(
        sa.select(func.count()).where(*of_flow, _ORDERS.c.archived == sa.true())
    ).scalar_one()
    counts["archived"] = int(archived)
    return counts


def views_of(session: Session, order_ids: list[str]) -> dict[str, OrderView]:
    """The recorded views of these orders, by id (the ones never recorded are missing)."""
    if not order_ids:
        return {}
    rows = session.execute(
        sa.select(_ORDERS.c.order_id, _ORDERS.c.view_json).where(_ORDERS.c.order_id.in_(order_ids))
    ).all()
    return {str(order_id): OrderView.model_validate(view) for order_id, view in rows}


class EmailIssue(BaseModel):
    """An email that failed or was skipped, and no later email of the same event to the
    same recipient of the order was sent (a resend that went out settles it)."""

    order_id: str
    flow: str
    customer_id: str
    idempotency_key: str
    event: str
    recipient_role: str
    to: str
    status: NotificationStatus
    detail: str | None
    at: datetime


def email_issues(
    session: Session,
    *,
    customer_id: str | None = None,
    order_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
    tenant: str | None = None,
) -> tuple[list[EmailIssue], int]:
    """Failed and skipped emails still unsettled, newest first, and how many in all
    (``tenant``: only of that tenant's orders)."""
    if limit < 1 or offset < 0:
        raise ValueError("limit must be at least 1 and offset not negative")
    mail, later = _NOTIFICATIONS, _NOTIFICATIONS.alias("later")
    settled = (
        sa.select(later.c.id)
        .where(
            later.c.order_id == mail.c.order_id,
            later.c.event == mail.c.event,
            later.c.recipient_role == mail.c.recipient_role,
            later.c.status == NotificationStatus.sent.value,
            later.c.at >= mail.c.at,
        )
        .exists()
    )
    conditions: list[Any] = [
        mail.c.status.in_([NotificationStatus.failed.value, NotificationStatus.skipped.value]),
        ~settled,
    ]
    if customer_id is not None:
        conditions.append(_ORDERS.c.customer_id == customer_id)
    if order_id is not None:
        conditions.append(mail.c.order_id == order_id)
    if tenant is not None:
        conditions.append(_ORDERS.c.tenant == tenant)
    joined = mail.join(_ORDERS, _ORDERS.c.order_id == mail.c.order_id)
    where = sa.and_(*conditions)
    total = session.execute(sa.select(func.count()).select_from(joined).where(where)).scalar_one()
    rows = session.execute(
        sa.select(
            mail.c.order_id,
            _ORDERS.c.flow,
            _ORDERS.c.customer_id,
            mail.c.idempotency_key,
            mail.c.event,
            mail.c.recipient_role,
            mail.c.to_address,
            mail.c.status,
            mail.c.detail,
            mail.c.at,
        )
        .select_from(joined)
        .where(where)
        .order_by(mail.c.at.desc(), mail.c.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    issues = [
        EmailIssue(
            order_id=row.order_id,
            flow=row.flow,
            customer_id=row.customer_id,
            idempotency_key=row.idempotency_key,
            event=row.event,
            recipient_role=row.recipient_role,
            to=row.to_address,
            status=NotificationStatus(row.status),
            detail=row.detail,
            at=row.at,
        )
        for row in rows
    ]
    return issues, int(total)
