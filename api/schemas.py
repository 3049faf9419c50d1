"""Response bodies that exist only at the HTTP boundary (orders travel as ``OrderView``)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from db.queries import OrderSummary
from models.flows import ActionSpec, DeadlineSpec, FlowSpec, StateSpec, TransitionSpec
from models.orders import OrderView, Strict


class ErrorBody(BaseModel):
    """Every error answer: one readable message."""

    detail: str


class PendingActivity(Strict):
    """A side effect Temporal is running or waiting to retry (DescribeWorkflowExecution)."""

    activity: str = Field(description="What it does, as the Web UI names it: 'charge 85.00 EUR'.")
    activity_type: str
    state: str = Field(description="scheduled (waiting for its next attempt) or started.")
    attempt: int = Field(description="The attempt running or due next (1 is the first).")
    maximum_attempts: int | None = Field(default=None, description="None: until it succeeds.")
    last_failure: str | None = Field(default=None, description="Why the last attempt failed.")
    last_attempt_at: AwareDatetime | None = None
    next_attempt_at: AwareDatetime | None = None


class OrderDetail(OrderView):
    """``GET /orders/{id}``: the order's view plus its side effects still in flight."""

    pending: list[PendingActivity] | None = Field(
        default=None,
        description="Activities Temporal is running or retrying for the order (empty when "
        "none); null when Temporal could not be asked.",
    )


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
