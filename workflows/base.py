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
import inspect
from typing import Any, ClassVar, Generic, TypeVar, cast

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from flows.catalog import FLOWS
    from flows.spec import FlowEntry, FlowSpec
    from models.common import Actor, OrderRequest
    from models.orders import (
        OrderView,
        StartOrderInput,
        StripeEvent,
    )
    from models.policy import ActivityPolicy
    from workflows.clock import Deadline, DeadlineClock, _timer_summary
    from workflows.handlers import (
        _ACTIONS,
        _EXPIRIES,
        _REFUSALS,
        _marked,
        on_action,
        on_expiry,
        refusal,
    )
    from workflows.outbox import EFFECTS_TOGETHER, Outboxes
    from workflows.payments import PaymentLedger
    from workflows.record import OrderRecord
    from workflows.surface import MessageSurface, reject

__all__ = ["Deadline", "OrderWorkflow", "on_action", "on_expiry", "refusal", "reject"]

RequestT = TypeVar("RequestT", bound=OrderRequest)
PolicyT = TypeVar("PolicyT", bound=BaseModel)


class OrderWorkflow(
    MessageSurface, DeadlineClock, Outboxes, OrderRecord, Generic[RequestT, PolicyT]
):
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
        # The shared start-up, before the flow's own (an Update may come with the first task).
        self._input = input
        # Pinned at start (None: an order from before it existed, run with the defaults).
        self.activity_policy = input.activities or ActivityPolicy()
        self._policy = cast(PolicyT, self.entry.policy.model_validate(input.policy))
        self.spec = self.entry.spec(self._policy)
        self._start_record()
        self._start_surface()
        self._start_clock()
        self._start_outboxes()

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
