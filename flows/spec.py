"""What each flow is: states, actions by role, deadlines, and its state diagram.

This is the description ``GET /flows`` serves and the first gate of every action's
validator (role and state); each workflow adds the rules that depend on the order
itself (whose turn it is, whether the appointment has started, ...).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from functools import cache, lru_cache, wraps
from typing import Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.actions import RESEND_EMAIL, ResendEmailPayload
from models.common import Role

PolicyT = TypeVar("PolicyT", bound=BaseModel)


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
    """One action: who may take it in which states, and its payload's JSON schema."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    states_by_role: dict[Role, list[str]]
    payload_schema: dict[str, object] = Field(default_factory=dict)

    def allows(self, role: Role, status: str) -> bool:
        return status in self.states_by_role.get(role, [])


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


def engine_actions(states: list[StateSpec]) -> list[ActionSpec]:
    """The actions ``workflows.base`` carries out for every flow, in any of its states."""
    return [
        ActionSpec(
            name=RESEND_EMAIL,
            description="Send a failed or skipped email again under a new idempotency key "
            "(payload: the notification's idempotency key).",
            states_by_role={Role.support: [s.name for s in states]},
            payload_schema=json.loads(_schema_json(ResendEmailPayload)),
        )
    ]


def action_spec(
    payloads: dict[str, type[BaseModel]],
    name: str,
    description: str,
    states: dict[Role, list[str]],
) -> ActionSpec:
    """An action of a flow, its payload's JSON schema taken from the flow's payload models."""
    schema: dict[str, object] = json.loads(_schema_json(payloads[name]))
    return ActionSpec(
        name=name, description=description, states_by_role=states, payload_schema=schema
    )


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours >= 48 and hours % 24 == 0:
        return f"{int(hours // 24)} days"
    return f"{hours:g} h"


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
