"""The effects activity: a transition's emails and its read-model write in one round trip.

An order that changes (a deadline cancels it) used to cost the server one activity per
side effect: the read-model write, one per email, and a second write recording the
emails' outcomes. ``apply_effects`` does all of it in one activity task: it tries each
queued email once (together), then writes the view with the settled emails' records in
one database transaction (the ``record_order`` writer), and answers what it did.

It never raises for SMTP or the database: what it could not finish comes back in the
result (``unsettled`` emails, ``recorded=False``) and the workflow finishes it the single
way, with ``send_email`` (the rest of the mail's bounded retry budget) and
``record_order`` (retries until the database is back). So the workflow schedules it with
one attempt, and an outage costs one extra round trip, never a lost email or write.

It is built from the ``send_email`` and ``record_order`` registered beside it
(:func:`with_effects`): one implementation of each effect, the same fakes in tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.activities import (
    APPLY_EFFECTS,
    RECORD_ORDER,
    SEND_EMAIL,
    EffectsInput,
    EffectsResult,
    RecordOrderInput,
    SendEmailInput,
    SendEmailResult,
    notification_record,
    recorded_view,
)
from models.orders import NotificationStatus

SendEmail = Callable[[SendEmailInput], Awaitable[SendEmailResult]]
RecordOrder = Callable[[RecordOrderInput], Awaitable[None]]
# An error's text in the result, at most (it goes into the workflow's history).
MAX_DETAIL = 300


class EffectsActivities:
    """``apply_effects`` over the worker's own email sender and read-model writer."""

    def __init__(self, send_email: SendEmail, record_order: RecordOrder) -> None:
        self._send_email = send_email
        self._record_order = record_order

    @activity.defn(name=APPLY_EFFECTS)
    async def apply_effects(self, input: EffectsInput) -> EffectsResult:
        """Try each email once, then write the view with the settled ones' records."""
        tried = await asyncio.gather(*(self._try(email) for email in input.emails))
        at = datetime.now(UTC)
        result = EffectsResult()
        for email, outcome in zip(input.emails, tried, strict=True):
            if isinstance(outcome, str):
                result.unsettled[email.idempotency_key] = outcome
            else:
                status, detail = outcome
                result.notifications.append(notification_record(email, status, detail, at))
        try:
            await self._record_order(RecordOrderInput(view=recorded_view(input, result)))
        except Exception as exc:  # the database's error: the workflow retries the write
            result.record_error = _text(exc)
            activity.logger.warning(
                "order %s: read model not written (%s); the workflow retries it",
                input.view.order_id,
                result.record_error,
            )
        else:
            result.recorded = True
        return result

    async def _try(self, email: SendEmailInput) -> tuple[NotificationStatus, str | None] | str:
        """The email's outcome, or why it failed for now (a retry may succeed)."""
        try:
            sent = await self._send_email(email)
        except ApplicationError as exc:
            if exc.non_retryable:
                # A template that cannot render: retrying will not help (as send_email's
                # own retry policy has it), so it is failed now.
                return NotificationStatus.failed, _text(exc)
            return _text(exc)
        except Exception as exc:
            return _text(exc)
        return sent.status, sent.detail


def _text(exc: BaseException) -> str:
    """The error as the workflow's ``cause_message`` gives it for a failed activity."""
    message = str(exc) or type(exc).__name__
    return message[:MAX_DETAIL]


def activity_name(fn: Callable[..., Any]) -> str | None:
    """The Temporal activity name of ``fn`` (None if it is not an activity)."""
    definition = activity._Definition.from_callable(fn)
    return definition.name if definition is not None else None


def with_effects(activities: Sequence[Callable[..., Any]]) -> list[Callable[..., Any]]:
    """``activities`` plus ``apply_effects`` built from their ``send_email`` and
    ``record_order`` (unless one is missing or ``apply_effects`` is already there)."""
    by_name = {activity_name(fn): fn for fn in activities}
    send, record = by_name.get(SEND_EMAIL), by_name.get(RECORD_ORDER)
    if APPLY_EFFECTS in by_name or send is None or record is None:
        return list(activities)
    return [*activities, EffectsActivities(send, record).apply_effects]
