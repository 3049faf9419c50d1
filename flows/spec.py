"""What each flow is: states, actions by role, deadlines, and its state diagram.

This is the description ``GET /flows`` serves and the first gate of every action's
validator (role and state); each workflow adds the rules that depend on the order
itself (whose turn it is, whether the appointment has started, ...).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache, lru_cache, wraps
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from models.actions import RESEND_EMAIL, ResendEmailPayload
from models.common import OrderRequest, Role

PolicyT = TypeVar("PolicyT", bound=BaseModel)


class OrderMoney(Protocol):
    """An order's money as its view (``models.orders.OrderView``) shows it.

    Flows do not import the view (``models.orders`` builds its request union from the
    catalog); a money sentence reads these, and a flow's own part of the view by a
    protocol of its own that extends this one.
    """

    @property
    def currency(self) -> str: ...
    @property
    def amount_total(self) -> int: ...
    @property
    def amount_held(self) -> int: ...
    @property
    def amount_paid(self) -> int: ...
    @property
    def amount_refunded(self) -> int: ...


MoneyMoved = Callable[[Any], "str | None"]
"""What taking an action now does to the order's money, as one sentence for the order as it
is (None when nothing moves): the console asks to confirm it before the action is sent.
Called with the order's view; typed by each flow by what it reads (:class:`OrderMoney`)."""


PolicyC = TypeVar("PolicyC", bound=BaseModel, contravariant=True)


class SpecBuilder(Protocol[PolicyC]):
    """A flow's spec under a policy (the flow's default policy when None)."""

    def __call__(self, policy: PolicyC | None = None) -> FlowSpec: ...


class StateSpec(BaseModel):
    """One status of a flow."""

    model_config = ConfigDict(frozen=True)

    name: str
    label: str
    terminal: bool = False
    description: str


class ActionSpec(BaseModel):
    """One action: who may take it in which states, and its payload's JSON schema.

    Declared with :func:`action`, which keeps the payload model itself (``payload``): the
    workflow's validator decodes with it, the API names it, the schema is made from it.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    states_by_role: dict[Role, list[str]]
    payload_schema: dict[str, object] = Field(default_factory=dict)
    _payload: type[BaseModel] | None = PrivateAttr(default=None)
    _money: MoneyMoved | None = PrivateAttr(default=None)

    def allows(self, role: Role, status: str) -> bool:
        return status in self.states_by_role.get(role, [])

    @property
    def may_move_money(self) -> bool:
        """Whether the action was declared with a sentence saying what it moves."""
        return self._money is not None

    def money_moved(self, view: OrderMoney) -> str | None:
        """What taking the action now moves (``money`` of :func:`action`), or None."""
        return self._money(view) if self._money is not None else None

    @property
    def payload(self) -> type[BaseModel]:
        """The model the action's payload must fit."""
        if self._payload is None:
            raise LookupError(f"action {self.name} was declared without its payload model")
        return self._payload


class DeadlineSpec(BaseModel):
    """One deadline: when it runs, how long by default, what happens at expiry, what it gates.

    ``gates`` names the actions the deadline closes: once it is due by the workflow's clock
    the engine refuses them, even before its timer has been processed (the expiry happens
    instead). A deadline that only reminds, flags or retries gates nothing.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    state: str
    default: timedelta
    starts: str
    on_expiry: str
    gates: list[str] = Field(default_factory=list)
    # How the window reads in labels ("72 h", "1 business day"); see ``window``.
    _window: str | None = PrivateAttr(default=None)
    _reminder: bool = PrivateAttr(default=False)

    @property
    def window(self) -> str:
        """The window as the diagram's labels name it: ``72 h``, ``5 days``, ``1 business day``."""
        return self._window if self._window is not None else span(self.default)

    @property
    def shown(self) -> bool:
        """False for a reminder: it runs, but is never an order's "next deadline"."""
        return not self._reminder

    def worded(self, window: str) -> DeadlineSpec:
        """This deadline with its window worded otherwise (business days, not hours)."""
        self._window = window
        return self

    def reminder(self) -> DeadlineSpec:
        """This deadline as a reminder: no consequence, so never the order's next deadline."""
        self._reminder = True
        return self


class TransitionSpec(BaseModel):
    """An edge of the state diagram."""

    model_config = ConfigDict(frozen=True)

    source: str
    target: str
    label: str


class FlowSpec(BaseModel):
    """A whole flow."""

    model_config = ConfigDict(frozen=True)

    name: str
    title: str
    source: str
    description: str
    initial: str
    states: list[StateSpec]
    actions: list[ActionSpec]
    deadlines: list[DeadlineSpec]
    transitions: list[TransitionSpec]

    @model_validator(mode="after")
    def _with_engine_actions(self) -> FlowSpec:
        # Every flow has the engine's own actions; adding them here means no flow lists
        # them and GET /flows and the workflow's validator see the same list.
        # (In place: the spec is frozen, and validation made the list this spec's own.)
        names = {a.name for a in self.actions}
        self.actions.extend(a for a in engine_actions(self.states) if a.name not in names)
        for deadline in self.deadlines:
            unknown = sorted(set(deadline.gates) - names)
            if unknown:
                raise ValueError(f"deadline {deadline.name} gates unknown actions {unknown}")
        return self

    def action(self, name: str) -> ActionSpec | None:
        return next((a for a in self.actions if a.name == name), None)

    def payload_model(self, action: str) -> type[BaseModel] | None:
        """The payload model of one of the flow's actions (the engine's included)."""
        spec = self.action(action)
        return spec.payload if spec is not None else None

    def flow_actions(self) -> list[str]:
        """The flow's own actions (not the engine's, which every flow has)."""
        return [a.name for a in self.actions if a.name not in ENGINE_ACTIONS]

    def state(self, name: str) -> StateSpec:
        return next(s for s in self.states if s.name == name)

    def deadline(self, name: str) -> DeadlineSpec | None:
        return next((d for d in self.deadlines if d.name == name), None)

    def gates(self, deadline: str, action: str) -> bool:
        """True if ``deadline``, once due, closes ``action``."""
        spec = self.deadline(deadline)
        return spec is not None and action in spec.gates

    def mermaid(self) -> str:
        """The flow as a Mermaid ``stateDiagram-v2``."""
        lines = ["stateDiagram-v2", f"    [*] --> {self.initial}"]
        lines += [f"    {t.source} --> {t.target}: {t.label}" for t in self.transitions]
        lines += [f"    {s.name} --> [*]" for s in self.states if s.terminal]
        return "\n".join(lines)


@cache
def _schema_json(model: type[BaseModel]) -> str:
    # Generated once per process (it was most of the cost of building a spec); callers get
    # a fresh copy, so none can change another's.
    return json.dumps(model.model_json_schema())


# The engine's own actions (``workflows.base`` carries them out for every flow).
ENGINE_ACTIONS = (RESEND_EMAIL,)


def engine_actions(states: list[StateSpec]) -> list[ActionSpec]:
    """The actions ``workflows.base`` carries out for every flow, in any of its states."""
    return [
        action(
            RESEND_EMAIL,
            ResendEmailPayload,
            "Send a failed or skipped email again under a new idempotency key "
            "(payload: the notification's idempotency key).",
            {Role.support: [s.name for s in states]},
        )
    ]


def action(
    name: str,
    payload: type[BaseModel],
    description: str,
    states: dict[Role, list[str]],
    money: MoneyMoved | None = None,
) -> ActionSpec:
    """Declare an action: its name, payload model, what it does, who may take it when, and
    (``money``) the sentence saying what it moves for an order, where it moves money."""
    schema: dict[str, object] = json.loads(_schema_json(payload))
    spec = ActionSpec(
        name=name, description=description, states_by_role=states, payload_schema=schema
    )
    spec._payload = payload
    spec._money = money
    return spec


def refundable(view: OrderMoney) -> int:
    """What is paid and not refunded yet, in minor units."""
    return view.amount_paid - view.amount_refunded


def span(delta: timedelta) -> str:
    """A window as labels and texts name it: ``5 h``, ``72 h``, ``5 days``, ``10 min``."""
    seconds = delta.total_seconds()
    if seconds < 3600 and seconds % 60 == 0 and seconds:
        return f"{seconds / 60:g} min"
    hours = seconds / 3600
    if hours >= 48 and hours % 24 == 0:
        return f"{int(hours // 24)} days"
    return f"{hours:g} h"


def business_days(days: int) -> str:
    """``1 business day``, ``2 business days``."""
    return f"{days} business day{'' if days == 1 else 's'}"


def spec_per_policy(
    policy_type: type[PolicyT],
) -> Callable[[Callable[[PolicyT], FlowSpec]], SpecBuilder[PolicyT]]:
    """Build a flow's spec once per distinct policy and share it (the spec models are frozen).

    Every order workflow builds its flow's spec when it starts or comes back into the
    worker's cache; a copy per cached workflow cost about 44 KB and a few milliseconds.
    """

    def decorate(build: Callable[[PolicyT], FlowSpec]) -> SpecBuilder[PolicyT]:
        @lru_cache(maxsize=64)
        def built(policy_json: str) -> FlowSpec:
            return build(policy_type.model_validate_json(policy_json))

        @wraps(build)
        def spec(policy: PolicyT | None = None) -> FlowSpec:
            return built((policy if policy is not None else policy_type()).model_dump_json())

        return spec

    return decorate


@dataclass(frozen=True)
class FlowEntry:
    """One flow as the catalog lists it: what starts it, configures it, describes it."""

    name: str
    request: type[OrderRequest]
    policy: type[BaseModel]
    spec: Callable[[Any], FlowSpec]
    # The ``Settings`` field holding this deployment's policy (``ORDERCLOCK_<FIELD>__...``).
    settings_field: str
    # Every key the workflow passes to its email templates (checked at worker start).
    context_keys: frozenset[str]
