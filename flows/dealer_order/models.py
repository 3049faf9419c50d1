"""The dealer (OEM) order flow's models: its request, action payloads and view block."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, Field, model_validator
from pydantic.json_schema import WithJsonSchema

from models.business_days import BusinessCalendar, country_code, subdivision_code
from models.common import (
    LineItem,
    LongText,
    OrderRequest,
    Party,
    ShortText,
    Strict,
    TimeZoneName,
    order_total,
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


class DealerCardPayment(Strict):
    """Card payment: the payment method is pre-authorised when the order is placed."""

    method: Literal["card"]
    payment_method: PaymentMethodId


class OnAccountPayment(Strict):
    """Payment on account: the dealer's business system invoices and collects."""

    method: Literal["on_account"]
    account_reference: ShortText | None = Field(
        default=None, description="The customer's account or purchase-order number."
    )


Payment = Annotated[DealerCardPayment | OnAccountPayment, Field(discriminator="method")]


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
        if isinstance(self.payment, DealerCardPayment) and self.total() == 0:
            raise ValueError("a card payment needs an amount above zero")
        return self

    def customer_ref(self) -> str:
        return self.customer.id

    def pinned(self, now: datetime) -> dict[str, Any]:
        # The dealer's holidays for this year and the next two, kept in the order.
        dealer = self.dealer
        return {"calendar": BusinessCalendar(dealer.country, dealer.subdivision).pin(now.year)}

    def total(self) -> int:
        return order_total(self.items)

    def web_summary(self) -> str:
        amount = format_amount(self.total(), self.currency)
        return (
            f"{self.flow} · {self.manufacturer.name} → {self.dealer.name} · "
            f"{self.customer.name} ({self.customer.id}) · {amount}"
        )

    def web_details(self) -> list[str]:
        from models.common import item_lines

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


def payment_label(payment: DealerCardPayment | OnAccountPayment) -> str:
    """How a payment is named in mails and the Web UI."""
    if isinstance(payment, DealerCardPayment):
        return "card"
    ref = payment.account_reference
    return f"on account ({ref})" if ref else "on account"


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
