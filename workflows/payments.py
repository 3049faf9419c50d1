"""An order's money, kept inside its workflow: every Stripe operation, its key, its bounds.

Every flow uses one :class:`PaymentLedger`. It makes the idempotency key of each
operation from the order id, the operation and a sequence number, so a retried activity
sends the same key; it keeps the totals (held, captured, refunded) and refuses to capture
more than is held or refund more than was captured, since a Stripe-compatible server may
not; and it treats a webhook and an activity's own result as the same fact, whichever
arrives first.

Holds (manual capture) are good for about seven days at Stripe: a flow that holds money
longer asks :meth:`PaymentLedger.hold_expires_at` for the moment to renew the hold and calls
:meth:`PaymentLedger.renew_hold` then.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from models.activities import (
        AUTHORISE_PAYMENT,
        CANCEL_AUTHORISATION,
        CAPTURE_PAYMENT,
        CHARGE_PAYMENT,
        REFUND_PAYMENT,
        AuthoriseInput,
        AuthoriseResult,
        CancelAuthorisationInput,
        CancelAuthorisationResult,
        CaptureInput,
        CaptureResult,
        ChargeInput,
        ChargeResult,
        RefundInput,
        RefundResult,
    )
    from models.ids import idempotency_key
    from models.money import format_amount
    from models.orders import PaymentKind, PaymentOutcome, PaymentRecord, StripeEvent

# Transient faults retry for a bounded time: someone waits on the answer. The outcome of
# a call that failed this way is unknown, so its key is kept for the next attempt.
PAYMENT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=[
        "StripeAuthenticationError",
        "StripeInvalidRequest",
        "StripePermissionError",
        "StripeIdempotencyError",
        "StripeUnexpectedStatus",
    ],
)
PAYMENT_TIMEOUT = timedelta(minutes=2)
# One Stripe request; the deployment may shorten it (ActivityPolicy.payment_attempt_timeout).
PAYMENT_ATTEMPT_TIMEOUT = timedelta(seconds=30)
# Stripe keeps an uncaptured card PaymentIntent for 7 days; renew well before.
HOLD_VALIDITY = timedelta(days=7)
HOLD_RENEWAL_MARGIN = timedelta(hours=12)
Attempt = TypeVar("Attempt", ChargeResult, AuthoriseResult)
Settled = TypeVar("Settled", CaptureResult, CancelAuthorisationResult)


class PaymentError(Exception):
    """A payment operation could not be carried out (unknown outcome or refused)."""


class PaymentLedger:
    """The payments of one order; lives in the workflow and is replayed with it."""

    def __init__(
        self,
        order_id: str,
        currency: str,
        changed: Callable[[], None],
        attempt_timeout: timedelta = PAYMENT_ATTEMPT_TIMEOUT,
    ) -> None:
        self.order_id = order_id
        self.currency = currency
        # How long one request may run before Temporal retries it under the same key.
        self.attempt_timeout = attempt_timeout
        self.records: list[PaymentRecord] = []
        self._changed = changed
        self._charge_seq = 1
        self.payment_intent: str | None = None
        self.payment_method: str | None = None
        self.client_secret: str | None = None
        self.last_error: str | None = None
        self.in_flight = False
        # The card of a charge or authorisation whose outcome is unknown (the provider did
        # not answer): its key is kept, and Stripe replays a key only with the same request,
        # so the next attempt must use this card until one settles it.
        self.unknown_method: str | None = None
        self._hold_since: datetime | None = None
        self._held = 0
        self._pending_method: str | None = None

    # ----- totals -----------------------------------------------------------------------

    def _sum(self, kind: PaymentKind) -> int:
        return sum(
            r.amount
            for r in self.records
            if r.kind == kind and r.outcome == PaymentOutcome.succeeded
        )

    @property
    def held(self) -> int:
        """Amount authorised and not yet captured or released."""
        return self._held

    @property
    def captured(self) -> int:
        """Money taken: charges plus captures."""
        return self._sum(PaymentKind.charge) + self._sum(PaymentKind.capture)

    @property
    def refunded(self) -> int:
        return self._sum(PaymentKind.refund)

    @property
    def refundable(self) -> int:
        return self.captured - self.refunded

    def method_refusal(self, payment_method: str) -> str | None:
        """Why an attempt with ``payment_method`` must wait (None if it may go ahead)."""
        if self.unknown_method is not None and payment_method != self.unknown_method:
            return (
                f"the outcome of the last payment with {self.unknown_method} is not known "
                "(the payment provider could not be reached); retry with the same payment "
                "method to settle it before using another"
            )
        return None

    def hold_expires_at(self) -> datetime | None:
        """When the current hold must be renewed (None when nothing is held)."""
        if self._hold_since is None or self._held == 0:
            return None
        return self._hold_since + HOLD_VALIDITY - HOLD_RENEWAL_MARGIN

    # ----- operations -------------------------------------------------------------------

    async def charge(self, amount: int, payment_method: str) -> ChargeResult:
        """Take ``amount`` at once. A decline is returned; an unknown outcome raises."""
        key = idempotency_key(self.order_id, "charge", self._charge_seq)
        self._pending_method = payment_method
        request = ChargeInput(
            idempotency_key=key,
            order_id=self.order_id,
            amount=amount,
            currency=self.currency,
            payment_method=payment_method,
        )
        result = await self._attempt(CHARGE_PAYMENT, request, ChargeResult, "charge", amount)
        self._settle_attempt(PaymentKind.charge, key, amount, payment_method, result)
        return result

    async def authorise(
        self, amount: int, payment_method: str, customer_id: str | None = None
    ) -> AuthoriseResult:
        """Hold ``amount`` on the card (manual capture)."""
        key = idempotency_key(self.order_id, "authorise", self._charge_seq)
        self._pending_method = payment_method
        request = AuthoriseInput(
            idempotency_key=key,
            order_id=self.order_id,
            amount=amount,
            currency=self.currency,
            payment_method=payment_method,
            customer_id=customer_id,
        )
        result = await self._attempt(
            AUTHORISE_PAYMENT, request, AuthoriseResult, "authorise", amount
        )
        self._settle_attempt(PaymentKind.authorisation, key, amount, payment_method, result)
        return result

    async def _attempt(
        self, activity: str, request: BaseModel, result_type: type[Attempt], verb: str, amount: int
    ) -> Attempt:
        """Run a charge or authorisation; an unknown outcome raises :class:`PaymentError`."""
        self.in_flight = True
        try:
            result: Attempt = await workflow.execute_activity(
                activity,
                request,
                result_type=result_type,
                start_to_close_timeout=self.attempt_timeout,
                schedule_to_close_timeout=PAYMENT_TIMEOUT,
                retry_policy=PAYMENT_RETRY,
                summary=f"{verb} {format_amount(amount, self.currency)}",
            )
        except ActivityError as exc:
            self.last_error = cause_message(exc)
            self.unknown_method = self._pending_method
            raise PaymentError(self.last_error) from None
        finally:
            self.in_flight = False
        self.unknown_method = None
        return result

    def _settle_attempt(
        self,
        kind: PaymentKind,
        key: str,
        amount: int,
        payment_method: str,
        result: ChargeResult | AuthoriseResult,
    ) -> None:
        outcome, intent = result.outcome, result.payment_intent_id
        failure = result.failure_message or result.failure_code
        self.payment_method = payment_method
        self.payment_intent = intent
        self.records.append(
            PaymentRecord(
                seq=len(self.records) + 1,
                kind=kind,
                idempotency_key=key,
                amount=amount,
                currency=self.currency,
                outcome=outcome,
                provider_id=intent,
                failure_reason=failure,
                at=workflow.now(),
            )
        )
        if outcome == PaymentOutcome.declined:
            # A decline is final for this PaymentIntent: the next attempt is a new one.
            self._charge_seq += 1
            self.last_error = failure or "card declined"
        elif outcome == PaymentOutcome.requires_action:
            self.client_secret = result.client_secret
        elif outcome == PaymentOutcome.succeeded:
            self._succeeded(kind, amount)
        self._changed()

    def _succeeded(self, kind: PaymentKind, amount: int) -> None:
        self.client_secret = None
        self.last_error = None
        self._charge_seq += 1
        if kind == PaymentKind.authorisation:
            self._held = amount
            self._hold_since = workflow.now()

    async def capture(self, amount: int | None = None) -> int:
        """Take ``amount`` (all when None) of the hold; the rest is released."""
        if self._held == 0 or self.payment_intent is None:
            raise PaymentError("nothing is authorised to capture")
        if amount is not None and amount > self._held:
            held = format_amount(self._held, self.currency)
            raise PaymentError(f"cannot capture more than the {held} authorised")
        key = idempotency_key(self.order_id, "capture", len(self.records) + 1)
        request = CaptureInput(
            idempotency_key=key,
            order_id=self.order_id,
            payment_intent_id=self.payment_intent,
            amount_to_capture=amount,
        )
        summary = f"capture {format_amount(amount or self._held, self.currency)}"
        result = await self._call(CAPTURE_PAYMENT, request, CaptureResult, summary)
        self._end_hold(PaymentKind.capture, key, result.amount_captured)
        return result.amount_captured

    async def release_hold(self) -> None:
        """Cancel the authorisation (nothing is taken)."""
        if self._held == 0 or self.payment_intent is None:
            return
        key = idempotency_key(self.order_id, "release", len(self.records) + 1)
        request = CancelAuthorisationInput(
            idempotency_key=key, order_id=self.order_id, payment_intent_id=self.payment_intent
        )
        summary = f"release hold of {format_amount(self._held, self.currency)}"
        await self._call(CANCEL_AUTHORISATION, request, CancelAuthorisationResult, summary)
        self._end_hold(PaymentKind.release, key, self._held)

    async def _call(
        self, activity: str, request: BaseModel, result_type: type[Settled], summary: str
    ) -> Settled:
        """Run a capture or release; a failure raises :class:`PaymentError`."""
        try:
            result: Settled = await workflow.execute_activity(
                activity,
                request,
                result_type=result_type,
                start_to_close_timeout=self.attempt_timeout,
                retry_policy=PAYMENT_RETRY,
                summary=summary,
            )
        except ActivityError as exc:
            raise PaymentError(cause_message(exc)) from None
        return result

    def _end_hold(self, kind: PaymentKind, key: str, amount: int) -> None:
        """The hold is over: captured (``amount`` taken) or released."""
        self._record(kind, key, amount, PaymentOutcome.succeeded)
        self._held = 0
        self._hold_since = None
        self._changed()

    async def renew_hold(self) -> bool:
        """Replace an expiring hold by a new one on the same card; False if that failed."""
        amount, method, old = self._held, self.payment_method, self.payment_intent
        if amount == 0 or method is None:
            return True
        try:
            result = await self.authorise(amount, method)
        except PaymentError:
            result = None
        if result is None or result.outcome != PaymentOutcome.succeeded:
            # The old hold lapses at Stripe anyway: the order no longer holds that money.
            self.payment_intent = old
            self._record(
                PaymentKind.release,
                idempotency_key(self.order_id, "hold-lapsed", len(self.records) + 1),
                amount,
                PaymentOutcome.failed,
                old,
                f"hold could not be renewed: {self.last_error or 'declined'}",
            )
            self._held, self._hold_since = 0, None
            self._changed()
            return False
        new = self.payment_intent
        # The old hold is released so the customer never sees two.
        self.payment_intent, self._held = old, amount
        try:
            await self.release_hold()
        finally:
            self.payment_intent, self._held, self._hold_since = new, amount, workflow.now()
        return True

    async def refund(self, amount: int, why: str) -> int:
        """Refund ``amount`` of what was captured; returns what was refunded (0 on failure).

        Never more than captured minus refunded, whatever the payment server would allow.
        """
        if amount <= 0:
            return 0
        if amount > self.refundable:
            limit = format_amount(self.refundable, self.currency)
            raise PaymentError(f"cannot refund more than the {limit} captured")
        seq = len(self.records) + 1
        key = idempotency_key(self.order_id, f"refund-{why}", seq)
        assert self.payment_intent is not None
        try:
            result = await workflow.execute_activity(
                REFUND_PAYMENT,
                RefundInput(
                    idempotency_key=key,
                    order_id=self.order_id,
                    payment_intent_id=self.payment_intent,
                    amount=amount,
                    currency=self.currency,
                ),
                result_type=RefundResult,
                start_to_close_timeout=self.attempt_timeout,
                retry_policy=PAYMENT_RETRY,
                summary=f"refund {format_amount(amount, self.currency)}",
            )
            outcome, provider_id, failure = (
                result.outcome,
                result.refund_id,
                result.failure_message,
            )
        except ActivityError as exc:
            outcome, provider_id, failure = PaymentOutcome.failed, None, cause_message(exc)
        self._record(PaymentKind.refund, key, amount, outcome, provider_id, failure, seq=seq)
        self._changed()
        if outcome != PaymentOutcome.succeeded:
            self.last_error = failure
            return 0
        return amount

    def invoice_due(self, amount: int, reason: str) -> None:
        """Payment by purchase order / on account: no Stripe call, an invoice is due."""
        key = idempotency_key(self.order_id, "invoice", len(self.records) + 1)
        self._record(PaymentKind.invoice, key, amount, PaymentOutcome.requires_action, None, reason)
        self._changed()

    def _record(
        self,
        kind: PaymentKind,
        key: str,
        amount: int,
        outcome: PaymentOutcome,
        provider_id: str | None = None,
        failure: str | None = None,
        seq: int | None = None,
    ) -> None:
        self.records.append(
            PaymentRecord(
                seq=seq or len(self.records) + 1,
                kind=kind,
                idempotency_key=key,
                amount=amount,
                currency=self.currency,
                outcome=outcome,
                provider_id=provider_id or self.payment_intent,
                failure_reason=failure,
                at=workflow.now(),
            )
        )

    # ----- webhooks ---------------------------------------------------------------------

    def on_event(self, event: StripeEvent) -> PaymentKind | None:
        """Apply a webhook about a pending (3-D Secure) attempt; the kind it settled, if any.

        A webhook for something the ledger already knows (the activity's own result came
        first) changes nothing.
        """
        if event.payment_intent_id is None or event.payment_intent_id != self.payment_intent:
            return None
        if not self.records or self.records[-1].outcome != PaymentOutcome.requires_action:
            return None
        last = self.records[-1]
        if last.kind not in (PaymentKind.charge, PaymentKind.authorisation):
            return None
        if event.type in ("payment_intent.succeeded", "payment_intent.amount_capturable_updated"):
            self.records[-1] = last.model_copy(update={"outcome": PaymentOutcome.succeeded})
            self._succeeded(last.kind, last.amount)
            self._changed()
            return last.kind
        if event.type in ("payment_intent.payment_failed", "payment_intent.canceled"):
            failure = event.failure_message or "authentication failed"
            self.records[-1] = last.model_copy(
                update={"outcome": PaymentOutcome.declined, "failure_reason": failure}
            )
            self._charge_seq += 1
            self.last_error = failure
            self._changed()
            return last.kind
        return None


def cause_message(exc: BaseException) -> str:
    """The innermost cause's message of an activity failure."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc) or type(exc).__name__
