"""Payment activities: Stripe PaymentIntents and refunds, each call under the workflow's key.

A declined card is a business outcome (``declined``), never an exception. Errors that a
retry cannot fix (bad API key, invalid request, reused idempotency key) fail the activity
without retries; network trouble, rate limits and Stripe's 5xx answers raise retryable
errors, and because every request carries the same idempotency key, a retry never charges
or refunds twice.

Only parameters localstripe also accepts are sent (no ``description``,
``receipt_email``, ...), so the same code runs against Stripe and the local stand-in; the
one exception, ``automatic_payment_methods``, is switched by ``disallow_redirects``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import stripe
from stripe.params import PaymentIntentCreateParams, RefundCreateParams
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.activities import (
    CHARGE_PAYMENT,
    REFUND_PAYMENT,
    ChargeInput,
    ChargeResult,
    RefundInput,
    RefundResult,
)
from models.orders import PaymentOutcome

if TYPE_CHECKING:
    from config.settings import Settings

# ApplicationError types, so workflows and tests can tell the failures apart.
STRIPE_AUTHENTICATION_ERROR = "StripeAuthenticationError"
STRIPE_PERMISSION_ERROR = "StripePermissionError"
STRIPE_INVALID_REQUEST = "StripeInvalidRequest"
STRIPE_IDEMPOTENCY_ERROR = "StripeIdempotencyError"
STRIPE_UNEXPECTED_STATUS = "StripeUnexpectedStatus"
STRIPE_RATE_LIMITED = "StripeRateLimited"
STRIPE_CONNECTION_ERROR = "StripeConnectionError"
STRIPE_API_ERROR = "StripeAPIError"

NON_RETRYABLE_TYPES = frozenset(
    {
        STRIPE_AUTHENTICATION_ERROR,
        STRIPE_PERMISSION_ERROR,
        STRIPE_INVALID_REQUEST,
        STRIPE_IDEMPOTENCY_ERROR,
        STRIPE_UNEXPECTED_STATUS,
    }
)


def stripe_failure(exc: stripe.StripeError) -> ApplicationError:
    """The Temporal error for a Stripe error that is not a business outcome."""
    error_type: str
    if isinstance(exc, stripe.AuthenticationError):
        error_type = STRIPE_AUTHENTICATION_ERROR
    elif isinstance(exc, stripe.PermissionError):
        error_type = STRIPE_PERMISSION_ERROR
    elif isinstance(exc, stripe.IdempotencyError):
        error_type = STRIPE_IDEMPOTENCY_ERROR
    elif isinstance(exc, stripe.InvalidRequestError):
        error_type = STRIPE_INVALID_REQUEST
    elif isinstance(exc, stripe.RateLimitError):
        error_type = STRIPE_RATE_LIMITED
    elif isinstance(exc, stripe.APIConnectionError):
        error_type = STRIPE_CONNECTION_ERROR
    elif isinstance(exc, stripe.APIError) or exc.http_status is None or exc.http_status >= 500:
        error_type = STRIPE_API_ERROR
    else:
        # Any other 4xx is a request Stripe will refuse again.
        error_type = STRIPE_INVALID_REQUEST
    return ApplicationError(
        f"{type(exc).__name__}: {exc.user_message or 'no message'}",
        {"http_status": exc.http_status, "code": exc.code},
        type=error_type,
        non_retryable=error_type in NON_RETRYABLE_TYPES,
    )


def _request_options(idempotency_key: str) -> stripe.RequestOptions:
    return {"idempotency_key": idempotency_key}


class PaymentActivities:
    """Stripe calls of the order workflows; the worker injects the client."""

    def __init__(
        self, stripe_client: stripe.StripeClient, *, disallow_redirects: bool = False
    ) -> None:
        self._stripe = stripe_client
        # Real Stripe refuses to confirm on the server without a return_url unless
        # redirect-based payment methods are ruled out; localstripe rejects the parameter
        # that does so, hence the switch (from_settings sets it for real Stripe).
        self._disallow_redirects = disallow_redirects

    @classmethod
    def from_settings(cls, settings: Settings) -> PaymentActivities:
        """Built from the settings: Stripe itself, or the server at ``stripe_api_base``."""
        base = settings.stripe_api_base
        client = stripe.StripeClient(
            settings.stripe_api_key.get_secret_value(),
            base_addresses={"api": base} if base else None,
            http_client=stripe.HTTPXClient(),
        )
        return cls(client, disallow_redirects=base is None)

    @activity.defn(name=CHARGE_PAYMENT)
    async def charge_payment(self, input: ChargeInput) -> ChargeResult:
        """Create and confirm a card PaymentIntent, captured at once."""
        params: PaymentIntentCreateParams = {
            "amount": input.amount,
            "currency": input.currency.lower(),
            "payment_method": input.payment_method,
            "capture_method": "automatic",
            "confirm": True,
            "metadata": {"order_id": input.order_id},
        }
        if self._disallow_redirects:
            params["automatic_payment_methods"] = {"enabled": True, "allow_redirects": "never"}
        try:
            intent = await self._stripe.v1.payment_intents.create_async(
                params, _request_options(input.idempotency_key)
            )
        except stripe.CardError as exc:
            activity.logger.info("charge for order %s declined: %s", input.order_id, exc.code)
            return _declined(exc)
        except stripe.StripeError as exc:
            raise stripe_failure(exc) from exc
        return _charge_result(intent)

    @activity.defn(name=REFUND_PAYMENT)
    async def refund_payment(self, input: RefundInput) -> RefundResult:
        """Refund part or all of a captured PaymentIntent."""
        params: RefundCreateParams = {
            "payment_intent": input.payment_intent_id,
            "amount": input.amount,
            "metadata": {"order_id": input.order_id},
        }
        try:
            refund = await self._stripe.v1.refunds.create_async(
                params, _request_options(input.idempotency_key)
            )
        except stripe.CardError as exc:
            return RefundResult(outcome=PaymentOutcome.failed, failure_message=exc.user_message)
        except stripe.StripeError as exc:
            raise stripe_failure(exc) from exc
        if refund.status in ("failed", "canceled"):
            return RefundResult(
                outcome=PaymentOutcome.failed,
                refund_id=refund.id,
                failure_message=refund.failure_reason or f"refund {refund.status}",
            )
        if refund.status == "requires_action":
            return RefundResult(outcome=PaymentOutcome.requires_action, refund_id=refund.id)
        # A pending refund is accepted and will complete without us; card refunds are
        # reported succeeded at once.
        return RefundResult(outcome=PaymentOutcome.succeeded, refund_id=refund.id)


def _declined(exc: stripe.CardError) -> ChargeResult:
    error = exc.error
    intent: Any = error.payment_intent if error is not None else None
    return ChargeResult(
        outcome=PaymentOutcome.declined,
        payment_intent_id=intent.id if intent is not None else None,
        failure_code=exc.code,
        failure_message=exc.user_message or "card declined",
    )


def _charge_result(intent: stripe.PaymentIntent) -> ChargeResult:
    if intent.status == "succeeded":
        return ChargeResult(outcome=PaymentOutcome.succeeded, payment_intent_id=intent.id)
    if intent.status == "requires_action":
        return ChargeResult(
            outcome=PaymentOutcome.requires_action,
            payment_intent_id=intent.id,
            client_secret=intent.client_secret,
        )
    if intent.status in ("requires_payment_method", "canceled"):
        # Stripe answers a confirm-time decline with a 402; this is the same decline
        # reported on the intent instead.
        last = intent.last_payment_error
        return ChargeResult(
            outcome=PaymentOutcome.declined,
            payment_intent_id=intent.id,
            failure_code=last.code if last is not None else intent.status,
            failure_message=(last.message if last is not None else None)
            or f"payment intent {intent.status}",
        )
    # processing / requires_capture / requires_confirmation cannot follow a confirmed
    # automatic card charge; retrying under the same key would only repeat this answer.
    raise ApplicationError(
        f"PaymentIntent {intent.id} is {intent.status} after confirmation",
        type=STRIPE_UNEXPECTED_STATUS,
        non_retryable=True,
    )
