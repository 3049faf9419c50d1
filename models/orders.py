"""The order's message surface: what clients send and what they get back.

These models cross every boundary (HTTP, Temporal payloads, activities), so they are
strict: unknown fields are rejected, money is integer minor units with an ISO currency,
and every datetime is timezone-aware.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import (
    AwareDatetime,
    Field,
    GetJsonSchemaHandler,
    TypeAdapter,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from flows.account_order.models import AccountDetails, AccountSnapshot
from flows.catalog import FLOWS, action_payload_models
from flows.charge_box_installation.models import InstallationDetails
from flows.dealer_order.models import DealerDetails
from flows.prepaid_service.models import (
    Appointment,
    Claim,
    Payout,
    PendingEdit,
    Review,
)
from flows.shop_order.models import ShopDetails
from models.business_days import PinnedCalendar
from models.common import (
    Actor,
    ClientActor,
    LineItem,
    OrderId,
    OrderRequest,
    Party,
    Recipient,
    Role,
    Strict,
)
from models.policy import ActivityPolicy

# The body of ``POST /orders``: one model per flow of the catalog, chosen by ``flow``.
if TYPE_CHECKING:
    CreateOrderRequest = OrderRequest
else:
    CreateOrderRequest = Annotated[
        Union[tuple(entry.request for entry in FLOWS.values())],  # noqa: UP007
        Field(discriminator="flow"),
    ]


class _AnyActionPayload:
    """Publishes ``ActionBody.payload`` as any one (flow, action) pair's payload model.

    The API passes the payload on as it came; the order's workflow validates it with the
    action's own model, so a payload that fits none is refused there (422).
    """

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        payloads: Any = Union[tuple(action_payload_models().values())]  # noqa: UP007
        return handler(TypeAdapter(payloads).core_schema)


class ActionBody(Strict):
    """Body of ``POST /orders/{order_id}/actions/{action}``; the API makes it an ActionRequest."""

    actor: ClientActor
    payload: Annotated[dict[str, Any], _AnyActionPayload()] = Field(
        default_factory=dict,
        description="The action's payload: for action `pay` on a `prepaid_service` order, "
        "a PrepaidServicePayPayload (every (flow, action) pair's is named so).",
    )

    def request(self, key_name: str) -> ActionRequest:
        """The Update's argument, its actor carrying the caller's key name."""
        actor = Actor(**self.actor.model_dump(), key_name=key_name)
        return ActionRequest(actor=actor, payload=self.payload)


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
    recipient_role: Recipient
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


class FiredDeadline(Strict):
    """A deadline that expired and what it was: each one fires once."""

    name: str
    due_at: AwareDatetime
    fired_at: AwareDatetime


class OrderView(Strict):
    """Everything a client, support agent or the read model needs to know about an order."""

    order_id: str
    # The tenant of the API key that created the order; keys of other tenants never see it.
    tenant: str | None = None
    flow: str
    status: str
    stage: str
    customer: Party
    # The other acting party (prepaid: the provider; installation: the installation
    # partner; dealer: the dealer), if the flow has one.
    provider: Party | None = None
    items: list[LineItem] = Field(default_factory=list)
    currency: str
    amount_total: int
    appointment: Appointment | None = None
    awaiting: Role | None = None
    pending_edit: PendingEdit | None = None
    allowed_actions: dict[Role, list[str]] = Field(default_factory=dict)
    next_deadline: DeadlineView | None = None
    deadlines_fired: list[FiredDeadline] = Field(
        default_factory=list, description="Deadlines that expired, oldest first."
    )
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
    archived: bool = Field(
        default=False, description="Hidden from the default list (GET /orders?archived=true)."
    )
    # Each flow's own part of the view (None for the other flows).
    account: AccountDetails | None = None
    installation: InstallationDetails | None = None
    shop: ShopDetails | None = None
    dealer: DealerDetails | None = None
    request_fingerprint: str
    created_at: AwareDatetime
    updated_at: AwareDatetime
    closed_at: AwareDatetime | None = None
    closure: str | None = Field(
        default=None,
        description="How and when the order closed (its terminal state's cause), once it has.",
    )
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
    # The account an account_order belongs to, resolved and pinned by the API.
    account: AccountSnapshot | None = None
    # The business-day calendar of a flow that counts business days, pinned by the API
    # (``OrderRequest.pinned``) so the workflow never consults a holiday package.
    calendar: PinnedCalendar | None = None
    # The tenant of the key that created the order (optional: older orders have none).
    tenant: str | None = None


class StripeEvent(Strict):
    """A verified Stripe webhook event, forwarded to the order's workflow as a signal."""

    event_id: str
    type: str
    payment_intent_id: str | None = None
    amount: int | None = None
    failure_message: str | None = None
