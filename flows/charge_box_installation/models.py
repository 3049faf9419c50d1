"""The charge box installation flow's models: its request, action payloads and view block."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from flows.charge_box_installation.policy import (
    DEFAULT_ONBOARDING_FLOW,
    InstallationPolicy,
    OnboardingFlowName,
)
from models.common import (
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
)
from models.money import format_amount

FLOW = "charge_box_installation"


# A Stripe PaymentMethod id made by the customer's client (Stripe.js): ``pm_...``.
PaymentMethodId = Annotated[str, StringConstraints(pattern=r"^pm_[A-Za-z0-9_]{1,200}$")]


class InstallationCardPayment(Strict):
    """Pay by card: charged through Stripe when the order is fulfilled."""

    method: Literal["card"]
    payment_method: PaymentMethodId


class OffStripePayment(Strict):
    """Pay by invoice or another agreed way: no Stripe call; an invoice is due at fulfilment."""

    method: Literal["invoice", "other"]
    reference: ShortText | None = Field(
        default=None, description="Purchase order number or agreement, shown on the invoice."
    )


InstallationPayment = Annotated[
    InstallationCardPayment | OffStripePayment, Field(discriminator="method")
]


class ChargeBoxInstallationRequest(OrderRequest):
    """Body of ``POST /orders`` for a charge box installation."""

    flow: Literal["charge_box_installation"]
    onboarding_flow: OnboardingFlowName = Field(
        default=DEFAULT_ONBOARDING_FLOW,
        description="The onboarding flow the customer came through; it decides which "
        "email types are sent (ORDERCLOCK_INSTALLATION__ONBOARDING_FLOWS).",
    )
    customer: Party
    installation_partner: Party
    items: Annotated[list[LineItem], Field(min_length=1, max_length=100)]
    time_zone: TimeZoneName = Field(description="Where the charge box is installed.")
    installation_address: LongText | None = None
    payment: InstallationPayment

    def customer_ref(self) -> str:
        return self.customer.id

    def total(self) -> int:
        return order_total(self.items)

    def web_summary(self) -> str:
        amount = format_amount(self.total(), self.currency)
        return f"{self.flow} · {self.customer.name} ({self.customer.id}) · {amount}"

    def web_details(self) -> list[str]:
        lines = [
            f"**Flow** {self.flow} (onboarding flow {self.onboarding_flow})",
            f"**Customer** {self.customer.name} ({self.customer.id})",
            f"**Installation partner** {self.installation_partner.name} "
            f"({self.installation_partner.id})",
            f"**Time zone** {self.time_zone}",
            f"**Payment** {self.payment.method}",
            "**Items**",
        ]
        return lines + item_lines(self.items, self.currency)

    def refusal(self, policy: BaseModel, now: datetime) -> str | None:
        assert isinstance(policy, InstallationPolicy)
        if self.onboarding_flow not in policy.onboarding_flows:
            return (
                f"unknown onboarding flow {self.onboarding_flow!r}; known onboarding flows: "
                f"{policy.known_flows()}"
            )
        return None


class FulfilPayload(Strict):
    """Fulfil now (the charge box is installed and activated, or the purchase delivered)."""

    note: LongText | None = None


class SchedulePayload(Strict):
    """The moment the order fulfils itself (replaces an earlier schedule)."""

    at: Timestamp
    note: LongText | None = None


class UnschedulePayload(Strict):
    """Cancel the scheduled fulfilment; the order waits again."""

    reason: LongText | None = None


class UpdatePaymentMethodPayload(Strict):
    """A new card (Stripe PaymentMethod id) for the payment at fulfilment."""

    payment_method: PaymentMethodId


class InstallationDetails(Strict):
    """The installation flow's own part of ``OrderView``."""

    onboarding_flow: str
    time_zone: str
    installation_address: str | None = None
    payment_type: Literal["card", "invoice", "other"]
    payment_method: str | None = Field(
        default=None, description="The card (PaymentMethod id) charged at fulfilment."
    )
    scheduled_for: AwareDatetime | None = None
    scheduled_for_local: AwareDatetime | None = None
    scheduled_by: Role | None = None
    awaiting_authentication: bool = Field(
        default=False, description="The card payment waits for the customer's 3-D Secure."
    )
    fulfilled_at: AwareDatetime | None = None
    amount_invoiced: int = 0
