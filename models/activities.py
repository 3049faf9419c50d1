"""Inputs and results of activities: one model each, so fields can be added safely.

Activity names are constants here so the workflow, the worker and test fakes agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from flows.account_order.models import Receipt
from flows.shop_order.models import ShopItem
from models.common import Recipient, Strict
from models.orders import NotificationRecord, NotificationStatus, OrderView, PaymentOutcome

SEND_EMAIL = "send_email"
CHARGE_PAYMENT = "charge_payment"
REFUND_PAYMENT = "refund_payment"
CREATE_CUSTOMER = "create_customer"
AUTHORISE_PAYMENT = "authorise_payment"
CAPTURE_PAYMENT = "capture_payment"
CANCEL_AUTHORISATION = "cancel_authorisation"
RECORD_ORDER = "record_order"
RECORD_PAYOUT = "record_payout"
APPLY_EFFECTS = "apply_effects"


class SendEmailInput(Strict):
    """One email of one order event to one recipient; the key makes a retry a no-op."""

    idempotency_key: str
    order_id: str
    flow: str
    event: str
    recipient_role: Recipient
    to_address: str
    to_name: str
    context: dict[str, str] = Field(default_factory=dict)
    # Account orders: the receipt, attached as HTML and PDF (optional: old inputs decode).
    receipt: Receipt | None = None


class SendEmailResult(Strict):
    """What happened to the email."""

    status: NotificationStatus
    detail: str | None = None
    message_id: str | None = None


class ChargeInput(Strict):
    """Charge a payment method at once (automatic capture)."""

    idempotency_key: str
    order_id: str
    amount: int = Field(gt=0)
    currency: str
    payment_method: str
    customer_email: str | None = None


class ChargeResult(Strict):
    """A charge's outcome: a decline is an outcome, not an error."""

    outcome: PaymentOutcome
    payment_intent_id: str | None = None
    client_secret: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None


class RefundInput(Strict):
    """Refund part or all of a captured PaymentIntent."""

    idempotency_key: str
    order_id: str
    payment_intent_id: str
    amount: int = Field(gt=0)
    currency: str


class RefundResult(Strict):
    """A refund's outcome."""

    outcome: PaymentOutcome
    refund_id: str | None = None
    failure_message: str | None = None


class RecordOrderInput(Strict):
    """Write the order's current view to the read model (upsert; replays are no-ops)."""

    view: OrderView


class RecordPayoutInput(Strict):
    """Record the provider's payout for a closed order."""

    idempotency_key: str
    order_id: str
    provider_id: str
    amount: int = Field(ge=0)
    currency: str
    due_at: AwareDatetime


class RecordPayoutResult(BaseModel):
    """The payout's reference in the read model."""

    reference: str
    paid_at: AwareDatetime


class CreateCustomerInput(Strict):
    """Create the Stripe Customer that an order's payments are made for."""

    idempotency_key: str
    order_id: str
    email: str
    name: str


class CreateCustomerResult(Strict):
    """The Stripe Customer's id (``cus_...``)."""

    customer_id: str


class AuthoriseInput(Strict):
    """Hold an amount on a payment method (manual capture) without taking it yet."""

    idempotency_key: str
    order_id: str
    amount: int = Field(gt=0)
    currency: str
    payment_method: str
    customer_id: str | None = None


class AuthoriseResult(Strict):
    """An authorisation's outcome: ``succeeded`` means the hold is in place.

    ``status`` is Stripe's PaymentIntent status (``requires_capture`` for a hold in place,
    ``requires_action`` while the customer must authenticate); it is None when a decline
    came without the PaymentIntent.
    """

    outcome: PaymentOutcome
    status: str | None = None
    payment_intent_id: str | None = None
    client_secret: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    amount_capturable: int = Field(default=0, ge=0)


class CaptureInput(Strict):
    """Take all (``amount_to_capture`` None) or part of an authorised amount."""

    idempotency_key: str
    order_id: str
    payment_intent_id: str
    amount_to_capture: int | None = Field(default=None, gt=0)


class CaptureResult(Strict):
    """What was captured; the rest of the hold is released by Stripe."""

    payment_intent_id: str
    status: str
    amount_captured: int = Field(ge=0)


class CancelAuthorisationInput(Strict):
    """Release a hold (cancel a PaymentIntent that is not captured)."""

    idempotency_key: str
    order_id: str
    payment_intent_id: str


class CancelAuthorisationResult(Strict):
    """The released PaymentIntent (``status`` is ``canceled``)."""

    payment_intent_id: str
    status: str


# ----- account_order: the bill-cycle run --------------------------------------------------

INVOICE_CYCLE_PAGE = "invoice_cycle_page"


class InvoiceCyclePageInput(Strict):
    """Invoice one page of a cycle's completed account orders (those after ``after``)."""

    cycle: str
    after: str | None = None
    limit: int = Field(default=500, ge=1, le=5000)


class InvoiceCyclePageResult(Strict):
    """How many invoices this page added, and where the next page starts (None: done)."""

    orders: int
    invoiced: int
    next_after: str | None = None


# ----- shop_order: the Salesforce sync --------------------------------------------------

SYNC_SALESFORCE_ORDER = "sync_salesforce_order"


class SalesforceSyncInput(Strict):
    """Upsert an order into Salesforce: Account (the customer), Opportunity, Quote or Order.

    Every record is upserted by the external id field (``Settings.salesforce_external_id_field``)
    with the customer's id (Account) or the order's id (the others), so a repeated call
    updates what the first one created instead of creating it twice.
    """

    order_id: str
    kind: str
    customer_id: str
    customer_name: str
    customer_email: str
    items: list[ShopItem]
    currency: str
    amount_total: int = Field(ge=0)
    placed_at: AwareDatetime
    payment_method: str
    po_number: str | None = None
    replaces: str | None = None
    # "Quote" for a repair awaiting the customer's approval (EVAL included), else "Order".
    record_type: Literal["Quote", "Order"]
    stage: str


class SalesforceSyncResult(Strict):
    """The Salesforce ids of the order's records."""

    account_id: str
    opportunity_id: str
    record_type: Literal["Quote", "Order"]
    record_id: str


class EffectsInput(Strict):
    """A transition's effects in one round trip: its queued emails, then the view to record.

    Each email is tried once; the view is written with the settled emails' records added
    (:func:`recorded_view`). What is left (an email that failed for now, a write the
    database refused) the workflow finishes with ``send_email`` and ``record_order``.
    """

    view: OrderView
    emails: list[SendEmailInput] = Field(default_factory=list)


class EffectsResult(Strict):
    """What the effects activity did: the emails it settled, those left, the write."""

    # The settled emails' records, exactly as written with the view (sent, skipped, failed).
    notifications: list[NotificationRecord] = Field(default_factory=list)
    # Emails that failed for now (SMTP unreachable, a 4xx), by key: why. Not recorded.
    unsettled: dict[str, str] = Field(default_factory=dict)
    recorded: bool = False
    # Why the view was not written (the database's error), when it was not.
    record_error: str | None = None


def notification_record(
    email: SendEmailInput, status: NotificationStatus, detail: str | None, at: datetime
) -> NotificationRecord:
    """The record of one email's outcome (the workflow's and the effects activity's)."""
    return NotificationRecord(
        idempotency_key=email.idempotency_key,
        event=email.event,
        recipient_role=email.recipient_role,
        to=email.to_address,
        status=status,
        detail=detail,
        at=at,
    )


def recorded_view(input: EffectsInput, result: EffectsResult) -> OrderView:
    """The view the effects activity writes: the input's, plus the emails it settled."""
    if not result.notifications:
        return input.view
    notifications = [*input.view.notifications, *result.notifications]
    return input.view.model_copy(update={"notifications": notifications})
