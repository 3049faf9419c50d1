"""The shop order flow declared: states, actions, deadlines, transitions."""

from __future__ import annotations

from flows.shop_order.models import (
    FLOW,
    MarkEnteredPayload,
    ShopCancelPayload,
    ShopOrderRequest,
    ShopPayPayload,
)
from flows.shop_order.policy import ShopPolicy
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
from models.common import Role
from models.money import format_amount

CONTEXT_KEYS = frozenset(
    {
        "order_id",
        "customer_name",
        "status",
        "stage",
        "amount_total",
        "items_summary",
        "payment_summary",
        "reason",
        "quote_amount",
        "tracking",
        "replacement_order_id",
    }
)


OPEN = [
    "incomplete",
    "order_placed",
    "awaiting_customer_approval",
    "awaiting_evaluation",
    "awaiting_payment",
    "in_process",
]


def _cancel_money(v: OrderMoney) -> str | None:
    due = refundable(v)
    return f"Cancelling refunds {format_amount(due, v.currency)}" if due else None


@spec_per_policy(ShopPolicy)
def shop_order_spec(policy: ShopPolicy | None = None) -> FlowSpec:
    """The shop order flow (seed 001) under a policy."""
    p = policy or ShopPolicy()
    c, s = Role.customer, Role.support

    def state(name: str, label: str, description: str, terminal: bool = False) -> StateSpec:
        return StateSpec(name=name, label=label, description=description, terminal=terminal)

    return FlowSpec(
        name=FLOW,
        title="Online store order synced to Salesforce",
        source="001_b334d84970aa33c7.txt",
        description=(
            "An online store order: authorised (or a purchase order) it is placed and sent "
            "to Salesforce (opportunity and quote/order), then follows Salesforce's "
            "callbacks (evaluation complete, quote approved/declined, shipped) to completed. "
            "An order Salesforce has not taken within the patience is flagged for a CSR."
        ),
        initial="incomplete",
        states=[
            state(
                "incomplete",
                "Incomplete",
                "No satisfactory payment yet (none given, or the card was declined); never "
                "sent to Salesforce. The customer may pay again.",
            ),
            state(
                "order_placed",
                "Order Placed",
                "Card authorised (or purchase order given); being sent to Salesforce. Should "
                "last minutes: past the patience the order is flagged for manual entry.",
            ),
            state(
                "awaiting_customer_approval",
                "Awaiting Customer Approval",
                "A repair's quote in Salesforce waits for the customer's approval.",
            ),
            state(
                "awaiting_evaluation",
                "Awaiting Evaluation",
                "A zero-price EVAL repair waits until Salesforce marks the evaluation complete.",
            ),
            state(
                "awaiting_payment",
                "Awaiting Payment",
                "Paid by purchase order: fulfilled, then invoiced after shipping.",
            ),
            state("in_process", "In Process", "In Salesforce and being fulfilled."),
            state("completed", "Completed", "Fulfilled and shipped.", terminal=True),
            state(
                "cancelled",
                "Cancelled",
                "Cancelled by an administrator, by the system (no payment in time), or "
                "because a zero-price repair's price changed (a priced order replaces it).",
                terminal=True,
            ),
        ],
        actions=[
            action(
                "pay",
                ShopPayPayload,
                "Give a new card (authorised for the total) or a purchase order number.",
                {c: ["incomplete"]},
            ),
            action(
                "cancel",
                ShopCancelPayload,
                "Cancel with a reason (releases the card hold).",
                {s: list(OPEN)},
                _cancel_money,
            ),
            action(
                "mark_entered",
                MarkEnteredPayload,
                "A CSR entered the order in Salesforce by hand: it moves on, the sync stops.",
                {s: ["order_placed"]},
            ),
        ],
        deadlines=[
            DeadlineSpec(
                name="payment",
                state="incomplete",
                default=p.incomplete_window,
                starts="when the order is created",
                on_expiry="the order is cancelled automatically",
                gates=["pay", "cancel"],
            ),
            DeadlineSpec(
                name="salesforce_sync",
                state="order_placed",
                default=p.sync_patience,
                starts="when the order is placed",
                on_expiry="the order is flagged for manual entry in Salesforce; the sync "
                "keeps retrying",
            ),
            DeadlineSpec(
                name="salesforce_retry",
                state="order_placed",
                default=p.sync_retry_initial,
                starts=f"after a failed sync (doubling up to {span(p.sync_retry_max)})",
                on_expiry="the Salesforce sync is tried again",
            ),
        ],
        transitions=[
            TransitionSpec(source="incomplete", target="incomplete", label="pay (declined)"),
            TransitionSpec(source="incomplete", target="order_placed", label="pay"),
            TransitionSpec(source="incomplete", target="cancelled", label="cancel / timeout"),
            TransitionSpec(
                source="order_placed",
                target="awaiting_evaluation",
                label="synced / mark_entered (EVAL)",
            ),
            TransitionSpec(
                source="order_placed",
                target="awaiting_customer_approval",
                label="synced / mark_entered (repair)",
            ),
            TransitionSpec(
                source="order_placed", target="awaiting_payment", label="synced / mark_entered (PO)"
            ),
            TransitionSpec(
                source="order_placed", target="in_process", label="synced / mark_entered"
            ),
            TransitionSpec(source="order_placed", target="cancelled", label="cancel"),
            TransitionSpec(
                source="awaiting_evaluation",
                target="awaiting_customer_approval",
                label="evaluation_complete",
            ),
            TransitionSpec(source="awaiting_evaluation", target="cancelled", label="cancel"),
            TransitionSpec(
                source="awaiting_customer_approval", target="in_process", label="quote_approved"
            ),
            TransitionSpec(
                source="awaiting_customer_approval",
                target="awaiting_payment",
                label="quote_approved (PO)",
            ),
            TransitionSpec(
                source="awaiting_customer_approval",
                target="cancelled",
                label="quote_approved (EVAL: price changed) / quote_declined / cancel",
            ),
            TransitionSpec(source="in_process", target="completed", label="shipped (capture)"),
            TransitionSpec(source="in_process", target="cancelled", label="cancel"),
            TransitionSpec(
                source="awaiting_payment", target="completed", label="shipped (invoice due)"
            ),
            TransitionSpec(source="awaiting_payment", target="cancelled", label="cancel"),
        ],
    )


ENTRY = FlowEntry(
    name="shop_order",
    request=ShopOrderRequest,
    policy=ShopPolicy,
    spec=shop_order_spec,
    settings_field="shop",
    context_keys=CONTEXT_KEYS,
)
