"""The engine every order flow shares: one message surface, deadlines, outboxes.

A flow subclasses :class:`OrderWorkflow` and supplies its rules (which action is allowed
now, what it does, which deadlines run). The engine gives every flow the same surface:

- each action is a Temporal Update named after the action (a dynamic handler), with a
  validator that rejects what is not allowed before it enters history;
- the query ``view`` returns the order's :class:`OrderView`;
- the signal ``stripe_event`` carries verified payment webhooks;
- the run loop waits for the earliest deadline with ``wait_condition(timeout=...)``, so a
  deadline that moves (an edit restarts a window) cancels the old timer instead of
  letting it fire;
- emails and read-model writes go through outboxes drained by their own coroutines, so
  an SMTP or database outage delays mail and lists but never a deadline.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar, cast

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TemporalError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ValidationError

    from flows.catalog import FLOWS
    from flows.spec import FlowEntry, FlowSpec
    from models import errors, search
    from models.actions import ENGINE_ACTION_PAYLOADS, ResendEmailPayload
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
    from models.clock import readable_with_utc, to_zone
    from models.common import SYSTEM, Actor, OrderRequest, Role
    from models.ids import idempotency_key
    from models.orders import (
        ActionRequest,
        DeadlineView,
        FiredDeadline,
        NotificationRecord,
        NotificationStatus,
        OrderView,
        PaymentRecord,
        StartOrderInput,
        StripeEvent,
        Transition,
    )
    from models.policy import ActivityPolicy
    from workflows.payments import PaymentLedger, cause_message

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
HUMAN_ROLES = (Role.customer, Role.provider, Role.support)
# Patch: queued emails are sent together, not one after the other (orders started before
# it replay the sequential outbox).
EMAILS_TOGETHER = "emails-together"
# Patch: a transition's emails and read-model write go out in one effects activity (one
# attempt; what it leaves, the single activities finish). Orders started before it keep
# the two outboxes' separate activities.
EFFECTS_TOGETHER = "effects-together"
# One try of everything; what is left is retried by send_email and record_order.
EFFECTS_RETRY = RetryPolicy(maximum_attempts=1)
# Patch: an action's handler first runs every deadline already due by the workflow's clock,
# then checks the action against the deadlines' gates. A worker that was down when a
# deadline passed gets the timer and the action in one workflow task, and the action's
# handler runs first: without this the action won the race its deadline had closed.
DEADLINES_WIN = "deadlines-win"
# Patch: the attention flag clears when the order reaches a terminal state or finishes
# (the Web UI's "needs attention" filter must not list finished orders).
ATTENTION_CLEARS = "attention-clears"
# Patch: the read model gets the finished order's view (no actions, its last deadline fired)
# even when finishing changed nothing else: the database kept the view from before, which
# advertised actions the closed workflow can no longer take.
FINAL_RECORD = "final-record"
# Deadlines one action's handler may run before checking it (each expiry removes or moves
# its deadline; the bound only guards against a flow whose expiry does not).
MAX_DUE_AT_ONCE = 8
# An unexpected error's text in a refusal, at most (it also flags the order).
MAX_ERROR_TEXT = 300


@dataclass
class Deadline:
    """A pending deadline: when it is due and what happens then.

    A deadline that is not ``shown`` (a reminder) runs like any other but is never the
    order's "next deadline" in its view, search attributes or emails: those name the
    deadline with consequences.
    """

    name: str
    due_at: datetime
    on_expiry: str
    expire: Callable[[], Awaitable[None]]
    shown: bool = True


def reject(message: str, kind: str = errors.NOT_ALLOWED) -> ApplicationError:
    """An error that fails the Update (not the workflow) with a readable reason."""
    return ApplicationError(message, type=kind, non_retryable=True)


Method = TypeVar("Method", bound=Callable[..., Any])
RequestT = TypeVar("RequestT", bound=OrderRequest)
PolicyT = TypeVar("PolicyT", bound=BaseModel)
# The attributes the decorators below set on a flow's methods.
_ACTIONS, _REFUSALS, _EXPIRIES = "__order_actions__", "__order_refusals__", "__order_expiries__"


def _marking(attribute: str, names: tuple[str, ...]) -> Callable[[Method], Method]:
    def mark(method: Method) -> Method:
        setattr(method, attribute, names)
        return method

    return mark


def on_action(*names: str) -> Callable[[Method], Method]:
    """The handler of these declared actions: ``(self, actor, payload)``, sync or async.

    It runs under the order's lock once every check passed; what it raises is a refusal
    (``reject``) or, if unexpected, an ``ActionFailed`` answer (never a failed task).
    """
    return _marking(_ACTIONS, names)


def refusal(*names: str) -> Callable[[Method], Method]:
    """Why these actions are refused now: ``(self, actor, payload) -> str | None``.

    Called after the declaration's role and state check and the flow's ``rules``; the
    payload is None when the engine lists the actions allowed now. No side effects.
    """
    return _marking(_REFUSALS, names)


def on_expiry(*names: str) -> Callable[[Method], Method]:
    """What happens when these declared deadlines expire: ``async (self) -> None``."""
    return _marking(_EXPIRIES, names)


def _marked(cls: type, attribute: str) -> dict[str, str]:
    """Name -> method name, for the methods of ``cls`` (and its bases) marked so."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        for method_name, member in vars(klass).items():
            for name in getattr(member, attribute, ()):
                found[name] = method_name
    return found


class OrderWorkflow(Generic[RequestT, PolicyT]):
    """Base of every order flow's workflow class (not itself a workflow).

    A flow names itself (``class DealerOrderWorkflow(OrderWorkflow[...], flow="dealer_order")``)
    and the engine takes the rest from the flow's catalog entry: the request and policy
    types, the declaration (``self.spec``), the initial status. Each declared action has
    one ``@on_action`` handler (and optionally a ``@refusal``), each declared deadline one
    ``@on_expiry`` handler; a flow whose handlers do not match its declaration fails at
    import, naming what is missing.
    """

    entry: ClassVar[FlowEntry]
    _handlers: ClassVar[dict[str, str]]
    _refusals: ClassVar[dict[str, str]]
    _expiries: ClassVar[dict[str, str]]
    spec: FlowSpec
    # A flow that takes payments sets its ledger; holds are then renewed by the engine.
    ledger: PaymentLedger | None = None

    def __init_subclass__(cls, flow: str | FlowEntry | None = None, **kwargs: Any) -> None:
        # ``flow``: a flow of the catalog by name (or, in tests, an entry of its own).
        super().__init_subclass__(**kwargs)
        if flow is None:
            return
        cls.entry = FLOWS[flow] if isinstance(flow, str) else flow
        cls._handlers = _marked(cls, _ACTIONS)
        cls._refusals = _marked(cls, _REFUSALS)
        cls._expiries = _marked(cls, _EXPIRIES)
        spec = cls.entry.spec(None)
        declared = {
            "actions": set(spec.flow_actions()),
            "deadlines": {d.name for d in spec.deadlines},
        }
        handled = {"actions": set(cls._handlers), "deadlines": set(cls._expiries)}
        for kind, names in declared.items():
            if names != handled[kind]:
                raise TypeError(
                    f"{cls.__name__}: declared {kind} without a handler "
                    f"{sorted(names - handled[kind])}, handlers of undeclared {kind} "
                    f"{sorted(handled[kind] - names)}"
                )
        unknown = set(cls._refusals) - declared["actions"]
        if unknown:
            raise TypeError(f"{cls.__name__}: refusals of undeclared actions {sorted(unknown)}")

    def __init__(self, input: StartOrderInput) -> None:
        self._input = input
        # Pinned at start (None: an order from before it existed, run with the defaults).
        self.activity_policy = input.activities or ActivityPolicy()
        self._policy = cast(PolicyT, self.entry.policy.model_validate(input.policy))
        self.spec = self.entry.spec(self._policy)
        self._lock = asyncio.Lock()
        self._status = self.spec.initial
        self._history: list[Transition] = []
        self._notifications: list[NotificationRecord] = []
        self._emails: list[SendEmailInput] = []
        self._record_dirty = False
        self._finished = False
        self._version = 0
        self._needs_attention = False
        self._attention_reason: str | None = None
        self._created_at: datetime = workflow.now()
        self._updated_at: datetime = self._created_at
        self._closed_at: datetime | None = None
        self._seen_events: set[str] = set()
        # Hidden from the default list (a flow's "archive" action sets it).
        self._archived = False
        self._fired: list[FiredDeadline] = []
        self._last_search: dict[str, Any] = {}
        # Set once the run loop is over: the outbox coroutines drain and return.
        self._stop = False
        # Emails whose last attempt failed or was skipped, by key: what resend_email sends.
        self._undelivered: dict[str, SendEmailInput] = {}
        self._resent_as: dict[str, str] = {}
        self._resends: dict[str, int] = {}
        # The tenant of the key that created the order (None: created without one).
        self._tenant: str | None = None
        # Effects outbox (EFFECTS_TOGETHER): keys of queued emails an activity has taken,
        # emails the effects activity left to send_email (with why its try failed), and
        # whether the read model is being written alone (the database was down).
        self._taken: set[str] = set()
        self._left: list[tuple[SendEmailInput, str]] = []
        self._writing_alone = False

    # ----- what a flow supplies -------------------------------------------------------

    def rules(self, action: str, actor: Actor) -> str | None:
        """A refusal that holds for several actions at once (the flow's own, if any).

        Checked after the declaration's role and state, before the action's ``@refusal``.
        """
        return None

    def check(self, action: str, actor: Actor, payload: BaseModel | None) -> str | None:
        """Why ``actor`` may not take ``action`` now (None if allowed). No side effects.

        After the declaration's check (who, in which state): ``rules``, then the action's
        own ``@refusal``.
        """
        reason = self.rules(action, actor)
        if reason is not None:
            return reason
        method = self._refusals.get(action)
        refused: str | None = getattr(self, method)(actor, payload) if method else None
        return refused

    async def apply(self, action: str, actor: Actor, payload: BaseModel) -> None:
        """Carry the action out (under the lock, after ``check`` passed): its handler."""
        done = getattr(self, self._handlers[action])(actor, payload)
        if inspect.isawaitable(done):
            await done

    def deadlines(self) -> list[Deadline]:
        """The deadlines running now (each made with ``due``)."""
        raise NotImplementedError

    def due(self, name: str, at: datetime) -> Deadline:
        """The declared deadline ``name``, due ``at``: its text and handler as declared."""
        spec = self.spec.deadline(name)
        if spec is None:
            raise LookupError(f"{self.spec.name} declares no deadline {name!r}")
        expire = getattr(self, self._expiries[name])
        return Deadline(name, at, spec.on_expiry, expire, shown=spec.shown)

    def build_view(self, base: dict[str, Any]) -> OrderView:
        """The order's view from the engine's part ``base`` plus the flow's own fields."""
        raise NotImplementedError

    @property
    def req(self) -> RequestT:
        """The order's request, as the API accepted it."""
        request = self._input.request
        if not isinstance(request, self.entry.request):
            raise TypeError(f"{self.spec.name} started with a {type(request).__name__}")
        return cast(RequestT, request)

    def order_id(self) -> str:
        return self._input.order_id

    def customer_id(self) -> str:
        return self.req.customer_ref()

    def zone(self) -> str:
        """The order's time zone (for local deadline times)."""
        return "UTC"

    async def on_stripe_event(self, event: StripeEvent) -> None:
        """A verified payment webhook for this order (flows with payments override)."""

    # ----- the message surface --------------------------------------------------------

    @workflow.update(dynamic=True)
    async def act(self, name: str, args: Sequence[RawValue]) -> OrderView:
        """Perform an action (the Update's name is the action's name)."""
        request, payload = self._decode(name, args)
        async with self._lock:
            # The state may have moved between validation and now (another Update ran, or
            # a deadline passed while we waited for the lock): the deadline wins.
            gated = workflow.patched(DEADLINES_WIN)
            expired: list[Deadline] = []
            if gated:
                expired = await self._expire_due()
            reason = self._check(name, request.actor, payload, gated=gated, expired=expired)
            if reason is not None:
                raise reject(reason)
            await self._apply_answering(name, request.actor, payload)
        return self.view()

    async def _apply_answering(self, action: str, actor: Actor, payload: BaseModel) -> None:
        """Apply the action; an unexpected error becomes an answer, never a failed task.

        A failed workflow task would retry the same error for ever while the client waits
        and every later action queues behind it. The order is flagged for support instead.
        """
        try:
            await self._apply(action, actor, payload)
        except (TemporalError, asyncio.CancelledError):
            # ApplicationError (a refusal), ActivityError, nondeterminism: the SDK's own.
            raise
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_TEXT]
            workflow.logger.exception("action %s failed unexpectedly", action)
            self.attention(f"action {action} failed unexpectedly: {detail}")
            raise reject(
                f"{action} could not be carried out ({detail}); the order is flagged for "
                "support and otherwise unchanged",
                errors.ACTION_FAILED,
            ) from None

    @act.validator
    def validate_act(self, name: str, args: Sequence[RawValue]) -> None:
        """Reject an action that is unknown, malformed or not allowed now for this actor."""
        request, payload = self._decode(name, args)
        reason = self._check(name, request.actor, payload)
        if reason is not None:
            raise reject(reason)

    @workflow.query
    def view(self) -> OrderView:
        """The order as clients and support see it."""
        return self._view()

    @workflow.signal
    async def stripe_event(self, event: StripeEvent) -> None:
        """A verified Stripe webhook; a duplicate event id changes nothing."""
        if event.event_id in self._seen_events:
            return
        self._seen_events.add(event.event_id)
        async with self._lock:
            await self.on_stripe_event(event)

    def _decode(self, name: str, args: Sequence[RawValue]) -> tuple[ActionRequest, BaseModel]:
        model = self.spec.payload_model(name)
        if model is None:
            raise reject(f"{self.spec.name} has no action {name!r}", errors.UNKNOWN_ACTION)
        if len(args) != 1:
            raise reject("an action takes exactly one ActionRequest", errors.INVALID_PAYLOAD)
        try:
            request = workflow.payload_converter().from_payload(args[0].payload, ActionRequest)
            payload = model.model_validate(request.payload)
        except (ValidationError, ValueError, TypeError) as exc:
            message = f"invalid {name} request: {_first_error(exc)}"
            raise reject(message, errors.INVALID_PAYLOAD) from None
        actor = request.actor
        if actor.role == Role.system:
            raise reject("the system role is orderclock's own", errors.NOT_ALLOWED)
        if actor.role in (Role.customer, Role.provider):
            # A service may act for any customer or provider, but only this order's own.
            own = self.party_actor(actor.role)
            if own is None or own.id != actor.id:
                message = f"{actor.role} {actor.id} is not this order's {actor.role}"
                raise reject(message, errors.NOT_THIS_PARTY)
        return request, payload

    # ----- state changes --------------------------------------------------------------

    def transition(
        self, to_status: str, action: str, actor: Actor, reason: str | None = None
    ) -> None:
        """Move to ``to_status`` (or record an action that keeps it) and note it in history."""
        now = workflow.now()
        self._history.append(
            Transition(
                seq=len(self._history) + 1,
                at=now,
                actor=actor,
                action=action,
                from_status=self._status,
                to_status=to_status,
                reason=reason,
            )
        )
        self._status = to_status
        terminal = self.spec.state(to_status).terminal
        if terminal and self._closed_at is None:
            self._closed_at = now
        if terminal and self._needs_attention and workflow.patched(ATTENTION_CLEARS):
            self._clear_attention(f"the order is {self.spec.state(to_status).label.lower()}")
        self.changed()

    def _clear_attention(self, why: str) -> None:
        """Drop the flag, keeping what it said in the history (the order is over)."""
        self._history.append(
            Transition(
                seq=len(self._history) + 1,
                at=workflow.now(),
                actor=SYSTEM,
                action="attention_cleared",
                from_status=self._status,
                to_status=self._status,
                reason=f"{why}; it was flagged: {self._attention_reason}",
            )
        )
        self._needs_attention = False
        self._attention_reason = None

    def created(self) -> None:
        """Record the order's creation (last in the flow's ``__init__``: no commands yet)."""
        self._tenant = self._input.tenant
        self._history.append(
            Transition(
                seq=1,
                at=self._created_at,
                actor=self._input.created_by,
                action="create",
                from_status=None,
                to_status=self._status,
            )
        )
        self._version = 1
        self._record_dirty = True

    def changed(self) -> None:
        """Note that the order changed: new version, read model and search attributes due."""
        self._version += 1
        self._updated_at = workflow.now()
        self._record_dirty = True
        self._upsert_search_attributes()
        self._set_current_details()

    def _set_current_details(self) -> None:
        # What the Web UI shows as the workflow's current details: metadata, not a
        # command, so it does not change what old histories replay.
        deadline = self.next_deadline()
        line = f"**{self.spec.state(self._status).label}**"
        if deadline is not None:
            due = to_zone(deadline.due_at, self.zone())
            line += f" · next: {deadline.name} at {due:%Y-%m-%d %H:%M %Z} → {deadline.on_expiry}"
        if self._needs_attention:
            line += f" · needs attention: {self._attention_reason}"
        workflow.set_current_details(line)

    def attention(self, reason: str | None) -> None:
        """Flag (or with None clear) the order for an operator."""
        self._needs_attention = reason is not None
        self._attention_reason = reason
        self.changed()

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

    @property
    def status(self) -> str:
        return self._status

    @property
    def payments(self) -> list[PaymentRecord]:
        """The order's payment operations (the ledger's records)."""
        return self.ledger.records if self.ledger is not None else []

    # ----- the run loop ---------------------------------------------------------------

    async def run_order(self) -> OrderView:
        """Drive the order until it finishes: deadlines here, side effects in the outboxes."""
        self._upsert_search_attributes()
        self._set_current_details()
        if workflow.patched(EFFECTS_TOGETHER):
            mail = asyncio.create_task(self._drain_left_emails())
            record = asyncio.create_task(self._drain_effects())
        else:
            mail = asyncio.create_task(self._drain_emails())
            record = asyncio.create_task(self._drain_records())
        while not self._finished:
            deadline = self._next_deadline()
            version = self._version

            def moved(version: int = version) -> bool:
                return self._version != version or self._finished

            if deadline is not None and deadline.due_at <= workflow.now():
                await self._expire(deadline)
                continue
            try:
                await workflow.wait_condition(
                    moved,
                    timeout=(deadline.due_at - workflow.now()) if deadline else None,
                    # The timer's name in the Web UI's history ("payment deadline (12 h)").
                    timeout_summary=_timer_summary(deadline) if deadline else None,
                )
            except TimeoutError:
                assert deadline is not None
                await self._expire(deadline)
        # Let running actions, mail and the last read-model write finish before closing.
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and not self._emails and not self._record_dirty
        )
        self._stop = True
        await asyncio.gather(mail, record)
        return self._view()

    def finish(self) -> None:
        """End the workflow once outboxes are drained (the order's life is over)."""
        self._finished = True
        self._version += 1
        if self._needs_attention and workflow.patched(ATTENTION_CLEARS):
            self._clear_attention("the order is finished")
            self.changed()
        elif not self._record_dirty and workflow.patched(FINAL_RECORD):
            self._record_dirty = True

    async def _renew_hold(self) -> None:
        assert self.ledger is not None
        if not await self.ledger.renew_hold():
            self.attention(
                f"payment hold lapsed: {self.ledger.last_error or 'renewal declined'}; "
                "collect the payment another way or cancel the order"
            )

    async def _expire(self, deadline: Deadline) -> None:
        async with self._lock:
            current = self._next_deadline()
            # An action may have met or moved the deadline while we waited for the lock.
            if current is None or current.name != deadline.name or current.due_at > workflow.now():
                return
            await self._fire(current)

    async def _fire(self, deadline: Deadline) -> None:
        # Noted first, so the change the expiry makes records it too.
        self._fired.append(
            FiredDeadline(name=deadline.name, due_at=deadline.due_at, fired_at=workflow.now())
        )
        await deadline.expire()

    async def _expire_due(self) -> list[Deadline]:
        """Run the deadlines already due, earliest first, as the run loop would (locked)."""
        expired: list[Deadline] = []
        for _ in range(MAX_DUE_AT_ONCE):
            deadline = self._next_deadline()
            if deadline is None or deadline.due_at > workflow.now():
                break
            await self._fire(deadline)
            expired.append(deadline)
        return expired

    def _next_deadline(self, *, shown: bool = False) -> Deadline | None:
        """The earliest pending deadline (of the shown ones, with ``shown``)."""
        pending = self.deadlines()
        hold = self.ledger.hold_expires_at() if self.ledger is not None else None
        if hold is not None:
            pending.append(
                Deadline(
                    "payment_hold_renewal",
                    hold,
                    "the card hold is renewed before Stripe's 7-day limit",
                    self._renew_hold,
                )
            )
        if shown:
            pending = [d for d in pending if d.shown]
        return min(pending, key=lambda d: d.due_at) if pending else None

    def next_deadline(self) -> Deadline | None:
        """The deadline the order's view, search attributes and emails name (none once the
        order is finished: a closed order's last deadline has fired)."""
        return None if self._finished else self._next_deadline(shown=True)

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
            await workflow.execute_activity(
                RECORD_ORDER,
                RecordOrderInput(view=self._view()),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RECORD_RETRY,
                summary=f"record order ({self._status})",
            )

    # ----- the effects outbox (EFFECTS_TOGETHER) --------------------------------------
    # One activity per change carries the change's new emails and its read-model write
    # (activities/effects.py). It is tried once and never waits on an outage: an email it
    # could not settle goes on to send_email with the rest of its retry budget
    # (_drain_left_emails), a write the database refused to record_order, which retries
    # until the database is back. While that write waits, new emails go out on their own.
    # Like the two outboxes before, these coroutines are not the run loop: no outage
    # delays a deadline; and an email stays in ``_emails`` until its outcome is recorded.

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
            try:
                result = await workflow.execute_activity(
                    APPLY_EFFECTS,
                    EffectsInput(view=self._view(), emails=batch),
                    result_type=EffectsResult,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=EFFECTS_RETRY,
                    summary=f"record order ({self._status}){mails}",
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
                await workflow.execute_activity(
                    RECORD_ORDER,
                    RecordOrderInput(view=self._view()),
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=RECORD_RETRY,
                    summary=f"record order ({self._status})",
                )
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

    # ----- the engine's own actions (every flow has them) -----------------------------
    # flows.spec adds their ActionSpecs to every FlowSpec, so GET /flows lists them and
    # _decode knows them; they are checked and applied here, never by a flow.

    def _check(
        self,
        action: str,
        actor: Actor,
        payload: BaseModel | None,
        *,
        gated: bool = True,
        expired: Sequence[Deadline] = (),
        due: Sequence[Deadline] | None = None,
    ) -> str | None:
        """Why ``actor`` may not take ``action`` now: the deadlines first, then the flow.

        ``gated`` is False only for orders replaying from before the deadlines won; ``due``
        is the deadlines due now, when the caller checks many actions at once.
        """
        closed = self._closed_refusal()
        if closed is not None:
            return closed
        if gated:
            now_due = self._pending_due() if due is None else due
            gate = self._gate_refusal(action, [*now_due, *expired])
            if gate is not None:
                return gate
        spec = self.spec.action(action)
        if spec is None:
            return f"{self.spec.name} has no action {action!r}"
        if not spec.allows(actor.role, self.status):
            return f"{actor.role} may not {action} an order in {self.status}"
        if action in ENGINE_ACTION_PAYLOADS:
            return self._engine_check(payload)
        return self.check(action, actor, payload)

    def _pending_due(self) -> list[Deadline]:
        now = workflow.now()
        pending = self.deadlines()
        return [d for d in pending if d.due_at <= now]

    def _gate_refusal(self, action: str, due: Sequence[Deadline]) -> str | None:
        """The refusal of an action a due deadline closes (its timer processed or not)."""
        for deadline in due:
            if self.spec.gates(deadline.name, action):
                when = readable_with_utc(deadline.due_at, self.zone())
                name = deadline.name.replace("_", " ")
                return f"the {name} deadline passed at {when}: {deadline.on_expiry}"
        return None

    def _closed_refusal(self) -> str | None:
        """How and when the order closed, once it is finished (every action is refused).

        Before that, a terminal state's own refusals (the flow's) say what is still open.
        """
        if not self._finished:
            return None
        return self._closure() or "the order is finished; it is read-only now"

    def _closure(self) -> str | None:
        """``the order is cancelled: its payment deadline passed at ...`` (None while open)."""
        if not self.spec.state(self._status).terminal:
            return None
        entered = next(
            (
                t
                for t in reversed(self._history)
                if t.to_status == self._status and t.from_status != self._status
            ),
            None,
        )
        text = f"the order is {self.spec.state(self._status).label.lower()}"
        if entered is not None:
            zone = self.zone()
            fired = next((f for f in reversed(self._fired) if f.fired_at == entered.at), None)
            if entered.actor.role == Role.system and fired is not None:
                name = fired.name.replace("_", " ")
                text += f": its {name} deadline passed at {readable_with_utc(fired.due_at, zone)}"
            else:
                by = (
                    "orderclock"
                    if entered.actor.role == Role.system
                    else f"the {entered.actor.role}"
                )
                at = readable_with_utc(entered.at, zone)
                text += f": {entered.action.replace('_', ' ')} by {by} at {at}"
            if entered.reason:
                text += f" ({entered.reason})"
        if self._finished:
            text += "; it is read-only now"
        return text

    async def _apply(self, action: str, actor: Actor, payload: BaseModel) -> None:
        if action in ENGINE_ACTION_PAYLOADS:
            assert isinstance(payload, ResendEmailPayload)
            self._resend_email(action, actor, payload.notification)
        else:
            await self.apply(action, actor, payload)

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

    # ----- views ----------------------------------------------------------------------

    def allowed_actions(self) -> dict[Role, list[str]]:
        """Actions each role may take now (customer/provider as this order's parties)."""
        allowed: dict[Role, list[str]] = {}
        # Computed once: the view (and so every read-model write) asks for every action.
        due = self._pending_due()
        for role in HUMAN_ROLES:
            actor = self.party_actor(role)
            if actor is None:
                continue
            allowed[role] = [
                a.name
                for a in self.spec.actions
                if self._check(a.name, actor, None, due=due) is None
            ]
        return allowed

    def party_actor(self, role: Role) -> Actor | None:
        """This order's own actor for a role, or None if the order has no such party."""
        if role == Role.support:
            return Actor(role=role, id="support")
        if role == Role.customer:
            return Actor(role=role, id=self.customer_id())
        return None

    def _view(self) -> OrderView:
        deadline = self.next_deadline()
        base: dict[str, Any] = {
            "order_id": self.order_id(),
            "tenant": self._tenant,
            "flow": self.spec.name,
            "status": self._status,
            "stage": self.spec.state(self._status).label,
            "allowed_actions": self.allowed_actions() if not self._finished else {},
            "next_deadline": _deadline_view(deadline, self.zone()) if deadline else None,
            "deadlines_fired": list(self._fired),
            "payments": list(self.payments),
            "notifications": list(self._notifications),
            "history": list(self._history),
            "needs_attention": self._needs_attention,
            "attention_reason": self._attention_reason,
            "archived": self._archived,
            "created_at": self._created_at,
            "updated_at": self._updated_at,
            "closed_at": self._closed_at,
            "closure": self._closure(),
            "version": self._version,
        }
        return self.build_view(base)

    def _upsert_search_attributes(self) -> None:
        deadline = self.next_deadline()
        wanted: dict[str, Any] = {
            search.ORDER_STATUS.name: self._status,
            search.ORDER_FLOW.name: self.spec.name,
            search.ORDER_CUSTOMER.name: self.customer_id(),
            search.ORDER_DEADLINE.name: deadline.due_at if deadline else None,
            search.ORDER_NEEDS_ATTENTION.name: self._needs_attention,
        }
        updates = []
        for key in search.ALL:
            value = wanted[key.name]
            if key.name in self._last_search and self._last_search[key.name] == value:
                continue
            updates.append(key.value_unset() if value is None else key.value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)
            self._last_search = wanted


def _timer_summary(deadline: Deadline) -> str:
    """``payment deadline (12 h)``: the deadline and how long its timer runs from now."""
    left = max(deadline.due_at - workflow.now(), timedelta(0))
    seconds = left.total_seconds()
    if seconds >= 2 * 86400 and seconds % 86400 == 0:
        span = f"{seconds / 86400:g} days"
    elif seconds >= 3600:
        span = f"{seconds / 3600:.3g} h"
    elif seconds >= 60:
        span = f"{seconds / 60:.3g} min"
    else:
        span = f"{seconds:.3g} s"
    return f"{deadline.name} deadline ({span})"


def _deadline_view(deadline: Deadline, zone: str) -> DeadlineView:
    return DeadlineView(
        name=deadline.name,
        due_at=deadline.due_at,
        due_at_local=to_zone(deadline.due_at, zone),
        on_expiry=deadline.on_expiry,
    )


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        return f"{where}: {first.get('msg')}"
    return str(exc)
