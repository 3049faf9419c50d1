"""Stub activities under orderclock's activity names: each answers at once, keeps nothing.

orderclock's workflows run unchanged against these; the baseline's one activity
(``bench.baseline.BareActivities``) is a stub of the same kind, so the comparison is of the
workflows and their payloads, not of Stripe, SMTP or a database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

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
from models.orders import NotificationStatus, OrderView, PaymentOutcome

# The worker's environment names a file here: the stubs note when each order's
# cancellation reached the read model (what the storm's lateness is measured to).
RECORDED_ENV = "BENCH_RECORDED"
RECORDED_STATUS = "cancelled"


class RecordedLog:
    """Appends ``<order id> <epoch seconds>`` the first time an order is recorded cancelled."""

    def __init__(self, path: Path | None) -> None:
        self._out: IO[str] | None = path.open("a", encoding="utf-8") if path else None
        self._seen: set[str] = set()

    def note(self, view: OrderView) -> None:
        if self._out is None or view.status != RECORDED_STATUS or view.order_id in self._seen:
            return
        self._seen.add(view.order_id)
        self._out.write(f"{view.order_id} {time.time():.6f}\n")
        self._out.flush()


def read_recorded(path: Path) -> dict[str, float]:
    """What :class:`RecordedLog` wrote: each order's first cancelled record, epoch seconds."""
    if not path.exists():
        return {}
    found: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        order_id, _, at = line.partition(" ")
        found.setdefault(order_id, float(at))
    return found


class StubActivities:
    """Every activity orderclock registers, answering success without side effects."""

    def __init__(self, recorded: Path | None = None) -> None:
        self._recorded = RecordedLog(recorded)

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
        self._recorded.note(input.view)

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
