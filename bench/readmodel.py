"""Realistic read-model rows, written through the real path (``db.writes.store_order_view``)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from db.engine import make_engine, session_scope
from db.writes import store_order_view
from flows.prepaid_service.declaration import prepaid_service_spec
from flows.prepaid_service.models import Appointment
from flows.prepaid_service.policy import PrepaidPolicy
from models.common import SYSTEM, Actor, LineItem, Party, Role
from models.ids import idempotency_key
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

# How open and finished orders are spread in a working read model.
STATUS_WEIGHTS = {
    "confirmation": 20,
    "payment": 10,
    "execution": 20,
    "execution_confirmation": 10,
    "closed": 30,
    "cancelled": 10,
}
# The path each status was reached by (the actions of its history after "create").
PATHS = {
    "confirmation": [],
    "payment": [("confirm", "payment")],
    "execution": [("confirm", "payment"), ("pay", "execution")],
    "execution_confirmation": [
        ("confirm", "payment"),
        ("pay", "execution"),
        ("mark_done", "execution_confirmation"),
    ],
    "closed": [
        ("confirm", "payment"),
        ("pay", "execution"),
        ("mark_done", "execution_confirmation"),
        ("confirm_execution", "closed"),
    ],
    "cancelled": [("confirm", "payment"), ("cancel", "cancelled")],
}
CUSTOMERS = 2000
BATCH = 500
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
SPEC = prepaid_service_spec(PrepaidPolicy())


def order_view(i: int, rng: random.Random) -> OrderView:
    """Order number ``i``: a status drawn by weight, its history, mail and payments."""
    status = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
    order_id = f"rm-{i:07d}"
    created = T0 + timedelta(minutes=i)
    customer = Party(id=f"cus-{i % CUSTOMERS}", name="Cleo Customer", email="cleo@example.com")
    provider = Party(id=f"pro-{i % 300}", name="Piet Provider", email="piet@example.com")
    amount = rng.randrange(20, 300) * 100
    history = [
        Transition(
            seq=1,
            at=created,
            actor=Actor(role=Role.system, id="api", key_name="service"),
            action="create",
            from_status=None,
            to_status="confirmation",
        )
    ]
    notifications: list[NotificationRecord] = []
    payments: list[PaymentRecord] = []
    previous = "confirmation"
    for seq, (step, to_status) in enumerate(PATHS[status], start=2):
        at = created + timedelta(hours=seq)
        actor = Actor(role=Role.customer, id=customer.id) if step in ("pay", "cancel") else SYSTEM
        history.append(
            Transition(
                seq=seq, at=at, actor=actor, action=step, from_status=previous, to_status=to_status
            )
        )
        previous = to_status
        if step == "pay":
            payments.append(
                PaymentRecord(
                    seq=1,
                    kind=PaymentKind.charge,
                    idempotency_key=idempotency_key(order_id, "charge", 1),
                    amount=amount,
                    currency="EUR",
                    outcome=PaymentOutcome.succeeded,
                    provider_id=f"pi_{i}",
                    at=at,
                )
            )
        for role, party in ((Role.customer, customer), (Role.provider, provider)):
            notifications.append(
                NotificationRecord(
                    idempotency_key=idempotency_key(order_id, f"email-{step}-{role}", seq),
                    event=step,
                    recipient_role=role,
                    to=str(party.email),
                    status=NotificationStatus.sent,
                    at=at,
                )
            )
    last = history[-1].at
    terminal = SPEC.state(status).terminal
    deadline = (
        None
        if terminal
        else DeadlineView(
            name=status,
            due_at=last + timedelta(hours=12),
            due_at_local=last + timedelta(hours=12),
            on_expiry="the order is cancelled automatically",
        )
    )
    paid = amount if payments else 0
    return OrderView(
        order_id=order_id,
        flow="prepaid_service",
        status=status,
        stage=SPEC.state(status).label,
        customer=customer,
        provider=provider,
        items=[LineItem(name="Massage", quantity=1, unit_amount=amount)],
        currency="EUR",
        amount_total=amount,
        appointment=Appointment(
            start=created + timedelta(days=3), duration_minutes=60, time_zone="Europe/Berlin"
        ),
        awaiting=Role.provider if status == "confirmation" else None,
        next_deadline=deadline,
        amount_paid=paid,
        amount_refunded=paid if status == "cancelled" else 0,
        payments=payments,
        notifications=notifications,
        history=history,
        request_fingerprint=f"{i:064x}",
        created_at=created,
        updated_at=last,
        closed_at=last if terminal else None,
        version=len(history) + len(notifications),
    )


def views(start: int, stop: int, seed: int = 6) -> Iterator[OrderView]:
    rng = random.Random(seed * 1_000_003 + start)
    for i in range(start, stop):
        yield order_view(i, rng)


def fill(database_url: str, start: int, stop: int) -> None:
    """Write orders ``start`` to ``stop`` through ``store_order_view``, BATCH per transaction."""
    engine = make_engine(database_url)
    try:
        for low in range(start, stop, BATCH):
            with session_scope(engine) as session:
                for view in views(low, min(low + BATCH, stop)):
                    store_order_view(session, view)
    finally:
        engine.dispose()
