"""The charge box installation flow (seed 000): request, policy, payloads, view and spec.

Imports primitives from ``models.common`` only: ``models.orders`` imports this module.
The rules themselves are in ``workflows/charge_box_installation.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, model_validator

from models.actions import CancelPayload, NoPayload
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
from models.flows import (
    ActionSpec,
    DeadlineSpec,
    FlowSpec,
    StateSpec,
    TransitionSpec,
    spec_per_policy,
)
from models.money import format_amount

FLOW = "charge_box_installation"

# A Stripe PaymentMethod id made by the customer's client (Stripe.js): ``pm_...``.
PaymentMethodId = Annotated[str, StringConstraints(pattern=r"^pm_[A-Za-z0-9_]{1,200}$")]
OnboardingFlowName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class InstallationEmail(StrEnum):
    """The email types of the flow; each onboarding flow enables some of them.

    The type is the email's event name (``activities/templates/charge_box_installation/``).
    """

    order_confirmation = "order_confirmation"
    installation_request = "installation_request"
    scheduled = "scheduled"
    rescheduled = "rescheduled"
    unscheduled = "unscheduled"
    fulfilled = "fulfilled"
    cancelled = "cancelled"
    payment_failed = "payment_failed"


# Context value of ``trigger`` when a person asked for the email (a manual resend).
MANUAL = "manual"
AUTOMATIC = "automatic"
DEFAULT_ONBOARDING_FLOW = "standard"


def _every_email() -> dict[str, list[InstallationEmail]]:
    return {DEFAULT_ONBOARDING_FLOW: list(InstallationEmail)}


class InstallationPolicy(BaseModel):
    """Rules of the charge box installation flow (seed 000), set per deployment.

    Pinned into each order like every policy, but the email switch (``onboarding_flows``)
    is read from the worker's own settings when an email is due (``activities/email.py``);
    the order's copy only records what the deployment said at creation.
    """

    onboarding_flows: dict[OnboardingFlowName, list[InstallationEmail]] = Field(
        default_factory=_every_email,
        description="Each onboarding flow this deployment knows, with the email types it "
        "sends. Read by the worker when an email is due (a type enabled later is sent from "
        "then on, on running orders too); an order naming another flow is refused.",
    )
    payment_retry_interval: timedelta = Field(
        default=timedelta(hours=1),
        description="When the payment provider cannot be reached at a scheduled fulfilment, "
        "the order stays scheduled and tries again after this long.",
    )

    @model_validator(mode="after")
    def _valid(self) -> InstallationPolicy:
        if not self.onboarding_flows:
            raise ValueError("at least one onboarding flow is needed")
        if self.payment_retry_interval <= timedelta(0):
            raise ValueError("payment_retry_interval must be positive")
        return self

    def known_flows(self) -> str:
        return ", ".join(sorted(self.onboarding_flows))

    def email_skip_reason(self, event: str, context: Mapping[str, str]) -> str | None:
        """Why an email of ``event`` is not sent under this policy (None: send it).

        A manual resend (``trigger`` ``manual``) is support's explicit decision and is
        never held back; events that are no email type are not switchable.
        """
        if context.get("trigger") == MANUAL or event not in InstallationEmail.__members__:
            return None
        flow = context.get("onboarding_flow", "")
        enabled = self.onboarding_flows.get(flow)
        if enabled is None:
            return (
                f"email type {event} is not enabled for onboarding flow {flow}: the flow is "
                f"no longer configured (known: {self.known_flows()})"
            )
        if event not in enabled:
            return f"email type {event} is not enabled for onboarding flow {flow}"
        return None


# ----- the request -------------------------------------------------------------------------


class CardPayment(Strict):
    """Pay by card: charged through Stripe when the order is fulfilled."""

    method: Literal["card"]
    payment_method: PaymentMethodId


class OffStripePayment(Strict):
    """Pay by invoice or another agreed way: no Stripe call; an invoice is due at fulfilment."""

    method: Literal["invoice", "other"]
    reference: ShortText | None = Field(
        default=None, description="Purchase order number or agreement, shown on the invoice."
    )


InstallationPayment = Annotated[CardPayment | OffStripePayment, Field(discriminator="method")]


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


# ----- action payloads ---------------------------------------------------------------------


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


INSTALLATION_ACTION_PAYLOADS: dict[str, type[BaseModel]] = {
    "fulfil": FulfilPayload,
    "schedule": SchedulePayload,
    "unschedule": UnschedulePayload,
    "resend_order_confirmation": NoPayload,
    "initiate_installation": NoPayload,
    "update_payment_method": UpdatePaymentMethodPayload,
    "cancel": CancelPayload,
}


# ----- the view ----------------------------------------------------------------------------


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


# Every key the workflow passes to the flow's email templates.
CONTEXT_KEYS = frozenset(
    {
        "order_id",
        "customer_name",
        "partner_name",
        "onboarding_flow",
        "status",
        "stage",
        "amount_total",
        "items",
        "payment",
        "installation_address",
        "scheduled_local",
        "previous_local",
        "charged",
        "reason",
        "note",
        "trigger",
    }
)


# ----- the spec ----------------------------------------------------------------------------


@spec_per_policy(InstallationPolicy)
def charge_box_installation_spec(policy: InstallationPolicy | None = None) -> FlowSpec:
    """The charge box installation flow (seed 000) under a policy."""
    p = policy or InstallationPolicy()
    c, s = Role.customer, Role.support
    open_states = ["pending", "scheduled"]

    def act(name: str, description: str, states: dict[Role, list[str]]) -> ActionSpec:
        schema = INSTALLATION_ACTION_PAYLOADS[name].model_json_schema()
        return ActionSpec(
            name=name, description=description, states_by_role=states, payload_schema=schema
        )

    return FlowSpec(
        name=FLOW,
        title="Charge box installation",
        source="000_f314a135c80c2c25.txt",
        description=(
            "A charge box is installed and activated by an installation partner; support "
            "fulfils the order (now, or at a scheduled time that fulfils it by itself), "
            "which processes a card payment through Stripe. Pending -> Scheduled -> "
            "Fulfilled; Cancelled."
        ),
        initial="pending",
        states=[
            StateSpec(
                name="pending",
                label="Pending",
                description="Somewhere in the installation / activation process.",
            ),
            StateSpec(
                name="scheduled",
                label="Scheduled",
                description="The customer or support set a time; the order fulfils itself then.",
            ),
            StateSpec(
                name="fulfilled",
                label="Fulfilled",
                terminal=True,
                description="Installed and activated (or delivered); the payment is processed.",
            ),
            StateSpec(
                name="cancelled",
                label="Cancelled",
                terminal=True,
                description="Cancelled before fulfilment; nothing was charged.",
            ),
        ],
        actions=[
            act(
                "fulfil",
                "Fulfil now; a card is charged through Stripe (a decline leaves the order "
                "where it was, flagged).",
                {s: open_states},
            ),
            act(
                "schedule",
                "Schedule (or move) the fulfilment to a future time; it fulfils by itself then.",
                {c: open_states, s: open_states},
            ),
            act(
                "unschedule",
                "Cancel the scheduled fulfilment: back to pending.",
                {c: ["scheduled"], s: ["scheduled"]},
            ),
            act(
                "resend_order_confirmation",
                "Send the order confirmation to the customer again (even if the type is "
                "not enabled for the order's onboarding flow).",
                {s: open_states},
            ),
            act(
                "initiate_installation",
                "Send the installation request to the installation partner again (even if "
                "the type is not enabled for the order's onboarding flow).",
                {s: open_states},
            ),
            act(
                "update_payment_method",
                "Give a new card for the payment at fulfilment (card orders).",
                {c: open_states},
            ),
            act("cancel", "Cancel before fulfilment, with a reason.", {s: open_states}),
        ],
        deadlines=[
            DeadlineSpec(
                name="scheduled_fulfilment",
                state="scheduled",
                default=timedelta(0),
                starts="when the customer or support schedules the fulfilment (at the chosen time)",
                on_expiry="the order is fulfilled and the card charged; a decline returns it "
                "to pending, flagged, and tells the customer",
                gates=["fulfil", "schedule", "unschedule", "update_payment_method", "cancel"],
            ),
            DeadlineSpec(
                name="fulfilment_retry",
                state="scheduled",
                default=p.payment_retry_interval,
                starts="when the payment provider could not be reached at the scheduled time",
                on_expiry="the scheduled fulfilment is tried again",
            ),
        ],
        transitions=[
            TransitionSpec(source="pending", target="scheduled", label="schedule"),
            TransitionSpec(source="scheduled", target="scheduled", label="schedule (move)"),
            TransitionSpec(source="scheduled", target="pending", label="unschedule / declined"),
            TransitionSpec(source="pending", target="fulfilled", label="fulfil"),
            TransitionSpec(source="scheduled", target="fulfilled", label="fulfil / at the time"),
            TransitionSpec(source="pending", target="cancelled", label="cancel"),
            TransitionSpec(source="scheduled", target="cancelled", label="cancel"),
        ],
    )
