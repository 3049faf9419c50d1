"""The prepaid service booking flow's models: its request, action payloads and view blocks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    model_validator,
)

from flows.prepaid_service.policy import PrepaidPolicy
from models.clock import readable_with_utc
from models.common import (
    JSON_NUMBER,
    LineItem,
    LongText,
    OrderRequest,
    Party,
    Role,
    ShortText,
    Strict,
    Timestamp,
    TimeZoneName,
    item_lines,
    order_total,
    within_charge_limit,
)
from models.money import format_amount


class EditPayload(Strict):
    """New date/time, duration or price, with an optional comment."""

    start: Timestamp | None = None
    duration_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60), JSON_NUMBER] | None = None
    items: Annotated[list[LineItem], Field(min_length=1, max_length=100)] | None = None
    comment: LongText | None = None

    @model_validator(mode="after")
    def _something(self) -> EditPayload:
        if self.start is None and self.duration_minutes is None and self.items is None:
            raise ValueError("an edit changes at least one of start, duration_minutes, items")
        if self.items is not None:
            within_charge_limit(order_total(self.items), "the edited total")
        return self


class PayPayload(Strict):
    """A Stripe PaymentMethod id (``pm_...``) made by the customer's client."""

    payment_method: ShortText


class OpenClaimPayload(Strict):
    """What went wrong with the service."""

    reason: LongText


class ResolveClaimPayload(Strict):
    """Support's decision on a claim."""

    outcome: Literal["no_refund", "partial_refund", "full_refund"]
    amount: Annotated[int, Field(gt=0), JSON_NUMBER] | None = None
    note: LongText | None = None

    @model_validator(mode="after")
    def _amount(self) -> ResolveClaimPayload:
        if self.outcome == "partial_refund" and self.amount is None:
            raise ValueError("a partial refund needs an amount")
        if self.outcome != "partial_refund" and self.amount is not None:
            raise ValueError("only a partial refund takes an amount")
        return self


class ReviewPayload(Strict):
    """One rating (1-5) and an optional review."""

    rating: Annotated[int, Field(ge=1, le=5), JSON_NUMBER]
    text: LongText | None = None


class Appointment(Strict):
    """When the service is provided, in the zone where it happens."""

    start: Timestamp
    duration_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60), JSON_NUMBER] = 60
    time_zone: TimeZoneName


class PrepaidServiceRequest(OrderRequest):
    """Body of ``POST /orders`` for the prepaid service booking flow."""

    flow: Literal["prepaid_service"]
    customer: Party
    provider: Party
    items: Annotated[list[LineItem], Field(min_length=1, max_length=100)]
    appointment: Appointment

    @model_validator(mode="after")
    def _paid_booking(self) -> PrepaidServiceRequest:
        # The flow exists to take the payment before the service: a free booking has
        # nothing to pay, and its "pay" would have no charge to make.
        if self.total() <= 0:
            raise ValueError("a prepaid booking's total must be above zero")
        return self

    def refusal(self, policy: BaseModel, now: datetime) -> str | None:
        assert isinstance(policy, PrepaidPolicy)
        start, zone = self.appointment.start, self.appointment.time_zone
        if start <= now:
            return (
                f"the appointment starts in the past ({readable_with_utc(start, zone)}); "
                "book a future time"
            )
        if start < now + policy.minimum_notice:
            return (
                f"the appointment starts within the minimum notice of "
                f"{policy.minimum_notice} ({readable_with_utc(start, zone)}); book a later time"
            )
        return None

    def customer_ref(self) -> str:
        return self.customer.id

    def total(self) -> int:
        return order_total(self.items)

    def web_summary(self) -> str:
        amount = format_amount(self.total(), self.currency)
        return f"{self.flow} · {self.customer.name} ({self.customer.id}) · {amount}"

    def web_details(self) -> list[str]:
        appointment = self.appointment
        lines = [
            f"**Flow** {self.flow}",
            f"**Customer** {self.customer.name} ({self.customer.id})",
            f"**Provider** {self.provider.name} ({self.provider.id})",
            f"**Appointment** {appointment.start.isoformat()} "
            f"({appointment.time_zone}, {appointment.duration_minutes} min)",
            "**Items**",
        ]
        return lines + item_lines(self.items, self.currency)


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
