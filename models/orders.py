"""The order's message surface: what clients send and what they get back.

These models cross every boundary (HTTP, Temporal payloads, activities), so they are
strict: unknown fields are rejected, money is integer minor units with an ISO currency,
and every datetime is timezone-aware.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)

from models.clock import is_valid_zone
from models.ids import ORDER_ID_PATTERN
from models.policy import ActivityPolicy


class Strict(BaseModel):
    """Base of every message model: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Role(StrEnum):
    """Who acts on an order."""

    customer = "customer"
    provider = "provider"
    support = "support"
    system = "system"


def _zone(name: str) -> str:
    if not is_valid_zone(name):
        raise ValueError(f"unknown IANA time zone {name!r}")
    return name


def _currency(code: str) -> str:
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise ValueError("currency must be a three-letter ISO 4217 code")
    return code.upper()


TimeZoneName = Annotated[str, AfterValidator(_zone)]
Currency = Annotated[str, AfterValidator(_currency)]
OrderId = Annotated[str, StringConstraints(pattern=ORDER_ID_PATTERN)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
PartyId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
# Upper bound keeps sums far from overflowing a 64-bit database column.
MinorUnits = Annotated[int, Field(ge=0, le=10**12)]


class Actor(Strict):
    """Who performs an action: a role, and for customers and providers their id."""

    role: Role
    id: PartyId | None = None
    # The API key the action came through, set by the API (never trusted from the body);
    # optional so histories recorded before keys existed still decode.
    key_name: str | None = None

    @model_validator(mode="after")
    def _id_for_parties(self) -> Actor:
        if self.role in (Role.customer, Role.provider) and self.id is None:
            raise ValueError(f"a {self.role} actor needs an id")
        return self


SYSTEM = Actor(role=Role.system, id="orderclock")


class Party(Strict):
    """A customer or provider."""

    id: PartyId
    name: ShortText
    email: EmailStr


class LineItem(Strict):
    """One priced line of an order."""

    name: ShortText
    quantity: Annotated[int, Field(ge=1, le=10_000)] = 1
    unit_amount: MinorUnits


class Appointment(Strict):
    """When the service is provided, in the zone where it happens."""

    start: AwareDatetime
    duration_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] = 60
    time_zone: TimeZoneName


def order_total(items: list[LineItem]) -> int:
    """The sum of an order's lines in minor units."""
    return sum(item.quantity * item.unit_amount for item in items)


class CreateOrderRequest(Strict):
    """Body of ``POST /orders``."""

    order_id: OrderId | None = None
    flow: Literal["prepaid_service"]
    customer: Party
    provider: Party
    items: Annotated[list[LineItem], Field(min_length=1, max_length=100)]
    currency: Currency
    appointment: Appointment


class ActionRequest(Strict):
    """An action on an order: the Temporal Update's single argument.

    ``payload`` is validated against the action's own model (see ``models.actions``)
    by the workflow's validator, so a malformed payload is rejected before it enters
    history.
    """

    actor: Actor
    payload: dict[str, Any] = Field(default_factory=dict)


class Transition(Strict):
    """One step of an order's history."""

    seq: int
    at: AwareDatetime
    actor: Actor
    action: str
    from_status: str | None
    to_status: str
    reason: str | None = None


class PaymentKind(StrEnum):
    """What a payment operation did."""

    charge = "charge"
    authorisation = "authorisation"
    capture = "capture"
    release = "release"
    refund = "refund"
    invoice = "invoice"
    payout = "payout"


class PaymentOutcome(StrEnum):
    """How a payment operation ended."""

    succeeded = "succeeded"
    declined = "declined"
    requires_action = "requires_action"
    failed = "failed"


class PaymentRecord(Strict):
    """One payment operation, as the order remembers it."""

    seq: int
    kind: PaymentKind
    idempotency_key: str
    amount: int
    currency: str
    outcome: PaymentOutcome
    provider_id: str | None = None
    failure_reason: str | None = None
    at: AwareDatetime


class NotificationStatus(StrEnum):
    """How an email ended."""

    sent = "sent"
    skipped = "skipped"
    failed = "failed"


class NotificationRecord(Strict):
    """One email the order sent, skipped or failed to send."""

    idempotency_key: str
    event: str
    recipient_role: Role
    to: str
    status: NotificationStatus
    detail: str | None = None
    at: AwareDatetime


class DeadlineView(Strict):
    """The next deadline of an order: what, when, and what happens then."""

    name: str
    due_at: AwareDatetime
    due_at_local: AwareDatetime
    on_expiry: str


class PendingEdit(Strict):
    """A proposed change waiting for the other party's confirmation."""

    proposed_by: Role
    start: AwareDatetime | None = None
    duration_minutes: int | None = None
    items: list[LineItem] | None = None
    comment: str | None = None
    proposed_at: AwareDatetime


class Claim(Strict):
    """A customer's claim about the service and, once resolved, its outcome."""

    opened_at: AwareDatetime
    reason: str
    resolved_at: AwareDatetime | None = None
    outcome: str | None = None
    refund_amount: int | None = None
    note: str | None = None


class Review(Strict):
    """The customer's one rating and review."""

    rating: int
    text: str | None = None
    at: AwareDatetime


class Payout(Strict):
    """The provider's payout after closing."""

    due_at: AwareDatetime
    amount: int
    paid_at: AwareDatetime | None = None
    reference: str | None = None


class OrderView(Strict):
    """Everything a client, support agent or the read model needs to know about an order."""

    order_id: str
    flow: str
    status: str
    stage: str
    customer: Party
    provider: Party
    items: list[LineItem]
    currency: str
    amount_total: int
    appointment: Appointment
    awaiting: Role | None = None
    pending_edit: PendingEdit | None = None
    allowed_actions: dict[Role, list[str]] = Field(default_factory=dict)
    next_deadline: DeadlineView | None = None
    amount_paid: int = Field(default=0, description="Captured: charges plus captures.")
    amount_held: int = Field(default=0, description="Authorised and not yet captured.")
    amount_refunded: int = 0
    payments: list[PaymentRecord] = Field(default_factory=list)
    notifications: list[NotificationRecord] = Field(default_factory=list)
    history: list[Transition] = Field(default_factory=list)
    claim: Claim | None = None
    review: Review | None = None
    payout: Payout | None = None
    payment_client_secret: str | None = None
    last_payment_error: str | None = None
    needs_attention: bool = False
    attention_reason: str | None = None
    request_fingerprint: str
    created_at: AwareDatetime
    updated_at: AwareDatetime
    closed_at: AwareDatetime | None = None
    version: int = 0

    @property
    def terminal(self) -> bool:
        return self.closed_at is not None


class StartOrderInput(Strict):
    """The workflow's start argument: the accepted request plus the pinned policy."""

    order_id: OrderId
    request: CreateOrderRequest
    request_fingerprint: str
    policy: dict[str, Any]
    created_by: Actor
    received_at: AwareDatetime | None = None
    # Optional so orders started before it existed replay with the defaults they ran with.
    activities: ActivityPolicy | None = None


class StripeEvent(Strict):
    """A verified Stripe webhook event, forwarded to the order's workflow as a signal."""

    event_id: str
    type: str
    payment_intent_id: str | None = None
    amount: int | None = None
    failure_message: str | None = None
