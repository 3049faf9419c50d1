"""The order's record: its status, history, flags, search attributes and view.

Provides: ``transition`` (the one way a status changes, noted in history), ``created``,
``changed`` (new version: read model, search attributes and Web UI details due),
``attention``, ``finish``, ``payments``, ``party_actor``, the closure text and ``_view``.
Needs: the declaration (``spec``), the flow's ``build_view``, ``order_id``, ``customer_id``,
``zone``, the input, the ledger, and the clock's ``next_deadline`` and ``_fired``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from flows.spec import FlowSpec
    from models import search
    from models.clock import readable_with_utc, to_zone
    from models.common import SYSTEM, Actor, Role
    from models.orders import (
        FiredDeadline,
        NotificationRecord,
        OrderView,
        PaymentRecord,
        StartOrderInput,
        Transition,
    )
    from workflows.clock import Deadline, _deadline_view
    from workflows.payments import PaymentLedger


# Patch: the attention flag clears when the order reaches a terminal state or finishes
# (the Web UI's "needs attention" filter must not list finished orders).
ATTENTION_CLEARS = "attention-clears"


# Patch: the read model gets the finished order's view (no actions, its last deadline fired)
# even when finishing changed nothing else: the database kept the view from before, which
# advertised actions the closed workflow can no longer take.
FINAL_RECORD = "final-record"


class OrderRecord:
    """The state part of :class:`workflows.base.OrderWorkflow` (see the module)."""

    # What it needs of the other parts (OrderWorkflow provides them).
    spec: FlowSpec
    ledger: PaymentLedger | None
    _input: StartOrderInput
    _fired: list[FiredDeadline]
    _notifications: list[NotificationRecord]
    order_id: Callable[[], str]
    customer_id: Callable[[], str]
    zone: Callable[[], str]
    build_view: Callable[[dict[str, Any]], OrderView]
    next_deadline: Callable[[], Deadline | None]
    allowed_actions: Callable[[], dict[Role, list[str]]]

    def _start_record(self) -> None:
        self._status = self.spec.initial
        self._history: list[Transition] = []
        self._record_dirty = False
        self._finished = False
        self._version = 0
        self._needs_attention = False
        self._attention_reason: str | None = None
        self._created_at: datetime = workflow.now()
        self._updated_at: datetime = self._created_at
        self._closed_at: datetime | None = None
        # Hidden from the default list (a flow's "archive" action sets it).
        self._archived = False
        self._last_search: dict[str, Any] = {}
        # The tenant of the key that created the order (None: created without one).
        self._tenant: str | None = None

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

    @property
    def status(self) -> str:
        return self._status

    @property
    def payments(self) -> list[PaymentRecord]:
        """The order's payment operations (the ledger's records)."""
        return self.ledger.records if self.ledger is not None else []

    def finish(self) -> None:
        """End the workflow once outboxes are drained (the order's life is over)."""
        self._finished = True
        self._version += 1
        if self._needs_attention and workflow.patched(ATTENTION_CLEARS):
            self._clear_attention("the order is finished")
            self.changed()
        elif not self._record_dirty and workflow.patched(FINAL_RECORD):
            self._record_dirty = True

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
