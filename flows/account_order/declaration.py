"""The account order flow declared: states, actions, deadlines, transitions."""

from __future__ import annotations

from flows.account_order.models import (
    FLOW,
    AccountOrderRequest,
    EditOrderPayload,
    NotePayload,
    ReasonPayload,
    ReceiptPayload,
)
from flows.account_order.policy import AccountPolicy
from flows.spec import (
    DeadlineSpec,
    FlowEntry,
    FlowSpec,
    StateSpec,
    TransitionSpec,
    action,
    span,
    spec_per_policy,
)
from models.common import Role

CONTEXT_KEYS = frozenset(
    {
        "order_id",
        "account_name",
        "account_id",
        "status",
        "stage",
        "amount_total",
        "order_date",
        "payment_method",
        "reason",
        "receipt_text",
    }
)


@spec_per_policy(AccountPolicy)
def account_order_spec(policy: AccountPolicy | None = None) -> FlowSpec:
    """The account order flow (seed 004) under a policy."""
    p = policy or AccountPolicy()
    c, s = Role.customer, Role.support

    placed = "in progress (approval)" if p.approval_required else "completed (no approval needed)"
    return FlowSpec(
        name=FLOW,
        title="Account order (billing)",
        source="004_033fcf52ce38027c.txt",
        description=(
            "An order on an existing customer account: Draft -> In progress (approval, when "
            "required) -> Approved -> Completed, invoiced by the bill-cycle run; a draft "
            f"can be cancelled. Placing now leads to: {placed}."
        ),
        initial="draft",
        states=[
            StateSpec(
                name="draft",
                label="Draft",
                description="Saved to finish later; items, date, payment method and notes "
                "can change; can be cancelled.",
            ),
            StateSpec(
                name="in_progress",
                label="In progress",
                description="Placed; waiting for support's approval.",
            ),
            StateSpec(
                name="approved",
                label="Approved",
                description="Approved; support completes it as entered.",
            ),
            StateSpec(
                name="completed",
                label="Completed",
                terminal=True,
                description="Processed; the receipt can be emailed or reprinted; invoiced by "
                "the bill cycle of its completion month.",
            ),
            StateSpec(
                name="cancelled",
                label="Cancelled",
                terminal=True,
                description="Cancelled as a draft; read-only.",
            ),
        ],
        actions=[
            action(
                "edit",
                EditOrderPayload,
                "Replace the draft's items, order date, payment method or notes.",
                {c: ["draft"], s: ["draft"]},
            ),
            action(
                "place",
                NotePayload,
                "Place the order (every item priced and configured, a payment method set).",
                {c: ["draft"], s: ["draft"]},
            ),
            action(
                "cancel",
                ReasonPayload,
                "Cancel the draft, with a reason.",
                {c: ["draft"], s: ["draft"]},
            ),
            action("approve", NotePayload, "Approve the placed order.", {s: ["in_progress"]}),
            action(
                "return_to_draft",
                ReasonPayload,
                "Send the order back to draft for changes, with a reason.",
                {s: ["in_progress", "approved"]},
            ),
            action(
                "complete",
                NotePayload,
                "Complete the approved order; the receipt is emailed.",
                {s: ["approved"]},
            ),
            action(
                "send_email_receipt",
                ReceiptPayload,
                "Email the receipt again to the account's address.",
                {c: ["completed"], s: ["completed"]},
            ),
            action(
                "reprint_receipt",
                ReceiptPayload,
                "Another copy of the receipt (the view's receipt; GET /orders/{id}/receipt).",
                {c: ["completed"], s: ["completed"]},
            ),
        ],
        deadlines=[
            DeadlineSpec(
                name="draft_expiry",
                state="draft",
                default=p.draft_expiry,
                starts="at creation and at every edit or return to draft",
                on_expiry="the draft is cancelled as abandoned",
                gates=["edit", "place", "cancel"],
            ),
            DeadlineSpec(
                name="approval",
                state="in_progress",
                default=p.attention_after,
                starts="when the order is placed",
                on_expiry="the order is flagged for attention",
            ),
            DeadlineSpec(
                name="completion",
                state="approved",
                default=p.attention_after,
                starts="when the order is approved",
                on_expiry="the order is flagged for attention",
            ),
            DeadlineSpec(
                name="receipt_window",
                state="completed",
                default=p.receipt_window,
                starts="when the order completes",
                on_expiry="receipt actions close; the receipt stays readable from the database",
                gates=["send_email_receipt", "reprint_receipt"],
            ),
        ],
        transitions=[
            TransitionSpec(source="draft", target="draft", label="edit"),
            TransitionSpec(source="draft", target="in_progress", label="place (approval)"),
            TransitionSpec(source="draft", target="completed", label="place (no approval)"),
            TransitionSpec(
                source="draft", target="cancelled", label=f"cancel / {span(p.draft_expiry)}"
            ),
            TransitionSpec(source="in_progress", target="approved", label="approve"),
            TransitionSpec(source="in_progress", target="draft", label="return_to_draft"),
            TransitionSpec(source="approved", target="draft", label="return_to_draft"),
            TransitionSpec(source="approved", target="completed", label="complete"),
        ],
    )


ENTRY = FlowEntry(
    name="account_order",
    request=AccountOrderRequest,
    policy=AccountPolicy,
    spec=account_order_spec,
    settings_field="account",
    context_keys=CONTEXT_KEYS,
)
