"""orderclock's own worker counters, counted from what the read model newly stores.

Workflow code stays deterministic and never touches ``prometheus_client``: the counters
are kept by a worker interceptor around the ``record_order`` activity, which sees every
version of every order's view (and around ``apply_effects``, which writes it with the
emails it sent: the view it wrote is its input's plus its result's notifications).
Before the activity writes, the interceptor reads what the database already holds for
the order (its version and stage, the transitions' sequence numbers, each
notification's status and each payment's outcome by idempotency key); once the activity
has succeeded it counts only the difference. So:

- a retried or repeated ``record_order`` with the same view counts nothing the second
  time (the rows are already there);
- a view older than the stored one is ignored by the writer and counted by no one;
- a failed attempt counts nothing (its transaction was rolled back); the retry counts.

What this cannot see: a worker that dies after the write committed and before counting
loses those increments (counters here are at most once, never twice), and two attempts
of one order's ``record_order`` running at the same moment (only after an activity
timeout) could both count a row. Counters are per process, as Prometheus expects: sum
them over worker replicas.

Deadlines: a transition by the ``system`` actor is a deadline that fired; a transition by
a person out of a state that has a deadline met it. The deadline's name comes from the
order's stored ``next_deadline_name`` when that was the pending one, otherwise from the
flow's spec (the deadline named like the action, or the state's first deadline).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from db.tables import NOTIFICATIONS, ORDERS, PAYMENTS, TRANSITIONS
from flows.catalog import flow_spec
from flows.spec import FlowSpec
from models.activities import (
    APPLY_EFFECTS,
    RECORD_ORDER,
    EffectsInput,
    EffectsResult,
    RecordOrderInput,
    recorded_view,
)
from models.common import Role
from models.orders import OrderView, Transition

NO_STATUS = "none"
"""The ``from`` label of an order's creation (it comes from no status)."""
UNKNOWN_DEADLINE = "unknown"


class OrderMetrics:
    """The worker's order counters, on a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.orders_started = Counter(
            "orderclock_orders_started",
            "Orders created, by flow.",
            ["flow"],
            registry=self.registry,
        )
        self.transitions = Counter(
            "orderclock_transitions",
            "Order transitions recorded, by flow, from and to status.",
            ["flow", "from_status", "to_status"],
            registry=self.registry,
        )
        self.deadlines = Counter(
            "orderclock_deadlines",
            "Deadlines that fired (outcome=fired) or were met by a person (outcome=met).",
            ["flow", "deadline", "outcome"],
            registry=self.registry,
        )
        self.payments = Counter(
            "orderclock_payment_outcomes",
            "Payment outcomes recorded, by flow, kind and outcome.",
            ["flow", "kind", "outcome"],
            registry=self.registry,
        )
        self.emails = Counter(
            "orderclock_email_outcomes",
            "Email outcomes recorded, by flow, event and status.",
            ["flow", "event", "status"],
            registry=self.registry,
        )


@dataclass
class StoredOrder:
    """What the read model held for an order before a write."""

    version: int | None = None
    status: str | None = None
    next_deadline: str | None = None
    transition_seqs: set[int] = field(default_factory=set)
    notification_status: dict[str, str] = field(default_factory=dict)
    payment_outcome: dict[str, str] = field(default_factory=dict)


def read_stored(engine: Engine, order_id: str) -> StoredOrder:
    """The stored state of ``order_id`` (an empty one if the order is not stored yet)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(ORDERS.c.version, ORDERS.c.status, ORDERS.c.next_deadline_name).where(
                ORDERS.c.order_id == order_id
            )
        ).first()
        if row is None:
            return StoredOrder()
        seqs = conn.execute(select(TRANSITIONS.c.seq).where(TRANSITIONS.c.order_id == order_id))
        notes = conn.execute(
            select(NOTIFICATIONS.c.idempotency_key, NOTIFICATIONS.c.status).where(
                NOTIFICATIONS.c.order_id == order_id
            )
        )
        pays = conn.execute(
            select(PAYMENTS.c.idempotency_key, PAYMENTS.c.outcome).where(
                PAYMENTS.c.order_id == order_id
            )
        )
        return StoredOrder(
            version=int(row.version),
            status=row.status,
            next_deadline=row.next_deadline_name,
            transition_seqs={int(s) for (s,) in seqs},
            notification_status={str(k): str(v) for k, v in notes},
            payment_outcome={str(k): str(v) for k, v in pays},
        )


def deadline_name(spec: FlowSpec | None, t: Transition, pending: str | None) -> str | None:
    """The deadline a transition fired or met (None if its state has no deadline)."""
    if spec is None or t.from_status is None:
        return None
    names = [d.name for d in spec.deadlines if d.state == t.from_status]
    if not names:
        return None
    if pending in names:
        return pending
    if t.action in names:
        return t.action
    return names[0]


def count_new(metrics: OrderMetrics, view: OrderView, before: StoredOrder) -> None:
    """Count what ``view`` adds to ``before`` (call only once the view was stored)."""
    if before.version is not None and before.version > view.version:
        return  # the writer ignored this older view
    flow = view.flow
    spec = flow_spec(flow)
    # The stored pending deadline is known only for the first new transition's state.
    pending = before.next_deadline
    status = before.status
    for t in sorted(view.history, key=lambda t: t.seq):
        if t.seq in before.transition_seqs:
            continue
        if t.from_status is None:
            metrics.orders_started.labels(flow).inc()
        metrics.transitions.labels(flow, t.from_status or NO_STATUS, t.to_status).inc()
        known = pending if t.from_status == status else None
        name = deadline_name(spec, t, known)
        if name is not None:
            if t.actor.role == Role.system:
                metrics.deadlines.labels(flow, name, "fired").inc()
            elif t.to_status != t.from_status:
                metrics.deadlines.labels(flow, name, "met").inc()
        pending, status = None, t.to_status
    for n in _last_by_key(view.notifications):
        if before.notification_status.get(n.idempotency_key) != n.status.value:
            metrics.emails.labels(flow, n.event, n.status.value).inc()
    for p in _last_by_key(view.payments):
        if before.payment_outcome.get(p.idempotency_key) != p.outcome.value:
            metrics.payments.labels(flow, p.kind.value, p.outcome.value).inc()


def _last_by_key(records: list[Any]) -> list[Any]:
    # The writer keeps a key's last state when the view lists it twice; so do we.
    return list({r.idempotency_key: r for r in records}.values())


class OrderMetricsInterceptor(Interceptor):
    """Worker interceptor that counts what each ``record_order`` newly stores."""

    def __init__(self, engine: Engine, metrics: OrderMetrics) -> None:
        self.engine = engine
        self.metrics = metrics

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _RecordOrderCounter(next, self)


class _RecordOrderCounter(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, root: OrderMetricsInterceptor) -> None:
        super().__init__(next)
        self._root = root

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        record = input.args[0] if input.args else None
        kind = activity.info().activity_type
        if not (
            (kind == RECORD_ORDER and isinstance(record, RecordOrderInput))
            or (kind == APPLY_EFFECTS and isinstance(record, EffectsInput))
        ):
            return await super().execute_activity(input)
        view = record.view
        try:
            before = await asyncio.to_thread(read_stored, self._root.engine, view.order_id)
        except SQLAlchemyError as err:
            # The write itself will fail the same way and say so; counting waits for the
            # retry (at most once, as everywhere here).
            activity.logger.warning("order %s: database unreadable: %s", view.order_id, err)
            return await super().execute_activity(input)
        result = await super().execute_activity(input)
        if isinstance(record, EffectsInput):
            # The effects activity wrote the view with the emails it settled, or nothing.
            if not isinstance(result, EffectsResult) or not result.recorded:
                return result
            view = recorded_view(record, result)
        try:
            count_new(self._root.metrics, view, before)
        except Exception:  # metrics must never fail a recorded order
            activity.logger.exception("order %s: counting metrics failed", view.order_id)
        return result
