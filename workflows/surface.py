"""The message surface: one Update per action (with its validator), the view, the webhook.

Provides: the dynamic Update ``act`` and its validator (decode, the order's own parties,
then ``_check``: closed, gated by a due deadline, the declaration's roles and states, the
flow's rules and refusals), ``view``, the ``stripe_event`` signal, ``allowed_actions`` and
``reject``. Anything a handler raises becomes an answer, never a failed workflow task.
Needs: the declaration, the clock (``_expire_due``, ``_pending_due``, ``_gate_refusal``),
the record (``_closure``, ``_view``, ``attention``) and the flow's ``check``/``apply``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError, TemporalError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ValidationError

    from flows.spec import FlowSpec
    from models import errors
    from models.actions import ENGINE_ACTION_PAYLOADS, ResendEmailPayload
    from models.common import Actor, Role
    from models.orders import (
        ActionRequest,
        OrderView,
        StripeEvent,
    )
    from workflows.clock import Deadline


HUMAN_ROLES = (Role.customer, Role.provider, Role.support)


# Patch: an action's handler first runs every deadline already due by the workflow's clock,
# then checks the action against the deadlines' gates. A worker that was down when a
# deadline passed gets the timer and the action in one workflow task, and the action's
# handler runs first: without this the action won the race its deadline had closed.
DEADLINES_WIN = "deadlines-win"


# An unexpected error's text in a refusal, at most (it also flags the order).
MAX_ERROR_TEXT = 300


def reject(message: str, kind: str = errors.NOT_ALLOWED) -> ApplicationError:
    """An error that fails the Update (not the workflow) with a readable reason."""
    return ApplicationError(message, type=kind, non_retryable=True)


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        return f"{where}: {first.get('msg')}"
    return str(exc)


class MessageSurface:
    """The messages part of :class:`workflows.base.OrderWorkflow` (see the module)."""

    # What it needs of the other parts (OrderWorkflow provides them).
    spec: FlowSpec
    _status: str
    _finished: bool
    check: Callable[[str, Actor, BaseModel | None], str | None]
    apply: Callable[[str, Actor, BaseModel], Awaitable[None]]
    on_stripe_event: Callable[[StripeEvent], Awaitable[None]]
    party_actor: Callable[[Role], Actor | None]
    attention: Callable[[str | None], None]
    _view: Callable[[], OrderView]
    _closure: Callable[[], str | None]
    _expire_due: Callable[[], Coroutine[Any, Any, list[Deadline]]]
    _pending_due: Callable[[], list[Deadline]]
    _gate_refusal: Callable[[str, Sequence[Deadline]], str | None]
    _engine_check: Callable[[BaseModel | None], str | None]
    _resend_email: Callable[[str, Actor, str], None]

    def _start_surface(self) -> None:
        self._lock = asyncio.Lock()
        # Stripe event ids seen (a repeated webhook changes nothing).
        self._seen_events: set[str] = set()

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
        if not spec.allows(actor.role, self._status):
            return f"{actor.role} may not {action} an order in {self._status}"
        if action in ENGINE_ACTION_PAYLOADS:
            return self._engine_check(payload)
        return self.check(action, actor, payload)

    def _closed_refusal(self) -> str | None:
        """How and when the order closed, once it is finished (every action is refused).

        Before that, a terminal state's own refusals (the flow's) say what is still open.
        """
        if not self._finished:
            return None
        return self._closure() or "the order is finished; it is read-only now"

    async def _apply(self, action: str, actor: Actor, payload: BaseModel) -> None:
        if action in ENGINE_ACTION_PAYLOADS:
            assert isinstance(payload, ResendEmailPayload)
            self._resend_email(action, actor, payload.notification)
        else:
            await self.apply(action, actor, payload)

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
