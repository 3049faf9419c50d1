"""Response bodies that exist only at the HTTP boundary (orders travel as ``OrderView``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from db.queries import OrderSummary
from models.flows import ActionSpec, DeadlineSpec, FlowSpec, StateSpec, TransitionSpec


class ErrorBody(BaseModel):
    """Every error answer: one readable message."""

    detail: str


class OrderPage(BaseModel):
    """One page of ``GET /orders``."""

    items: list[OrderSummary]
    total: int
    limit: int
    offset: int


class FlowDescription(BaseModel):
    """A flow's spec (``models.flows.FlowSpec``) plus its state diagram in Mermaid syntax."""

    # Forbidding extras makes a field added to FlowSpec fail loudly here, not vanish.
    model_config = ConfigDict(extra="forbid")

    name: str
    title: str
    source: str
    description: str
    initial: str
    states: list[StateSpec]
    actions: list[ActionSpec]
    deadlines: list[DeadlineSpec]
    transitions: list[TransitionSpec]
    mermaid: str

    @classmethod
    def of(cls, spec: FlowSpec) -> FlowDescription:
        """The description of ``spec``."""
        return cls.model_validate({**spec.model_dump(), "mermaid": spec.mermaid()})


class WebhookResult(BaseModel):
    """What became of a webhook event: forwarded to an order, or ignored and why."""

    forwarded: str | None = None
    ignored: str | None = None


class Health(BaseModel):
    """Liveness answer."""

    status: Literal["ok"] = "ok"
