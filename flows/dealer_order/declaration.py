"""The dealer (OEM) order flow declared: states, actions, deadlines, transitions."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel

from flows.dealer_order.models import (
    FLOW,
    DealerOrderRequest,
    NotePayload,
    RefundPayload,
    ShipPayload,
)
from flows.dealer_order.policy import DealerPolicy
from flows.spec import (
    ActionSpec,
    DeadlineSpec,
    FlowEntry,
    FlowSpec,
    MoneyMoved,
    OrderMoney,
    StateSpec,
    TransitionSpec,
    action,
    business_days,
    refundable,
    span,
    spec_per_policy,
)
from models.actions import CancelPayload, NoPayload
from models.common import Role
from models.money import format_amount

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


def _capture_money(v: OrderMoney) -> str | None:
    held = v.amount_held
    return f"Capture {format_amount(held, v.currency)} held on the card" if held else None


def _shipping_money(v: OrderMoney) -> str | None:
    held = v.amount_held
    return f"Shipping captures {format_amount(held, v.currency)} held on the card" if held else None


def _refund_money(v: OrderMoney) -> str | None:
    due = refundable(v)
    return f"Refund {format_amount(due, v.currency)} to the card" if due else None


def _cancel_money(v: OrderMoney) -> str | None:
    if v.amount_held:
        return (
            f"Cancelling releases the {format_amount(v.amount_held, v.currency)} held on the card"
        )
    due = refundable(v)
    return f"Cancelling refunds {format_amount(due, v.currency)}" if due else None


@spec_per_policy(DealerPolicy)
def dealer_order_spec(policy: DealerPolicy | None = None) -> FlowSpec:
    """The dealer order flow (seed 002) under a policy."""
    p = policy or DealerPolicy()
    pr, s = Role.provider, Role.support

    def act(
        name: str,
        payload: type[BaseModel],
        description: str,
        states: list[str],
        support_only: bool = False,
        money: MoneyMoved | None = None,
    ) -> ActionSpec:
        roles = {s: states} if support_only else {pr: states, s: states}
        return action(name, payload, description, roles, money)

    confirmation = DeadlineSpec(
        name="confirmation",
        state="new",
        default=timedelta(days=p.confirm_business_days),
        starts="when the dealer can act (placement, or the card's pre-authorisation): "
        f"{business_days(p.confirm_business_days)} of the dealer's country and zone (or the "
        "manufacturer's own number)",
        on_expiry="an order-confirmation failure goes to the manufacturer once; the "
        "order stays open and is flagged",
    ).worded(business_days(p.confirm_business_days))
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
            act("accept", NotePayload, "Accept a new order (before it can be reviewed).", ["new"]),
            act(
                "confirm",
                NotePayload,
                "Confirm the accepted order after review (meets the business-day deadline).",
                ["new"],
            ),
            act(
                "capture_payment",
                NoPayload,
                "Capture the card's pre-authorised payment.",
                ["new"],
                money=_capture_money,
            ),
            act(
                "mark_shipped",
                ShipPayload,
                "Mark it shipped with one or more tracking numbers (captures a card "
                "payment not captured yet; on account, the external system collects).",
                _PROCESSING,
                money=_shipping_money,
            ),
            act(
                "refund",
                RefundPayload,
                "Refund the whole order (the captured card payment).",
                ["paid", "shipped"],
                money=_refund_money,
            ),
            act(
                "cancel",
                CancelPayload,
                "Cancel with a reason; releases the card hold (refunds a captured payment).",
                _PROCESSING,
                money=_cancel_money,
            ),
            act(
                "archive",
                NoPayload,
                "Hide it from the default list (the Archived tab).",
                _COMPLETED,
            ),
            act(
                "unarchive",
                NoPayload,
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
                f"{span(p.authorisation_retry)} while the payment provider is unreachable)",
                on_expiry="the card is pre-authorised; a decline cancels the order",
            ),
            confirmation,
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
            TransitionSpec(
                source="new", target="new", label=f"accept / confirm / {confirmation.window}"
            ),
            TransitionSpec(source="new", target="paid", label="capture_payment"),
            TransitionSpec(source="new", target="shipped", label="mark_shipped"),
            TransitionSpec(source="new", target="cancelled", label="cancel / card declined"),
            TransitionSpec(source="paid", target="shipped", label="mark_shipped"),
            TransitionSpec(source="paid", target="refunded", label="refund"),
            TransitionSpec(source="paid", target="cancelled", label="cancel (refund)"),
            TransitionSpec(source="shipped", target="refunded", label="refund"),
        ],
    )


ENTRY = FlowEntry(
    name="dealer_order",
    request=DealerOrderRequest,
    policy=DealerPolicy,
    spec=dealer_order_spec,
    settings_field="dealer",
    context_keys=CONTEXT_KEYS,
)
