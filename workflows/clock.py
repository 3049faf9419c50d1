"""The deadline clock: the order's pending deadlines, their expiry, and the deadlines' gates.

Provides: ``Deadline``; ``due`` (a declared deadline due at a time, its text and handler
taken from the declaration), ``next_deadline``, expiring due deadlines (``_expire``,
``_expire_due``) and the refusal of an action a due deadline closes (``_gate_refusal``),
plus the engine's own card-hold renewal. Needs: the flow's ``deadlines()``, the declaration
(``spec``), the lock, the ledger, ``attention`` and ``zone``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from flows.spec import FlowSpec
    from models.clock import readable_with_utc, to_zone
    from models.orders import (
        DeadlineView,
        FiredDeadline,
    )
    from workflows.payments import PaymentLedger


# Deadlines one action's handler may run before checking it (each expiry removes or moves
# its deadline; the bound only guards against a flow whose expiry does not).
MAX_DUE_AT_ONCE = 8


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


class DeadlineClock:
    """The deadlines part of :class:`workflows.base.OrderWorkflow` (see the module)."""

    # What it needs of the other parts (OrderWorkflow provides them).
    spec: FlowSpec
    ledger: PaymentLedger | None
    _lock: asyncio.Lock
    _finished: bool
    _expiries: ClassVar[dict[str, str]]
    zone: Callable[[], str]
    attention: Callable[[str | None], None]

    def _start_clock(self) -> None:
        # Every deadline that expired, in order (each fires once).
        self._fired: list[FiredDeadline] = []
        # True once the run loop's timer ended the order (nobody waits for an answer).
        self._ended_by_deadline = False

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
            # Ended by the run loop's timer: nobody waits for an answer. (A deadline an
            # action's handler runs first ends the order while that action waits.)
            if self._finished:
                self._ended_by_deadline = True

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
