"""The charge box installation flow declared: states, actions, deadlines, transitions."""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from flows.charge_box_installation.models import (
    FLOW,
    ChargeBoxInstallationRequest,
    FulfilPayload,
    InstallationDetails,
    SchedulePayload,
    UnschedulePayload,
    UpdatePaymentMethodPayload,
)
from flows.charge_box_installation.policy import InstallationPolicy
from flows.spec import (
    DeadlineSpec,
    FlowEntry,
    FlowSpec,
    OrderMoney,
    StateSpec,
    TransitionSpec,
    action,
    spec_per_policy,
)
from models.actions import CancelPayload, NoPayload
from models.common import Role
from models.money import format_amount

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


class _Installation(OrderMoney, Protocol):
    @property
    def installation(self) -> InstallationDetails | None: ...


def _fulfil_money(v: _Installation) -> str | None:
    total = format_amount(v.amount_total, v.currency)
    if v.installation and v.installation.payment_type == "card":
        return f"Fulfilling charges {total} to the customer's card"
    return f"Fulfilling invoices {total}"


@spec_per_policy(InstallationPolicy)
def charge_box_installation_spec(policy: InstallationPolicy | None = None) -> FlowSpec:
    """The charge box installation flow (seed 000) under a policy."""
    p = policy or InstallationPolicy()
    c, s = Role.customer, Role.support
    open_states = ["pending", "scheduled"]

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
            action(
                "fulfil",
                FulfilPayload,
                "Fulfil now; a card is charged through Stripe (a decline leaves the order "
                "where it was, flagged).",
                {s: open_states},
                _fulfil_money,
            ),
            action(
                "schedule",
                SchedulePayload,
                "Schedule (or move) the fulfilment to a future time; it fulfils by itself then.",
                {c: open_states, s: open_states},
            ),
            action(
                "unschedule",
                UnschedulePayload,
                "Cancel the scheduled fulfilment: back to pending.",
                {c: ["scheduled"], s: ["scheduled"]},
            ),
            action(
                "resend_order_confirmation",
                NoPayload,
                "Send the order confirmation to the customer again (even if the type is "
                "not enabled for the order's onboarding flow).",
                {s: open_states},
            ),
            action(
                "initiate_installation",
                NoPayload,
                "Send the installation request to the installation partner again (even if "
                "the type is not enabled for the order's onboarding flow).",
                {s: open_states},
            ),
            action(
                "update_payment_method",
                UpdatePaymentMethodPayload,
                "Give a new card for the payment at fulfilment (card orders).",
                {c: open_states},
            ),
            action(
                "cancel",
                CancelPayload,
                "Cancel before fulfilment, with a reason.",
                {s: open_states},
            ),
        ],
        deadlines=[
            DeadlineSpec(
                name="scheduled_fulfilment",
                state="scheduled",
                default=timedelta(0),
                starts="when the customer or support schedules the fulfilment (at the chosen time)",
                on_expiry="the order is fulfilled and its payment processed (a card is charged, "
                "another payment is recorded as due); a decline returns it to pending, flagged, "
                "and tells the customer",
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


ENTRY = FlowEntry(
    name="charge_box_installation",
    request=ChargeBoxInstallationRequest,
    policy=InstallationPolicy,
    spec=charge_box_installation_spec,
    settings_field="installation",
    context_keys=CONTEXT_KEYS,
)
