"""Activities that write the order database (the read model and audit trail).

The database drivers block, so each activity runs its transaction in a worker thread
(``asyncio.to_thread``) and keeps the worker's event loop free; the activities stay
``async`` so the worker needs no activity executor for them. A database error fails the
attempt as a short retryable :data:`ORDER_DATABASE_ERROR` (see :func:`database_failure`)
and Temporal retries it; every write is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from db.engine import session_scope
from db.tables import TRANSITIONS
from db.writes import PayoutConflictError, store_order_view, store_payout
from models.activities import (
    RECORD_ORDER,
    RECORD_PAYOUT,
    RecordOrderInput,
    RecordPayoutInput,
    RecordPayoutResult,
)
from models.orders import OrderView, Transition

# One INFO line per transition, when the read model first records it: what an operator
# greps for an order in the worker's log (`orderclock dev` writes it to worker.log).
transition_log = logging.getLogger("orderclock.transitions")

PAYOUT_CONFLICT = "PayoutConflict"
ORDER_DATABASE_ERROR = "OrderDatabaseError"


def database_failure(err: SQLAlchemyError) -> ApplicationError:
    """A retryable error naming the database problem in one line, to raise ``from None``.

    SQLAlchemy's message carries the statement and its parameters (the order's view, with
    names and emails, which Temporal would keep unencrypted in the failure) and chains the
    driver's errors; together they made the failure bigger than the 4 KB Temporal keeps of
    a pending activity's last failure ("Failure exceeds size limit." instead of the reason).
    """
    cause = err.orig if isinstance(err, DBAPIError) and err.orig is not None else err
    lines = str(cause).strip().splitlines() or [""]
    reason = lines[0][:300]
    return ApplicationError(
        f"order database: {type(cause).__name__}: {reason}", type=ORDER_DATABASE_ERROR
    )


class OrderRecordActivities:
    """Read-model writers, built by the worker with the database engine injected."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name=RECORD_ORDER)
    async def record_order(self, input: RecordOrderInput) -> None:
        """Upsert the order's view; an older version than the stored one is ignored."""
        try:
            stored, new = await asyncio.to_thread(self._record_order, input)
        except SQLAlchemyError as err:
            raise database_failure(err) from None
        for step in new:
            log_transition(input.view, step)
        if not stored:
            activity.logger.info(
                "order %s: view version %d is older than the stored one; ignored",
                input.view.order_id,
                input.view.version,
            )

    @activity.defn(name=RECORD_PAYOUT)
    async def record_payout(self, input: RecordPayoutInput) -> RecordPayoutResult:
        """Record the provider's payout once; a retry returns the first reference and time."""
        try:
            return await asyncio.to_thread(self._record_payout, input)
        except PayoutConflictError as err:
            # A second key for one order is a bug in the caller; retrying cannot fix it.
            raise ApplicationError(str(err), type=PAYOUT_CONFLICT, non_retryable=True) from err
        except SQLAlchemyError as err:
            raise database_failure(err) from None

    def _record_order(self, input: RecordOrderInput) -> tuple[bool, list[Transition]]:
        """Store the view; whether it was, and the transitions not recorded before."""
        view = input.view
        with session_scope(self._engine) as session:
            # Transitions are append-only by seq: those above the stored maximum are new,
            # so a retried or repeated record logs nothing twice.
            last = session.execute(
                sa.select(sa.func.max(TRANSITIONS.c.seq)).where(
                    TRANSITIONS.c.order_id == view.order_id
                )
            ).scalar()
            stored = store_order_view(session, view)
        new = [t for t in view.history if last is None or t.seq > last] if stored else []
        return stored, new

    def _record_payout(self, input: RecordPayoutInput) -> RecordPayoutResult:
        with session_scope(self._engine) as session:
            row = store_payout(session, input, paid_at=datetime.now(UTC))
            return RecordPayoutResult(reference=row.reference, paid_at=row.paid_at)


def log_transition(view: OrderView, step: Transition) -> None:
    """``order A-1 (prepaid_service): confirmation -> payment by provider:pro-1 (confirm)``."""
    actor = step.actor.role + (f":{step.actor.id}" if step.actor.id else "")
    transition_log.info(
        "order %s (%s): %s -> %s by %s (%s)",
        view.order_id,
        view.flow,
        step.from_status or "-",
        step.to_status,
        actor,
        step.action,
        extra={
            "order_id": view.order_id,
            "flow": view.flow,
            "from_status": step.from_status,
            "to_status": step.to_status,
            "actor": actor,
            "action": step.action,
            "seq": step.seq,
        },
    )
