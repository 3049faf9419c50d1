"""Response bodies that exist only at the HTTP boundary (orders travel as ``OrderView``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from db.queries import EmailIssue, OrderSort, OrderSummary
from models.flows import ActionSpec, DeadlineSpec, FlowSpec, StateSpec, TransitionSpec
from models.orders import OrderView, Strict


class ErrorBody(BaseModel):
    """Every error answer: one readable message."""

    detail: str


class FieldProblem(BaseModel):
    """One problem FastAPI found in a request: where (``loc``) and what (``msg``)."""

    loc: list[str | int]
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


# FastAPI's own answer to a body it cannot decode (not UTF-8); bad JSON is a 422. Every
# route with a body declares it.
UNREADABLE_BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body cannot be decoded"}
}


class InvalidRequest(BaseModel):
    """A 422 answer: FastAPI's field problems, or the flow's one message about a payload."""

    detail: str | list[FieldProblem]


# A query string has no null: an absent or empty filter (``?status=``) is no filter.
FilterText = Annotated[str, Field(max_length=128)]


class OrderQuery(BaseModel):
    """The query of ``GET /orders``; an unknown parameter (a misspelt filter) is a 422."""

    model_config = ConfigDict(extra="forbid")

    flow: FilterText = ""
    status: FilterText = ""
    customer_id: FilterText = ""
    provider_id: FilterText = ""
    needs_attention: bool | None = None
    archived: bool = Field(
        default=False, description="true lists only archived orders, which are otherwise hidden"
    )
    customer_email: FilterText = Field(default="", description="The customer's email, any case.")
    due_before: AwareDatetime | None = Field(
        default=None,
        description="Only orders whose next deadline is before this time (past due included).",
    )
    sort: OrderSort = Field(
        default=OrderSort.created,
        description="created: newest first; next_deadline: soonest deadline first, orders "
        "without one last.",
    )
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    offset: Annotated[int, Field(ge=0, le=1_000_000_000)] = 0


class EmailIssueQuery(BaseModel):
    """The query of ``GET /notifications/issues``."""

    model_config = ConfigDict(extra="forbid")

    customer_id: FilterText = ""
    order_id: FilterText = ""
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    offset: Annotated[int, Field(ge=0, le=1_000_000_000)] = 0


class EmailIssuePage(BaseModel):
    """One page of ``GET /notifications/issues``: failed or skipped emails not yet resent."""

    items: list[EmailIssue]
    total: int
    limit: int
    offset: int


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
