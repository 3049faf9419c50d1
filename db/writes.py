"""Writes to the read model, all idempotent; called by ``activities.records`` only.

Each function takes a session and leaves committing to the caller, so one activity
attempt is one transaction: a failure part-way leaves nothing behind and the retry
starts clean.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from db.tables import NOTIFICATIONS, ORDERS, PAYMENTS, PAYOUTS, TRANSITIONS, PayoutRow
from models.activities import RecordPayoutInput
from models.orders import NotificationRecord, OrderView, PaymentRecord, Transition


class RecordError(Exception):
    """Base of the read model's own errors (database errors are SQLAlchemy's)."""


class PayoutConflictError(RecordError):
    """The order already has a payout under another idempotency key (or the key another order)."""


def _insert(session: Session, table: Any) -> Any:
    """``INSERT`` with ``ON CONFLICT`` support: both backends speak the same upsert."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"the read model supports sqlite and postgresql, not {dialect}")


def order_values(view: OrderView) -> dict[str, Any]:
    """The ``orders`` row of a view."""
    deadline = view.next_deadline
    return {
        "order_id": view.order_id,
        "tenant": view.tenant,
        "flow": view.flow,
        "status": view.status,
        "stage": view.stage,
        "customer_id": view.customer.id,
        "customer_name": view.customer.name,
        "customer_email": str(view.customer.email),
        "provider_id": view.provider.id if view.provider else None,
        "currency": view.currency,
        "amount_total": view.amount_total,
        "amount_paid": view.amount_paid,
        "amount_refunded": view.amount_refunded,
        "next_deadline_name": deadline.name if deadline else None,
        "next_deadline_at": deadline.due_at if deadline else None,
        "needs_attention": view.needs_attention,
        "attention_reason": view.attention_reason,
        "archived": view.archived,
        "created_at": view.created_at,
        "updated_at": view.updated_at,
        "closed_at": view.closed_at,
        "version": view.version,
        "view_json": view.model_dump(mode="json"),
    }


def _transition_values(order_id: str, t: Transition) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "seq": t.seq,
        "at": t.at,
        "actor_role": t.actor.role.value,
        "actor_id": t.actor.id,
        "key_name": t.actor.key_name,
        "action": t.action,
        "from_status": t.from_status,
        "to_status": t.to_status,
        "reason": t.reason,
    }


def _notification_values(order_id: str, n: NotificationRecord) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "idempotency_key": n.idempotency_key,
        "event": n.event,
        "recipient_role": str(n.recipient_role),
        "to_address": n.to,
        "status": n.status.value,
        "detail": n.detail,
        "at": n.at,
    }


def _payment_values(order_id: str, p: PaymentRecord) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "idempotency_key": p.idempotency_key,
        "seq": p.seq,
        "kind": p.kind.value,
        "amount": p.amount,
        "currency": p.currency,
        "outcome": p.outcome.value,
        "provider_id": p.provider_id,
        "failure_reason": p.failure_reason,
        "at": p.at,
    }


def _upsert_children(
    session: Session,
    table: Any,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    *,
    update: bool,
) -> None:
    # PostgreSQL refuses to touch one row twice in a statement, so a key repeated in the
    # view (the same email or payment recorded again) is written once, its last state.
    unique = list({tuple(row[k] for k in keys): row for row in rows}.values())
    if not unique:
        return
    stmt = _insert(session, table).values(unique)
    if update:
        changed = [name for name in rows[0] if name not in keys]
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={name: stmt.excluded[name] for name in changed}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    session.execute(stmt)


def store_order_view(session: Session, view: OrderView) -> bool:
    """Upsert an order from its view; False (and nothing written) if a newer version is stored.

    A view of the same version is written again, so a replayed activity is a no-op in
    effect. Transitions are append-only (an existing ``(order_id, seq)`` is never
    rewritten); notifications and payments are updated by their idempotency key, since
    an email's status or a payment's outcome can move on under the same key.
    """
    values = order_values(view)
    stmt = _insert(session, ORDERS).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["order_id"],
        set_={name: stmt.excluded[name] for name in values if name != "order_id"},
        where=ORDERS.c.version <= stmt.excluded.version,
    ).returning(ORDERS.c.order_id)
    if session.execute(stmt).first() is None:
        return False
    oid = view.order_id
    _upsert_children(
        session,
        TRANSITIONS,
        [_transition_values(oid, t) for t in view.history],
        ("order_id", "seq"),
        update=False,
    )
    _upsert_children(
        session,
        NOTIFICATIONS,
        [_notification_values(oid, n) for n in view.notifications],
        ("order_id", "idempotency_key"),
        update=True,
    )
    _upsert_children(
        session,
        PAYMENTS,
        [_payment_values(oid, p) for p in view.payments],
        ("order_id", "idempotency_key"),
        update=True,
    )
    return True


def payout_reference(idempotency_key: str) -> str:
    """The payout's reference: derived from its key, so every attempt names the same payout."""
    return "po_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]


def store_payout(session: Session, payout: RecordPayoutInput, paid_at: datetime) -> PayoutRow:
    """Insert the order's payout once; a retry with the same key returns the stored row.

    ``paid_at`` is used only by the attempt that inserts: a retry gets the first time back.
    """
    stmt = (
        _insert(session, PAYOUTS)
        .values(
            order_id=payout.order_id,
            idempotency_key=payout.idempotency_key,
            provider_id=payout.provider_id,
            amount=payout.amount,
            currency=payout.currency,
            due_at=payout.due_at,
            paid_at=paid_at,
            reference=payout_reference(payout.idempotency_key),
        )
        .on_conflict_do_nothing()
    )
    session.execute(stmt)
    row = session.exec(
        select(PayoutRow).where(PayoutRow.idempotency_key == payout.idempotency_key)
    ).first()
    if row is None:
        raise PayoutConflictError(
            f"order {payout.order_id} already has a payout under another idempotency key"
        )
    if row.order_id != payout.order_id:
        raise PayoutConflictError(
            f"idempotency key {payout.idempotency_key!r} belongs to order {row.order_id}"
        )
    return row


__all__ = [
    "PayoutConflictError",
    "RecordError",
    "order_values",
    "payout_reference",
    "store_order_view",
    "store_payout",
]
