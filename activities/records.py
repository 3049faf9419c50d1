"""Activities that write the order database (the read model and audit trail).

The database drivers block, so each activity runs its transaction in a worker thread
(``asyncio.to_thread``) and keeps the worker's event loop free; the activities stay
``async`` so the worker needs no activity executor for them. Database errors are not
caught: they fail the attempt and Temporal retries it, and every write is idempotent.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from db.engine import session_scope
from db.writes import PayoutConflictError, store_order_view, store_payout
from models.activities import (
    RECORD_ORDER,
    RECORD_PAYOUT,
    RecordOrderInput,
    RecordPayoutInput,
    RecordPayoutResult,
)

PAYOUT_CONFLICT = "PayoutConflict"


class OrderRecordActivities:
    """Read-model writers, built by the worker with the database engine injected."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name=RECORD_ORDER)
    async def record_order(self, input: RecordOrderInput) -> None:
        """Upsert the order's view; an older version than the stored one is ignored."""
        stored = await asyncio.to_thread(self._record_order, input)
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

    def _record_order(self, input: RecordOrderInput) -> bool:
        with session_scope(self._engine) as session:
            return store_order_view(session, input.view)

    def _record_payout(self, input: RecordPayoutInput) -> RecordPayoutResult:
        with session_scope(self._engine) as session:
            row = store_payout(session, input, paid_at=datetime.now(UTC))
            return RecordPayoutResult(reference=row.reference, paid_at=row.paid_at)
