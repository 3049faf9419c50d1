"""How the console shows orders: countdowns, zones, the actions on offer, the timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from api.auth import ACTING_ROLES, Caller
from flows.catalog import FLOWS, flow_spec
from flows.spec import ActionSpec, FlowSpec
from models.actions import RESEND_EMAIL
from models.common import Role
from models.money import format_amount
from models.orders import OrderView

# The roles the console acts as, in the order its menu offers them.
MENU_ROLES = (Role.support, Role.provider, Role.customer)


def countdown(due: datetime, now: datetime) -> str:
    """``in 2 h 14 m`` or ``past due by 5 m`` (static/console.js says it the same way)."""
    seconds = int((due - now).total_seconds())
    span = abs(seconds)
    days, rest = divmod(span, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days} d {hours} h"
    elif hours:
        text = f"{hours} h {minutes} m"
    elif minutes:
        text = f"{minutes} m {secs} s" if minutes < 10 else f"{minutes} m"
    else:
        text = f"{secs} s"
    return f"in {text}" if seconds >= 0 else f"past due by {text}"


def order_zone(view: OrderView) -> str:
    """The IANA zone the order happens in (the appointment's, installation's, dealer's)."""
    for zone in (
        view.appointment.time_zone if view.appointment else None,
        view.installation.time_zone if view.installation else None,
        view.dealer.dealer.time_zone if view.dealer else None,
    ):
        if zone:
            return zone
    return "UTC"


def in_zone(moment: datetime, zone: str) -> str:
    """``2026-12-04 18:30 CET`` in ``zone``."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def money(amount: int, currency: str) -> str:
    return format_amount(amount, currency)


def humanize(name: str) -> str:
    """An action's or status's code name as a label: ``mark_shipped`` -> ``Mark shipped``."""
    return name.replace("_", " ").capitalize()


def spec_of(view_flow: str) -> FlowSpec:
    spec = flow_spec(view_flow)
    assert spec is not None, f"unknown flow {view_flow}"
    return spec


def status_label(flow: str, status: str) -> str:
    spec = flow_spec(flow)
    if spec is None:
        return humanize(status)
    return next((s.label for s in spec.states if s.name == status), humanize(status))


@dataclass(frozen=True)
class Offer:
    """An action the signed-in key may take on the order now, as ``role``."""

    action: ActionSpec
    role: Role
    money: str | None

    @property
    def key(self) -> str:
        return f"{self.action.name}--{self.role}"

    @property
    def label(self) -> str:
        label = humanize(self.action.name)
        return label if self.role == Role.support else f"{label} (as {self.role})"


def offers(view: OrderView, caller: Caller) -> list[Offer]:
    """The actions the caller's key may take now: the workflow's ``allowed_actions`` for
    each role the key may act as (``api.auth.ACTING_ROLES``), described by the flow's spec."""
    spec = spec_of(view.flow)
    acting = ACTING_ROLES[caller.role]
    found = []
    for role in MENU_ROLES:
        if role not in acting:
            continue
        if role in (Role.customer, Role.provider) and _party_id(view, role) is None:
            continue
        for name in view.allowed_actions.get(role, []):
            action = spec.action(name)
            # Resent from the email log, where the email to resend is named.
            if action is None or name == RESEND_EMAIL:
                continue
            found.append(Offer(action=action, role=role, money=action.money_moved(view)))
    return found


def next_steps(view: OrderView, caller: Caller) -> list[Offer]:
    """The offers a list row links to: one per action, cancelling left to the order page
    (shop orders stuck in "Order Placed" offer "mark entered", dealer's new ones "accept")."""
    seen: set[str] = set()
    steps = []
    for offer in offers(view, caller):
        if offer.action.name in seen or offer.action.name == "cancel":
            continue
        seen.add(offer.action.name)
        steps.append(offer)
    return steps


def may_resend(view: OrderView, caller: Caller) -> bool:
    """Whether the caller may resend the order's emails (support's engine action, which the
    workflow's ``allowed_actions`` leaves out: it needs a notification to name)."""
    action = spec_of(view.flow).action(RESEND_EMAIL)
    return (
        Role.support in ACTING_ROLES[caller.role]
        and action is not None
        and action.allows(Role.support, view.status)
    )


def _party_id(view: OrderView, role: Role) -> str | None:
    if role == Role.customer:
        return view.customer.id
    return view.provider.id if view.provider else None


def actor_for(view: OrderView, role: Role) -> dict[str, Any]:
    """The actor the console sends for ``role``: the order's own party, or support."""
    party = _party_id(view, role) if role != Role.support else None
    return {"role": role.value, **({"id": party} if party else {})}


@dataclass(frozen=True)
class Event:
    """One line of the order's timeline."""

    at: datetime
    kind: str  # transition, deadline, payment, email
    title: str
    detail: str


def timeline(view: OrderView) -> list[tuple[date, list[Event]]]:
    """Transitions, fired deadlines, payments and emails, newest first, grouped by day (UTC)."""
    events = [
        Event(
            t.at,
            "transition",
            f"{humanize(t.action)}: {t.from_status or 'start'} → {t.to_status}",
            " · ".join(
                part
                for part in (
                    f"by {t.actor.role}" + (f" {t.actor.id}" if t.actor.id else ""),
                    f"key {t.actor.key_name}" if t.actor.key_name else "",
                    t.reason or "",
                )
                if part
            ),
        )
        for t in view.history
    ]
    events += [
        Event(d.fired_at, "deadline", f"Deadline {humanize(d.name)} fired", f"due {utc(d.due_at)}")
        for d in view.deadlines_fired
    ]
    events += [
        Event(
            p.at,
            "payment",
            f"{humanize(p.kind)} {money(p.amount, p.currency)}: {p.outcome}",
            " · ".join(x for x in (p.provider_id or "", p.failure_reason or "") if x),
        )
        for p in view.payments
    ]
    events += [
        Event(
            n.at,
            "email",
            f"Email {n.event} to {n.recipient_role}: {n.status}",
            " · ".join(x for x in (n.to, n.detail or "") if x),
        )
        for n in view.notifications
    ]
    events.sort(key=lambda e: e.at, reverse=True)
    days: list[tuple[date, list[Event]]] = []
    for event in events:
        day = event.at.astimezone(UTC).date()
        if not days or days[-1][0] != day:
            days.append((day, []))
        days[-1][1].append(event)
    return days


def details(model: BaseModel | None) -> list[tuple[str, str]]:
    """A flow's own block (``view.dealer``, ``view.shop`` ...) as label/value pairs."""
    if model is None:
        return []
    pairs = []
    # The receipt is a link of its own on the page.
    for name, value in model.model_dump(
        mode="json", exclude_none=True, exclude={"receipt"}
    ).items():
        if value in ([], {}, "", False):
            continue
        if isinstance(value, dict):
            shown = ", ".join(f"{k}: {v}" for k, v in value.items() if v not in (None, [], ""))
        elif isinstance(value, list):
            shown = ", ".join(str(v) for v in value)
        else:
            shown = str(value)
        pairs.append((humanize(name), shown))
    return pairs


def flow_block(view: OrderView) -> BaseModel | None:
    """The order's own part of the view (its flow's details)."""
    blocks: list[BaseModel | None] = [view.account, view.installation, view.shop, view.dealer]
    return next((b for b in blocks if b is not None), None)


FLOW_TITLES = {name: spec_of(name).title for name in FLOWS}
