"""Small factories of ``OrderView`` and its records for the database tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flows.prepaid_service.models import Appointment
from models.common import Actor, LineItem, Party, Role
from models.orders import (
    DeadlineView,
    NotificationRecord,
    NotificationStatus,
    OrderView,
    PaymentKind,
    PaymentOutcome,
    PaymentRecord,
    Transition,
)

T0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
CUSTOMER = Party(id="cus-1", name="Ada Customer", email="ada@example.com")
PROVIDER = Party(id="pro-1", name="Bob Provider", email="bob@example.com")


def transition(
    seq: int,
    to_status: str,
    *,
    from_status: str | None = None,
    action: str = "confirm",
    actor: Actor | None = None,
    at: datetime | None = None,
    reason: str | None = None,
) -> Transition:
    """One history step; ``at`` defaults to ``seq`` minutes after ``T0``."""
    return Transition(
        seq=seq,
        at=at or T0 + timedelta(minutes=seq),
        actor=actor or Actor(role=Role.provider, id=PROVIDER.id),
        action=action,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
    )


def notification(
    key: str,
    *,
    status: NotificationStatus = NotificationStatus.sent,
    event: str = "order_created",
    detail: str | None = None,
    at: datetime = T0,
) -> NotificationRecord:
    """One email record to the customer."""
    return NotificationRecord(
        idempotency_key=key,
        event=event,
        recipient_role=Role.customer,
        to=str(CUSTOMER.email),
        status=status,
        detail=detail,
        at=at,
    )


def payment(
    key: str,
    *,
    seq: int = 1,
    outcome: PaymentOutcome = PaymentOutcome.succeeded,
    amount: int = 12_000,
    kind: PaymentKind = PaymentKind.charge,
    at: datetime = T0,
) -> PaymentRecord:
    """One payment record in EUR."""
    return PaymentRecord(
        seq=seq,
        kind=kind,
        idempotency_key=key,
        amount=amount,
        currency="EUR",
        outcome=outcome,
        provider_id=f"pi_{key.replace(':', '_')}",
        failure_reason=None if outcome == PaymentOutcome.succeeded else "card_declined",
        at=at,
    )


def make_view(order_id: str = "ord-1", **overrides: Any) -> OrderView:
    """A valid prepaid order view in ``confirmation``; keyword arguments replace fields."""
    created_at = overrides.pop("created_at", T0)
    fields: dict[str, Any] = {
        "order_id": order_id,
        "flow": "prepaid_service",
        "status": "confirmation",
        "stage": "Confirmation",
        "customer": CUSTOMER,
        "provider": PROVIDER,
        "items": [LineItem(name="Haircut", quantity=1, unit_amount=12_000)],
        "currency": "EUR",
        "amount_total": 12_000,
        "appointment": Appointment(
            start=created_at + timedelta(days=3), duration_minutes=60, time_zone="Europe/Berlin"
        ),
        "awaiting": Role.provider,
        "next_deadline": DeadlineView(
            name="confirmation",
            due_at=created_at + timedelta(hours=24),
            due_at_local=created_at + timedelta(hours=24),
            on_expiry="the order is cancelled automatically",
        ),
        "history": [transition(0, "confirmation", action="create", at=created_at)],
        "request_fingerprint": "fp-" + order_id,
        "created_at": created_at,
        "updated_at": created_at,
        "version": 1,
    }
    fields.update(overrides)
    return OrderView.model_validate(fields)
