"""The outboxes: emails and the read model, drained beside the run loop, never in its way.

Provides: ``notify`` (queue a flow's emails, their idempotency keys made here), the
coroutines that send them and write the order database (``_drain_effects`` and
``_drain_left_emails`` since the patch ``effects-together``, the last effects of an order a
deadline ended as a local activity since ``final-effects-local``; ``_drain_emails`` and
``_drain_records`` for orders started before them), and the engine's ``resend_email``.
An SMTP or database outage delays mail and lists, never a deadline. Needs: the order's
view (``_view``), its history and version (``transition``, ``_record_dirty``), the pinned
``activity_policy``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from flows.spec import FlowSpec
    from models.actions import ResendEmailPayload
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
    )
    from models.common import Actor
    from models.ids import idempotency_key
    from models.orders import (
        NotificationRecord,
        NotificationStatus,
        OrderView,
        Transition,
    )
    from models.policy import ActivityPolicy
    from workflows.payments import cause_message


# Read-model writes retry until the database is back: the order must reach it eventually.
RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)


# Mail gives up after a bounded budget and is recorded as failed; support can resend it.
# The budget is the order's pinned ActivityPolicy; its defaults are these numbers.
EMAIL_MAX_INTERVAL = timedelta(minutes=1)


EMAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=EMAIL_MAX_INTERVAL,
    maximum_attempts=6,
    # activities/email.py raises it (non-retryable itself too): a template that cannot render.
    non_retryable_error_types=["EmailTemplateError"],
)


# A resent email's key: the first email's key plus ``:resend-<n>``.
RESEND_SUFFIX = ":resend-"


# Patch: queued emails are sent together, not one after the other (orders started before
# it replay the sequential outbox).
EMAILS_TOGETHER = "emails-together"


# Patch: a transition's emails and read-model write go out in one effects activity (one
# attempt; what it leaves, the single activities finish). Orders started before it keep
# the two outboxes' separate activities.
EFFECTS_TOGETHER = "effects-together"


# One try of everything; what is left is retried by send_email and record_order.
EFFECTS_RETRY = RetryPolicy(maximum_attempts=1)
# Patch: when a deadline ends an order (a storm of cancellations), its last effects run as
# a local activity in the workflow task that ended it: one workflow task, no activity task.
# Only then: a local activity holds its workflow task open, which would delay a running
# order's next deadline, or the answer to the action that ended it, while SMTP or the
# database is slow (an order ended by an action keeps the effects activity).
FINAL_EFFECTS_LOCAL = "final-effects-local"
# How long a finished order's local effects may take before the single activities take over.
LOCAL_EFFECTS_TIMEOUT = timedelta(seconds=10)
EFFECTS_TIMEOUT = timedelta(seconds=30)


class Outboxes:
    """The mail and read-model part of :class:`workflows.base.OrderWorkflow` (see the module)."""

    # What it needs of the other parts (OrderWorkflow provides them).
    spec: FlowSpec
    activity_policy: ActivityPolicy
    _status: str
    _history: list[Transition]
    _record_dirty: bool
    _finished: bool
    _ended_by_deadline: bool
    order_id: Callable[[], str]
    transition: Callable[..., None]
    _view: Callable[[], OrderView]

    def _start_outboxes(self) -> None:
        self._notifications: list[NotificationRecord] = []
        self._emails: list[SendEmailInput] = []
        # Set once the run loop is over: the outbox coroutines drain and return.
        self._stop = False
        # Emails whose last attempt failed or was skipped, by key: what resend_email sends.
        self._undelivered: dict[str, SendEmailInput] = {}
        self._resent_as: dict[str, str] = {}
        self._resends: dict[str, int] = {}
        # Effects outbox (EFFECTS_TOGETHER): keys of queued emails an activity has taken,
        # emails the effects activity left to send_email (with why its try failed), and
        # whether the read model is being written alone (the database was down).
        self._taken: set[str] = set()
        self._left: list[tuple[SendEmailInput, str]] = []
        self._writing_alone = False

    def notify(
        self, event: str, recipients: Sequence[tuple[str, str, str]], context: dict[str, str]
    ) -> None:
        """Queue one email per recipient (role or party, address, name) for this event."""
        seq = len(self._history)
        for role, address, name in recipients:
            self._emails.append(
                SendEmailInput(
                    idempotency_key=idempotency_key(self.order_id(), f"email-{event}-{role}", seq),
                    order_id=self.order_id(),
                    flow=self.spec.name,
                    event=event,
                    recipient_role=role,
                    to_address=address,
                    to_name=name,
                    context=context,
                )
            )

    def _email_retry(self) -> RetryPolicy:
        interval = self.activity_policy.email_retry_interval
        return dataclasses.replace(
            EMAIL_RETRY,
            initial_interval=interval,
            maximum_interval=max(EMAIL_MAX_INTERVAL, interval),
            maximum_attempts=self.activity_policy.email_max_attempts,
        )

    async def _drain_emails(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self._emails) or self._stop)
            if not self._emails:
                return
            if workflow.patched(EMAILS_TOGETHER):
                # Every queued email at once (an event mails both parties): one workflow
                # task for the batch and one read-model write after it, instead of one of
                # each per email. The batch stays queued until it is done, so the order
                # does not close before its mail is recorded.
                batch = list(self._emails)
                outcomes = await asyncio.gather(*(self._send(email) for email in batch))
                del self._emails[: len(batch)]
                for email, (status, detail) in zip(batch, outcomes, strict=True):
                    self._notified(email, status, detail)
                continue
            email = self._emails[0]
            status, detail = await self._send(email)
            self._emails.pop(0)
            self._notified(email, status, detail)

    async def _send(
        self, email: SendEmailInput, retry: RetryPolicy | None = None
    ) -> tuple[NotificationStatus, str | None]:
        try:
            result = await workflow.execute_activity(
                SEND_EMAIL,
                email,
                result_type=SendEmailResult,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=retry or self._email_retry(),
                summary=f"email {email.event} to {email.recipient_role}",
            )
        except ActivityError as exc:
            return NotificationStatus.failed, cause_message(exc)
        return result.status, result.detail

    def _notified(
        self, email: SendEmailInput, status: NotificationStatus, detail: str | None
    ) -> None:
        self._note(email, notification_record(email, status, detail, workflow.now()))
        self._record_dirty = True

    def _note(self, email: SendEmailInput, record: NotificationRecord) -> None:
        """Keep an email's outcome (a failed or skipped one can be resent)."""
        if record.status != NotificationStatus.sent:
            self._undelivered[email.idempotency_key] = email
        self._notifications.append(record)

    async def _drain_records(self) -> None:
        while True:
            await workflow.wait_condition(lambda: self._record_dirty or self._stop)
            if not self._record_dirty:
                return
            self._record_dirty = False
            await self._record()

    async def _record(self) -> None:
        """Write the order's view to the database, retrying until it is back."""
        await workflow.execute_activity(
            RECORD_ORDER,
            RecordOrderInput(view=self._view()),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RECORD_RETRY,
            summary=f"record order ({self._status})",
        )

    def _untaken(self) -> list[SendEmailInput]:
        return [e for e in self._emails if e.idempotency_key not in self._taken]

    def _settle(self, keys: set[str]) -> None:
        """Drop emails whose outcome is noted from the queue."""
        self._emails = [e for e in self._emails if e.idempotency_key not in keys]
        self._taken -= keys

    async def _drain_effects(self) -> None:
        while True:
            await workflow.wait_condition(
                lambda: self._record_dirty or bool(self._untaken()) or self._stop
            )
            batch = self._untaken()
            if not batch and not self._record_dirty:
                return
            self._taken.update(e.idempotency_key for e in batch)
            self._record_dirty = False
            mails = f" and {len(batch)} email{'s' if len(batch) != 1 else ''}" if batch else ""
            effects = EffectsInput(view=self._view(), emails=batch)
            summary = f"record order ({self._status}){mails}"
            try:
                # A deadline ended the order: the run loop has no deadline left to delay
                # and no caller waits for an answer, so the last effects run as a local
                # activity in the task that ended it (no server round trip). What it
                # leaves goes the single way, as below.
                local = self._ended_by_deadline and workflow.patched(FINAL_EFFECTS_LOCAL)
                execute = workflow.execute_local_activity if local else workflow.execute_activity
                result = await execute(
                    APPLY_EFFECTS,
                    effects,
                    result_type=EffectsResult,
                    start_to_close_timeout=LOCAL_EFFECTS_TIMEOUT if local else EFFECTS_TIMEOUT,
                    retry_policy=EFFECTS_RETRY,
                    summary=summary,
                )
            except ActivityError as exc:
                # Nothing known (a timeout, a worker without the activity): each part
                # goes the single way; an email's key keeps a repeat the same message.
                reason = cause_message(exc)
                self._left.extend((email, reason) for email in batch)
                result = EffectsResult(record_error=reason)
            self._adopt(batch, result)
            if not result.recorded:
                self._record_dirty = True
                await self._record_alone()

    def _adopt(self, batch: Sequence[SendEmailInput], result: EffectsResult) -> None:
        """Take in what the effects activity settled (already in the read model)."""
        by_key = {e.idempotency_key: e for e in batch}
        for record in result.notifications:
            self._note(by_key[record.idempotency_key], record)
        self._settle({r.idempotency_key for r in result.notifications})
        self._left.extend((by_key[k], why) for k, why in result.unsettled.items())

    async def _record_alone(self) -> None:
        """Write the read model with retries until the database takes it (and while the
        order keeps changing meanwhile)."""
        self._writing_alone = True
        try:
            while self._record_dirty:
                self._record_dirty = False
                await self._record()
        finally:
            self._writing_alone = False

    async def _drain_left_emails(self) -> None:
        while True:
            await workflow.wait_condition(
                lambda: (
                    bool(self._left)
                    or (self._writing_alone and bool(self._untaken()))
                    or self._stop
                )
            )
            # Emails queued while the read model waits for the database go out now.
            fresh = self._untaken() if self._writing_alone else []
            if not self._left and not fresh:
                return
            self._taken.update(e.idempotency_key for e in fresh)
            left, self._left = self._left, []
            if left:
                # The effects activity's try was the first attempt: wait as a retry would.
                await workflow.sleep(self._email_retry().initial_interval)
            attempts = self.activity_policy.email_max_attempts
            jobs = [self._send_left(email, why, attempts - 1) for email, why in left]
            jobs += [self._send(email) for email in fresh]
            outcomes = await asyncio.gather(*jobs)
            emails = [email for email, _ in left] + fresh
            for email, (status, detail) in zip(emails, outcomes, strict=True):
                self._notified(email, status, detail)
            self._settle({e.idempotency_key for e in emails})

    async def _send_left(
        self, email: SendEmailInput, why: str, attempts: int
    ) -> tuple[NotificationStatus, str | None]:
        """Send an email the effects activity tried once, with the attempts left."""
        if attempts < 1:
            return NotificationStatus.failed, why
        retry = dataclasses.replace(self._email_retry(), maximum_attempts=attempts)
        return await self._send(email, retry)

    def _engine_check(self, payload: BaseModel | None) -> str | None:
        if self._finished:
            return "the order is finished; its emails can no longer be sent"
        if isinstance(payload, ResendEmailPayload):
            return self._resend_refusal(payload.notification)
        return None if self._undelivered else "no email of this order failed or was skipped"

    def _resend_refusal(self, key: str) -> str | None:
        """Why the email ``key`` cannot be resent now (None if it can)."""
        if key in self._undelivered:
            return None
        if key in self._resent_as:
            return f"email {key} was resent already, as {self._resent_as[key]}"
        if any(e.idempotency_key == key for e in self._emails):
            return f"email {key} is still being sent"
        if any(n.idempotency_key == key for n in self._notifications):
            return f"email {key} was sent; only a failed or skipped email can be resent"
        return f"this order has no email {key!r}"

    def _resend_email(self, action: str, actor: Actor, key: str) -> None:
        """Queue a failed or skipped email again, under a new key derived from the first."""
        email = self._undelivered.pop(key)
        first = key.partition(RESEND_SUFFIX)[0]
        self._resends[first] = self._resends.get(first, 0) + 1
        new_key = f"{first}{RESEND_SUFFIX}{self._resends[first]}"
        self._resent_as[key] = new_key
        self._emails.append(email.model_copy(update={"idempotency_key": new_key}))
        self.transition(self._status, action, actor, f"email {key} resent as {new_key}")
