"""Inputs and results of activities: one model each, so fields can be added safely.

Activity names are constants here so the workflow, the worker and test fakes agree.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

from models.orders import NotificationStatus, OrderView, PaymentOutcome, Role, Strict

SEND_EMAIL = "send_email"
CHARGE_PAYMENT = "charge_payment"
REFUND_PAYMENT = "refund_payment"
RECORD_ORDER = "record_order"
RECORD_PAYOUT = "record_payout"


class SendEmailInput(Strict):
    """One email of one order event to one recipient; the key makes a retry a no-op."""

    idempotency_key: str
    order_id: str
    flow: str
    event: str
    recipient_role: Role
    to_address: str
    to_name: str
    context: dict[str, str] = Field(default_factory=dict)


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
