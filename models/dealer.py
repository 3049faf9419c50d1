"""The dealer (OEM) order flow's models: request, policy, payloads, view block, spec.

An order a manufacturer (OEM) places with one of its dealers for a customer; the dealer
processes it (seed 002_8beac19d53e7d865.txt). ``workflows/dealer_order.py`` holds the
rules and the choices made where the seed is silent.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, model_validator
from pydantic.json_schema import WithJsonSchema

from models.actions import CancelPayload, NoPayload
from models.business_days import country_code, subdivision_code
from models.common import (
    LineItem,
    LongText,
    OrderRequest,
    Party,
    PartyId,
    Role,
    ShortText,
    Strict,
    TimeZoneName,
    order_total,
)
from models.flows import (
    ActionSpec,
    DeadlineSpec,
    FlowSpec,
    StateSpec,
    TransitionSpec,
    spec_per_policy,
)
from models.money import format_amount

FLOW = "dealer_order"

# The schema names the format (one of business_days.COUNTRY_CODES, in any case), so a
# client or a schema-driven test knows that not every two letters are accepted.
COUNTRY_FORMAT = "holiday-country"
CountryCode = Annotated[
    str,
    AfterValidator(country_code),
    WithJsonSchema({"type": "string", "format": COUNTRY_FORMAT, "examples": ["DE"]}),
]
PaymentMethodId = Annotated[str, Field(pattern=r"^pm_[A-Za-z0-9_]{1,120}$")]
TrackingNumber = Annotated[ShortText, Field(max_length=64)]


class Dealer(Party):
    """The dealer who processes the order, and where its business days are counted."""

    country: CountryCode = Field(description="ISO 3166-1 alpha-2 code of the holiday calendar.")
    time_zone: TimeZoneName
    subdivision: ShortText | None = Field(
        default=None, description="State or region code of the calendar (e.g. DE: BY, US: CA)."
    )

    @model_validator(mode="after")
    def _known_subdivision(self) -> Dealer:
        if self.subdivision is not None:
            self.subdivision = subdivision_code(self.country, self.subdivision)
        return self

    def party(self) -> Party:
        """The dealer as a plain party (the view's ``provider``)."""
        return Party(id=self.id, name=self.name, email=self.email)


class CardPayment(Strict):
    """Card payment: the payment method is pre-authorised when the order is placed."""

    method: Literal["card"]
    payment_method: PaymentMethodId


class OnAccountPayment(Strict):
    """Payment on account: the dealer's business system invoices and collects."""

    method: Literal["on_account"]
    account_reference: ShortText | None = Field(
        default=None, description="The customer's account or purchase-order number."
    )


Payment = Annotated[CardPayment | OnAccountPayment, Field(discriminator="method")]


class DealerOrderRequest(OrderRequest):
    """Body of ``POST /orders`` for a dealer (OEM) order."""

    flow: Literal["dealer_order"]
    manufacturer: Party
    dealer: Dealer
    customer: Party
    items: Annotated[list[LineItem], Field(min_length=1, max_length=100)]
    payment: Payment

    @model_validator(mode="after")
    def _card_amount(self) -> DealerOrderRequest:
        if isinstance(self.payment, CardPayment) and self.total() == 0:
            raise ValueError("a card payment needs an amount above zero")
        return self

    def customer_ref(self) -> str:
        return self.customer.id

    def total(self) -> int:
        return order_total(self.items)

    def web_summary(self) -> str:
        amount = format_amount(self.total(), self.currency)
        return (
            f"{self.flow} · {self.manufacturer.name} → {self.dealer.name} · "
            f"{self.customer.name} ({self.customer.id}) · {amount}"
        )

    def web_details(self) -> list[str]:
        from models.orders import item_lines  # models.orders imports this module

        dealer = self.dealer
        region = f"{dealer.country}{'-' + dealer.subdivision if dealer.subdivision else ''}"
        lines = [
            f"**Flow** {self.flow}",
            f"**Manufacturer** {self.manufacturer.name} ({self.manufacturer.id})",
            f"**Dealer** {dealer.name} ({dealer.id}), {region}, {dealer.time_zone}",
            f"**Customer** {self.customer.name} ({self.customer.id})",
            f"**Payment** {payment_label(self.payment)}",
            "**Items**",
        ]
        return lines + item_lines(self.items, self.currency)


def payment_label(payment: CardPayment | OnAccountPayment) -> str:
    """How a payment is named in mails and the Web UI."""
    if isinstance(payment, CardPayment):
        return "card"
    ref = payment.account_reference
    return f"on account ({ref})" if ref else "on account"


class DealerPolicy(BaseModel):
    """Deadlines of the dealer order flow (seed 002); pinned into each order at start."""

    confirm_business_days: int = Field(
        default=1,
        ge=1,
        le=30,
        description="Business days (the dealer's country, subdivision and zone) to accept, "
        "review and confirm a new order before the manufacturer is told it failed.",
    )
    manufacturer_business_days: dict[PartyId, Annotated[int, Field(ge=1, le=30)]] = Field(
        default_factory=dict,
        description="Per manufacturer id, a number of business days other than the default.",
    )
    archive_after: timedelta = Field(
        default=timedelta(days=30),
        description="After an order is shipped, refunded or cancelled, it is archived (if it "
        "is not yet) and closed for good this long later.",
    )
    authorisation_retry: timedelta = Field(
        default=timedelta(minutes=10),
        description="When the payment provider cannot be reached at placement, the card's "
        "pre-authorisation is tried again this long later.",
    )

    @model_validator(mode="after")
    def _positive(self) -> DealerPolicy:
        for name in ("archive_after", "authorisation_retry"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        return self

    def business_days_for(self, manufacturer_id: str) -> int:
        """The confirmation window, in business days, for orders of this manufacturer."""
        return self.manufacturer_business_days.get(manufacturer_id, self.confirm_business_days)


class NotePayload(Strict):
    """Accepting or confirming an order, with an optional note for the history."""

    note: LongText | None = None


class ShipPayload(Strict):
    """One or more tracking numbers of the shipment, and the carrier."""

    tracking_numbers: Annotated[list[TrackingNumber], Field(min_length=1, max_length=20)]
    carrier: ShortText | None = None

    @model_validator(mode="after")
    def _distinct(self) -> ShipPayload:
        if len(set(self.tracking_numbers)) != len(self.tracking_numbers):
            raise ValueError("tracking numbers must be distinct")
        return self


class RefundPayload(Strict):
    """A refund is always of the whole order: only a reason, no amount."""

    reason: LongText


DEALER_ACTION_PAYLOADS: dict[str, type[BaseModel]] = {
    "accept": NotePayload,
    "confirm": NotePayload,
    "capture_payment": NoPayload,
    "mark_shipped": ShipPayload,
    "refund": RefundPayload,
    "cancel": CancelPayload,
    "archive": NoPayload,
    "unarchive": NoPayload,
}

# Where a new order stands before it is processed (all of them are the "New" tab).
ReviewStep = Literal["authorising", "awaiting_acceptance", "awaiting_confirmation", "confirmed"]


class DealerDetails(Strict):
    """The dealer order's own part of ``OrderView``."""

    manufacturer: Party
    dealer: Dealer
    payment_method: Literal["card", "on_account"]
    account_reference: str | None = None
    review_step: ReviewStep | None = Field(
        default=None, description="Within the New tab: what the order waits for."
    )
    business_days: int
    confirmation_due_at: AwareDatetime | None = None
    accepted_at: AwareDatetime | None = None
    confirmed_at: AwareDatetime | None = None
    confirmation_failed_at: AwareDatetime | None = Field(
        default=None, description="When the order-confirmation failure went to the OEM."
    )
    tracking_numbers: list[str] = Field(default_factory=list)
    carrier: str | None = None
    shipped_at: AwareDatetime | None = None
    collection: Literal["card", "external_system"] | None = Field(
        default=None,
        description="Who collects the money once shipped: the card capture, or the "
        "dealer's external business system (on account).",
    )
    credit_due: bool = Field(
        default=False,
        description="Refunded on account: the external business system must credit it.",
    )
    archive_at: AwareDatetime | None = None


CONTEXT_KEYS = frozenset(
    {
        "order_id",
        "customer_name",
        "dealer_name",
        "manufacturer_name",
        "status",
        "stage",
        "amount_total",
        "payment",
        "items",
        "business_days",
        "confirm_due_local",
        "tracking_numbers",
        "carrier",
        "reason",
        "refund_amount",
        "note",
    }
)

_PROCESSING = ["new", "paid"]
_COMPLETED = ["shipped", "refunded", "cancelled"]


@spec_per_policy(DealerPolicy)
def dealer_order_spec(policy: DealerPolicy | None = None) -> FlowSpec:
    """The dealer order flow (seed 002) under a policy."""
    p = policy or DealerPolicy()
    pr, s = Role.provider, Role.support

    def act(
        name: str, description: str, states: list[str], support_only: bool = False
    ) -> ActionSpec:
        roles = {s: states} if support_only else {pr: states, s: states}
        schema = DEALER_ACTION_PAYLOADS[name].model_json_schema()
        return ActionSpec(
            name=name, description=description, states_by_role=roles, payload_schema=schema
        )

    days = p.confirm_business_days
    return FlowSpec(
        name=FLOW,
        title="Dealer (OEM) order",
        source="002_8beac19d53e7d865.txt",
        description=(
            "A manufacturer's order processed by its dealer: accept, review and confirm "
            "within business days, capture the card, ship with tracking numbers, refund "
            "or cancel, archive. The statuses are the admin tabs (New, Paid, Shipped, "
            "Refunded, Cancelled); Archived is a flag (GET /orders?archived=true)."
        ),
        initial="new",
        states=[
            StateSpec(
                name="new",
                label="New",
                description="Placed (card pre-authorised), not processed yet: the dealer "
                "accepts it, then reviews and confirms it.",
            ),
            StateSpec(
                name="paid",
                label="Paid",
                description="The card payment was captured; not shipped yet.",
            ),
            StateSpec(
                name="shipped",
                label="Shipped",
                terminal=True,
                description="Shipped with tracking numbers; the card was captured, or on "
                "account the external business system collects. May still be refunded.",
            ),
            StateSpec(
                name="refunded",
                label="Refunded",
                terminal=True,
                description="The whole order was refunded.",
            ),
            StateSpec(
                name="cancelled",
                label="Cancelled",
                terminal=True,
                description="Cancelled; the card hold was released (a captured payment refunded).",
            ),
        ],
        actions=[
            act("accept", "Accept a new order (before it can be reviewed).", ["new"]),
            act(
                "confirm",
                "Confirm the accepted order after review (meets the business-day deadline).",
                ["new"],
            ),
            act("capture_payment", "Capture the card's pre-authorised payment.", ["new"]),
            act(
                "mark_shipped",
                "Mark it shipped with one or more tracking numbers (captures a card "
                "payment not captured yet; on account, the external system collects).",
                _PROCESSING,
            ),
            act(
                "refund", "Refund the whole order (the captured card payment).", ["paid", "shipped"]
            ),
            act(
                "cancel",
                "Cancel with a reason; releases the card hold (refunds a captured payment).",
                _PROCESSING,
            ),
            act("archive", "Hide it from the default list (the Archived tab).", _COMPLETED),
            act(
                "unarchive",
                "Bring an archived order back to its tab (before it closes).",
                _COMPLETED,
                support_only=True,
            ),
        ],
        deadlines=[
            DeadlineSpec(
                name="card_authorisation",
                state="new",
                default=timedelta(0),
                starts="at placement (card orders; retried every "
                f"{_minutes(p.authorisation_retry)} while the payment provider is unreachable)",
                on_expiry="the card is pre-authorised; a decline cancels the order",
            ),
            DeadlineSpec(
                name="confirmation",
                state="new",
                default=timedelta(days=days),
                starts=f"when the dealer can act (placement, or the card's pre-authorisation): "
                f"{days} business day(s) of the dealer's country and zone, per manufacturer",
                on_expiry="an order-confirmation failure goes to the manufacturer once; the "
                "order stays open and is flagged",
            ),
            DeadlineSpec(
                name="archive",
                state="shipped",
                default=p.archive_after,
                starts="when the order is shipped, refunded or cancelled",
                on_expiry="the order is archived (if it is not yet) and closed",
                gates=["refund", "archive", "unarchive"],
            ),
        ],
        transitions=[
            TransitionSpec(source="new", target="new", label="accept / confirm / 1 business day"),
            TransitionSpec(source="new", target="paid", label="capture_payment"),
            TransitionSpec(source="new", target="shipped", label="mark_shipped"),
            TransitionSpec(source="new", target="cancelled", label="cancel / card declined"),
            TransitionSpec(source="paid", target="shipped", label="mark_shipped"),
            TransitionSpec(source="paid", target="refunded", label="refund"),
            TransitionSpec(source="paid", target="cancelled", label="cancel (refund)"),
            TransitionSpec(source="shipped", target="refunded", label="refund"),
        ],
    )


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:g} min"
