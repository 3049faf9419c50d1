"""Stub activities under orderclock's activity names: each answers at once, keeps nothing.

orderclock's workflows run unchanged against these; the baseline's one activity
(``bench.baseline.BareActivities``) is a stub of the same kind, so the comparison is of the
workflows and their payloads, not of Stripe, SMTP or a database.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from temporalio import activity

from models.activities import (
    AUTHORISE_PAYMENT,
    CANCEL_AUTHORISATION,
    CAPTURE_PAYMENT,
    CHARGE_PAYMENT,
    CREATE_CUSTOMER,
    RECORD_ORDER,
    RECORD_PAYOUT,
    REFUND_PAYMENT,
    SEND_EMAIL,
    AuthoriseInput,
    AuthoriseResult,
    CancelAuthorisationInput,
    CancelAuthorisationResult,
    CaptureInput,
    CaptureResult,
    ChargeInput,
    ChargeResult,
    CreateCustomerInput,
    CreateCustomerResult,
    RecordOrderInput,
    RecordPayoutInput,
    RecordPayoutResult,
    RefundInput,
    RefundResult,
    SendEmailInput,
    SendEmailResult,
)
from models.orders import NotificationStatus, PaymentOutcome


class StubActivities:
    """Every activity orderclock registers, answering success without side effects."""

    @activity.defn(name=SEND_EMAIL)
    async def send_email(self, input: SendEmailInput) -> SendEmailResult:
        return SendEmailResult(status=NotificationStatus.sent, message_id=input.idempotency_key)

    @activity.defn(name=CREATE_CUSTOMER)
    async def create_customer(self, input: CreateCustomerInput) -> CreateCustomerResult:
        return CreateCustomerResult(customer_id=f"cus_{input.order_id}")

    @activity.defn(name=CHARGE_PAYMENT)
    async def charge_payment(self, input: ChargeInput) -> ChargeResult:
        return ChargeResult(
            outcome=PaymentOutcome.succeeded, payment_intent_id=f"pi_{input.order_id}"
        )

    @activity.defn(name=AUTHORISE_PAYMENT)
    async def authorise_payment(self, input: AuthoriseInput) -> AuthoriseResult:
        return AuthoriseResult(
            outcome=PaymentOutcome.succeeded,
            status="requires_capture",
            payment_intent_id=f"pi_{input.idempotency_key}",
            amount_capturable=input.amount,
        )

    @activity.defn(name=CAPTURE_PAYMENT)
    async def capture_payment(self, input: CaptureInput) -> CaptureResult:
        return CaptureResult(
            payment_intent_id=input.payment_intent_id,
            status="succeeded",
            amount_captured=input.amount_to_capture or 0,
        )

    @activity.defn(name=CANCEL_AUTHORISATION)
    async def cancel_authorisation(
        self, input: CancelAuthorisationInput
    ) -> CancelAuthorisationResult:
        return CancelAuthorisationResult(
            payment_intent_id=input.payment_intent_id, status="canceled"
        )

    @activity.defn(name=REFUND_PAYMENT)
    async def refund_payment(self, input: RefundInput) -> RefundResult:
        return RefundResult(
            outcome=PaymentOutcome.succeeded, refund_id=f"re_{input.idempotency_key}"
        )

    @activity.defn(name=RECORD_ORDER)
    async def record_order(self, input: RecordOrderInput) -> None:
        return None

    @activity.defn(name=RECORD_PAYOUT)
    async def record_payout(self, input: RecordPayoutInput) -> RecordPayoutResult:
        return RecordPayoutResult(reference=f"po_{input.order_id}", paid_at=datetime.now(UTC))

    def all(self) -> list[Callable[..., Any]]:
        """The activities to register, as ``worker.main.default_activities`` lists them."""
        return [
            self.send_email,
            self.create_customer,
            self.charge_payment,
            self.authorise_payment,
            self.capture_payment,
            self.cancel_authorisation,
            self.refund_payment,
            self.record_order,
            self.record_payout,
        ]
