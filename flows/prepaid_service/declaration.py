"""The prepaid service booking flow declared: states, actions, deadlines, transitions."""

from __future__ import annotations

from datetime import timedelta

from flows.prepaid_service.models import (
    EditPayload,
    OpenClaimPayload,
    PayPayload,
    PrepaidServiceRequest,
    ResolveClaimPayload,
    ReviewPayload,
)
from flows.prepaid_service.policy import PrepaidPolicy
from flows.spec import (
    DeadlineSpec,
    FlowEntry,
    FlowSpec,
    OrderMoney,
    StateSpec,
    TransitionSpec,
    action,
    refundable,
    span,
    spec_per_policy,
)
from models.actions import CancelPayload, NoPayload
from models.common import Role
from models.money import format_amount


def _cancel_money(v: OrderMoney) -> str | None:
    due = refundable(v)
    if not due:
        return None
    return (
        f"Cancelling refunds up to {format_amount(due, v.currency)} to the card, as the "
        "cancellation policy says"
    )


def _claim_money(v: OrderMoney) -> str | None:
    due = format_amount(refundable(v), v.currency)
    return f"A refund goes to the card: up to {due} is refundable"


@spec_per_policy(PrepaidPolicy)
def prepaid_service_spec(policy: PrepaidPolicy | None = None) -> FlowSpec:
    """The prepaid service booking flow (seed 003) under a deadline policy."""
    p = policy or PrepaidPolicy()
    c, pr, s = Role.customer, Role.provider, Role.support
    before_start = ["confirmation", "payment", "execution"]

    return FlowSpec(
        name="prepaid_service",
        title="Prepaid service booking",
        source="003_08051378bb92aaa0.txt",
        description=(
            "The customer books and pays before the service is provided. Confirmation -> "
            "Payment -> Execution in progress -> Confirmation of execution -> Closed."
        ),
        initial="confirmation",
        states=[
            StateSpec(
                name="confirmation",
                label="Confirmation",
                description="The awaited party confirms or edits; every edit restarts the "
                "window and passes the turn to the other party.",
            ),
            StateSpec(name="payment", label="Payment", description="The customer pays."),
            StateSpec(
                name="execution",
                label="Execution in progress",
                description="Paid; the service happens at the appointment. The provider "
                "may edit date/time (applied once the customer confirms) or cancel until "
                "it starts, then marks it done.",
            ),
            StateSpec(
                name="execution_confirmation",
                label="Confirmation of execution",
                description="The customer confirms the service or opens a claim.",
            ),
            StateSpec(
                name="claim_open",
                label="Claim open",
                description="The order stays open until support resolves the claim.",
            ),
            StateSpec(
                name="closed",
                label="Closed",
                terminal=True,
                description="The customer may review; the provider is paid out later.",
            ),
            StateSpec(name="cancelled", label="Cancelled", terminal=True, description="Cancelled."),
        ],
        actions=[
            action(
                "confirm",
                NoPayload,
                "Confirm the order or the other party's edit (the awaited party only).",
                {c: ["confirmation", "execution"], pr: ["confirmation"]},
            ),
            action(
                "edit",
                EditPayload,
                "Propose a new date/time, duration or price (price only before payment).",
                {c: ["confirmation"], pr: ["confirmation", "execution"]},
            ),
            action(
                "cancel",
                CancelPayload,
                "Cancel with a reason; refunds follow the cancellation policy.",
                {c: before_start, pr: before_start, s: before_start},
                _cancel_money,
            ),
            action("pay", PayPayload, "Pay the order through Stripe.", {c: ["payment"]}),
            action(
                "mark_done",
                NoPayload,
                "Mark the service provided (once the appointment has started).",
                {pr: ["execution"]},
            ),
            action(
                "confirm_execution",
                NoPayload,
                "Confirm the service was provided.",
                {c: ["execution_confirmation"]},
            ),
            action(
                "open_claim",
                OpenClaimPayload,
                "Open a claim about the service.",
                {c: ["execution_confirmation"]},
            ),
            action(
                "resolve_claim",
                ResolveClaimPayload,
                "Resolve the claim, with or without refund.",
                {s: ["claim_open"]},
                _claim_money,
            ),
            action(
                "review",
                ReviewPayload,
                "Rate the service (1-5) once, with an optional review.",
                {c: ["closed"]},
            ),
        ],
        deadlines=[
            DeadlineSpec(
                name="confirmation",
                state="confirmation",
                default=p.confirm_window,
                starts=f"at creation and at every edit ({span(p.same_day_confirm_window)} "
                "if the appointment starts the same calendar day in its time zone); it "
                "ends at the appointment's start at the latest",
                on_expiry="the order is cancelled automatically",
                gates=["confirm", "edit", "cancel"],
            ),
            DeadlineSpec(
                name="payment",
                state="payment",
                default=p.payment_window,
                starts="when the order is confirmed; it ends at the appointment's start at "
                "the latest (the customer pays before the service is provided)",
                on_expiry="the order is cancelled automatically",
                gates=["pay", "cancel"],
            ),
            DeadlineSpec(
                name="payment_reminder",
                state="payment",
                default=p.payment_reminder or timedelta(0),
                starts=f"{span(p.payment_reminder or timedelta(0))} before the "
                "payment deadline (none when the policy sets no reminder)",
                on_expiry="the customer is reminded to pay by email",
            ).reminder(),
            DeadlineSpec(
                name="edit_confirmation",
                state="execution",
                default=p.confirm_window,
                starts="when the provider edits a paid order (same-day rule applies)",
                on_expiry="the proposed edit lapses; the order keeps its appointment",
                gates=["confirm"],
            ),
            DeadlineSpec(
                name="appointment_start",
                state="execution",
                default=timedelta(0),
                starts="at the appointment's start",
                on_expiry="edits and cancellation by the parties close; the provider can mark "
                "the service done",
                gates=["edit"],
            ),
            DeadlineSpec(
                name="mark_done",
                state="execution",
                default=p.done_window,
                starts="when the appointment ends",
                on_expiry="the service is confirmed as done automatically",
                gates=["mark_done", "confirm", "edit", "cancel"],
            ),
            DeadlineSpec(
                name="execution_confirmation",
                state="execution_confirmation",
                default=p.execution_confirm_window,
                starts="when the service is marked done",
                on_expiry="the order is confirmed and closed automatically",
                gates=["confirm_execution", "open_claim"],
            ),
            DeadlineSpec(
                name="payout",
                state="closed",
                default=p.payout_delay,
                starts="when the order closes",
                on_expiry="the provider's payout is credited",
                gates=["review"],
            ),
        ],
        transitions=[
            TransitionSpec(source="confirmation", target="confirmation", label="edit"),
            TransitionSpec(source="confirmation", target="payment", label="confirm"),
            TransitionSpec(source="confirmation", target="cancelled", label="cancel / timeout"),
            TransitionSpec(source="payment", target="execution", label="pay"),
            TransitionSpec(source="payment", target="cancelled", label="cancel / timeout"),
            TransitionSpec(source="execution", target="execution", label="edit / confirm edit"),
            TransitionSpec(
                source="execution",
                target="execution_confirmation",
                label=f"mark_done / {span(p.done_window)}",
            ),
            TransitionSpec(source="execution", target="cancelled", label="cancel (refund)"),
            TransitionSpec(
                source="execution_confirmation",
                target="closed",
                label=f"confirm / {span(p.execution_confirm_window)}",
            ),
            TransitionSpec(
                source="execution_confirmation", target="claim_open", label="open_claim"
            ),
            TransitionSpec(source="claim_open", target="closed", label="resolve_claim"),
        ],
    )


CONTEXT_KEYS = frozenset(
    {
        "order_id",
        "customer_name",
        "provider_name",
        "status",
        "stage",
        "amount_total",
        "items",
        "appointment_local",
        "deadline_name",
        "deadline_local",
        "reason",
        "refund_amount",
        "comment",
        "rating",
    }
)


ENTRY = FlowEntry(
    name="prepaid_service",
    request=PrepaidServiceRequest,
    policy=PrepaidPolicy,
    spec=prepaid_service_spec,
    settings_field="prepaid",
    context_keys=CONTEXT_KEYS,
)
