"""In-memory stand-ins for activities, registered under the real activities' names."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.activities import (
    AUTHORISE_PAYMENT,
    CANCEL_AUTHORISATION,
    CAPTURE_PAYMENT,
    CHARGE_PAYMENT,
    RECORD_ORDER,
    RECORD_PAYOUT,
    REFUND_PAYMENT,
    SEND_EMAIL,
    SYNC_SALESFORCE_ORDER,
    AuthoriseInput,
    AuthoriseResult,
    CancelAuthorisationInput,
    CancelAuthorisationResult,
    CaptureInput,
    CaptureResult,
    ChargeInput,
    ChargeResult,
    RecordOrderInput,
    RecordPayoutInput,
    RecordPayoutResult,
    RefundInput,
    RefundResult,
    SalesforceSyncInput,
    SalesforceSyncResult,
    SendEmailInput,
    SendEmailResult,
)
from models.orders import NotificationStatus, OrderView, PaymentOutcome

DECLINE = "pm_card_chargeDeclined"
NEEDS_3DS = "pm_card_threeDSecure2Required"
BROKEN = "pm_provider_down"
# The provider fails the first charge with this card (unknown outcome), then answers.
FLAKY = "pm_provider_flaky"
# Authorises once, then declines (a card cancelled while its first hold was running).
ONCE = "pm_card_authorises_once"


class FakeActivities:
    """Records every call; payment outcomes depend on the payment method id."""

    def __init__(self) -> None:
        self.emails: list[SendEmailInput] = []
        self.charges: list[ChargeInput] = []
        self.refunds: list[RefundInput] = []
        self.authorisations: list[AuthoriseInput] = []
        self.captures: list[CaptureInput] = []
        self.releases: list[CancelAuthorisationInput] = []
        self.payouts: list[RecordPayoutInput] = []
        self.views: dict[str, OrderView] = {}
        self.records: defaultdict[str, int] = defaultdict(int)
        # Addresses the fake SMTP server refuses for good (a 550: the email is ``failed``).
        self.refused_addresses: set[str] = set()

    @activity.defn(name=SEND_EMAIL)
    async def send_email(self, input: SendEmailInput) -> SendEmailResult:
        self.emails.append(input)
        if input.to_address in self.refused_addresses:
            return SendEmailResult(
                status=NotificationStatus.failed, detail="550 5.1.1 Mailbox unavailable"
            )
        return SendEmailResult(status=NotificationStatus.sent, message_id=input.idempotency_key)

    @activity.defn(name=CHARGE_PAYMENT)
    async def charge_payment(self, input: ChargeInput) -> ChargeResult:
        self.charges.append(input)
        pi = f"pi_{len(self.charges)}"
        flaky_first = input.payment_method == FLAKY and not any(
            c.payment_method == FLAKY for c in self.charges[:-1]
        )
        if input.payment_method == BROKEN or flaky_first:
            raise ApplicationError("bad key", type="StripeAuthenticationError", non_retryable=True)
        if input.payment_method == DECLINE:
            return ChargeResult(
                outcome=PaymentOutcome.declined,
                payment_intent_id=pi,
                failure_code="card_declined",
                failure_message="Your card was declined.",
            )
        if input.payment_method == NEEDS_3DS:
            return ChargeResult(
                outcome=PaymentOutcome.requires_action,
                payment_intent_id=pi,
                client_secret=f"{pi}_secret_x",
            )
        return ChargeResult(outcome=PaymentOutcome.succeeded, payment_intent_id=pi)

    @activity.defn(name=AUTHORISE_PAYMENT)
    async def authorise_payment(self, input: AuthoriseInput) -> AuthoriseResult:
        self.authorisations.append(input)
        pi = f"pi_auth_{len(self.authorisations)}"
        earlier = [a for a in self.authorisations[:-1] if a.payment_method == ONCE]
        if input.payment_method == DECLINE or (input.payment_method == ONCE and earlier):
            return AuthoriseResult(
                outcome=PaymentOutcome.declined,
                failure_code="card_declined",
                failure_message="Your card was declined.",
            )
        return AuthoriseResult(
            outcome=PaymentOutcome.succeeded,
            status="requires_capture",
            payment_intent_id=pi,
            amount_capturable=input.amount,
        )

    @activity.defn(name=CAPTURE_PAYMENT)
    async def capture_payment(self, input: CaptureInput) -> CaptureResult:
        self.captures.append(input)
        captured = input.amount_to_capture or next(
            a.amount
            for a in self.authorisations
            if f"pi_auth_{self.authorisations.index(a) + 1}" == input.payment_intent_id
        )
        return CaptureResult(
            payment_intent_id=input.payment_intent_id, status="succeeded", amount_captured=captured
        )

    @activity.defn(name=CANCEL_AUTHORISATION)
    async def cancel_authorisation(
        self, input: CancelAuthorisationInput
    ) -> CancelAuthorisationResult:
        self.releases.append(input)
        return CancelAuthorisationResult(
            payment_intent_id=input.payment_intent_id, status="canceled"
        )

    @activity.defn(name=REFUND_PAYMENT)
    async def refund_payment(self, input: RefundInput) -> RefundResult:
        self.refunds.append(input)
        return RefundResult(outcome=PaymentOutcome.succeeded, refund_id=f"re_{len(self.refunds)}")

    @activity.defn(name=RECORD_ORDER)
    async def record_order(self, input: RecordOrderInput) -> None:
        self.views[input.view.order_id] = input.view
        self.records[input.view.order_id] += 1

    @activity.defn(name=RECORD_PAYOUT)
    async def record_payout(self, input: RecordPayoutInput) -> RecordPayoutResult:
        self.payouts.append(input)
        return RecordPayoutResult(reference=f"po_{input.order_id}", paid_at=datetime.now(UTC))

    def all(self) -> list[Any]:
        return [
            self.send_email,
            self.charge_payment,
            self.refund_payment,
            self.authorise_payment,
            self.capture_payment,
            self.cancel_authorisation,
            self.record_order,
            self.record_payout,
        ]

    def emails_for(self, order_id: str, event: str) -> list[SendEmailInput]:
        return [e for e in self.emails if e.order_id == order_id and e.event == event]


class FakeSalesforce:
    """The Salesforce sync activity: succeeds with ids made of the order id, or is down."""

    def __init__(self) -> None:
        self.calls: list[SalesforceSyncInput] = []
        self.down = False
        # Real seconds each call takes (an attempt still running when a CSR acts).
        self.delay = 0.0

    @activity.defn(name=SYNC_SALESFORCE_ORDER)
    async def sync_order(self, input: SalesforceSyncInput) -> SalesforceSyncResult:
        self.calls.append(input)
        await asyncio.sleep(self.delay)
        if self.down:
            # Not retried inside the attempt: one workflow attempt is one call here.
            raise ApplicationError(
                "Salesforce is unreachable: connection refused",
                type="SalesforceUnavailable",
                non_retryable=True,
            )
        prefix = "0Q0" if input.record_type == "Quote" else "801"
        return SalesforceSyncResult(
            account_id=f"001-{input.customer_id}",
            opportunity_id=f"006-{input.order_id}",
            record_type=input.record_type,
            record_id=f"{prefix}-{input.order_id}",
        )

    def calls_for(self, order_id: str) -> list[SalesforceSyncInput]:
        return [c for c in self.calls if c.order_id == order_id]
