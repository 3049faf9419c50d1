"""Response bodies that exist only at the HTTP boundary (orders travel as ``OrderView``)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic.json_schema import SkipJsonSchema, WithJsonSchema

from api.errors import ErrorBody
from db.queries import EmailIssue, OrderSort, OrderSummary
from flows.catalog import FLOW_NAMES, FLOWS
from flows.spec import ActionSpec, DeadlineSpec, FlowSpec, StateSpec, TransitionSpec
from models.common import SINGLE_LINE, SINGLE_LINE_PATTERN, YEAR_PATTERN, Strict, Timestamp
from models.orders import OrderView

# The answers to a body that cannot be decoded (not UTF-8), whose JSON is nested too deep
# or that is over the route's limit (api.bodies); bad JSON is a 422. Every route with a
# body declares them.
UNREADABLE_BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body cannot be decoded or is nested too deep"},
    413: {"model": ErrorBody, "description": "The body is over the route's limit"},
}

# The names a client may send or read, from the catalog and the flows' specs: a new flow
# or state extends them by itself.
FlowName = StrEnum("FlowName", [(name, name) for name in FLOW_NAMES])  # type: ignore[misc]
OrderStatus = StrEnum(  # type: ignore[misc]
    "OrderStatus",
    [
        (name, name)
        for name in dict.fromkeys(
            state.name for entry in FLOWS.values() for state in entry.spec(None).states
        )
    ],
)
FlowName.__doc__ = "A flow orderclock runs (GET /flows)."
OrderStatus.__doc__ = "A status of an order, in any flow (each flow's are in GET /flows/{flow})."

T = TypeVar("T")


def _empty_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


# A query string has no null: an absent filter is no filter, and so is an empty (or blank)
# one (``?status=``), which clients generated from earlier documents send.
Filter = Annotated[T | SkipJsonSchema[None], BeforeValidator(_empty_is_none)]
FilterText = Annotated[
    str,
    Field(max_length=128),
    StringConstraints(strip_whitespace=True),
    SINGLE_LINE,
    WithJsonSchema({"type": "string", "maxLength": 128, "pattern": SINGLE_LINE_PATTERN}),
]


def _iso_text(value: object) -> object:
    # A query's values are all text, so Timestamp's "not a number" cannot tell "0.5" (Unix
    # time to pydantic) from a date: only text starting with a year, as its pattern says.
    if isinstance(value, str) and not re.match(YEAR_PATTERN, value):
        raise ValueError("a date and time is ISO 8601 text (2026-12-04T18:00:00Z)")
    return value


QueryTimestamp = Annotated[Timestamp, BeforeValidator(_iso_text)]


class OrderQuery(BaseModel):
    """The query of ``GET /orders``; an unknown parameter (a misspelt filter) is a 422."""

    model_config = ConfigDict(extra="forbid")

    flow: Filter[FlowName] = None
    status: Filter[OrderStatus] = None
    customer_id: Filter[FilterText] = None
    provider_id: Filter[FilterText] = None
    needs_attention: Filter[bool] = None
    archived: bool = Field(
        default=False, description="true lists only archived orders, which are otherwise hidden"
    )
    customer_email: Filter[FilterText] = Field(
        default=None, description="The customer's email, any case."
    )
    # New with this parameter, so no earlier client sends it empty: ``?due_before=`` is
    # no time, a 422 (as the document's date-time format says), not "no filter".
    due_before: QueryTimestamp | SkipJsonSchema[None] = Field(
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

    customer_id: Filter[FilterText] = None
    order_id: Filter[FilterText] = None
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
    """A flow's spec (``flows.spec.FlowSpec``) plus its state diagram in Mermaid syntax."""

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
