"""Payment activities: Stripe PaymentIntents and refunds, each call under the workflow's key.

A declined card is a business outcome (``declined``), never an exception. Errors that a
retry cannot fix (bad API key, invalid request, reused idempotency key) fail the activity
without retries; network trouble, rate limits and Stripe's 5xx answers raise retryable
errors, and because every request carries the same idempotency key, a retry never charges
or refunds twice.

Only parameters localstripe also accepts are sent (no ``description``,
``receipt_email``, ...), so the same code runs against Stripe and the local stand-in; the
one exception, ``automatic_payment_methods``, is switched by ``disallow_redirects``.
``STRIPE_PARAMETERS`` in tests/activities/test_stripe_contract.py lists every parameter
sent, per endpoint, and is the README's list. ``order_id`` goes into ``metadata`` wherever
both accept metadata (customers, PaymentIntents, refunds; not capture, not cancel).

Retries belong to Temporal: the SDK's own network retries are off by default
(``max_network_retries=0``), so each activity attempt is one HTTP request, every retry is
an attempt in the workflow's history under the workflow's retry policy, and an attempt's
``start_to_close_timeout`` bounds one request rather than an SDK retry loop. Both kinds of
retry would send the same Idempotency-Key, so turning the SDK's on cannot charge twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import stripe
from stripe.params import (
    CustomerCreateParams,
    PaymentIntentCaptureParams,
    PaymentIntentCreateParams,
    RefundCreateParams,
)
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.activities import (
    AUTHORISE_PAYMENT,
    CANCEL_AUTHORISATION,
    CAPTURE_PAYMENT,
    CHARGE_PAYMENT,
    CREATE_CUSTOMER,
    REFUND_PAYMENT,
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
    """The Temporal error for a Stripe error that is not a business outcome.

    Raise it ``from None``: its message and details name the Stripe error, and chaining
    the SDK's exception (httpx and httpcore beneath it, each with its stack) made the
    failure bigger than the 4 KB Temporal keeps of a pending activity's last failure; the
    server then showed "Failure exceeds size limit." instead of the reason.
    """
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


DEFAULT_MAX_NETWORK_RETRIES = 0
"""The SDK's own retries per activity attempt: none, Temporal's retry policy owns retries."""


class PaymentActivities:
    """Stripe calls of the order workflows; the worker injects the client."""

    def __init__(
        self,
        stripe_client: stripe.StripeClient,
        *,
        disallow_redirects: bool = False,
        max_network_retries: int = DEFAULT_MAX_NETWORK_RETRIES,
    ) -> None:
        self._stripe = stripe_client
        # Real Stripe refuses to confirm on the server without a return_url unless
        # redirect-based payment methods are ruled out; localstripe rejects the parameter
        # that does so, hence the switch (from_settings sets it for real Stripe).
        self._disallow_redirects = disallow_redirects
        # Set on every request, so whatever the injected client was built with (its
        # max_network_retries) never decides how often a payment request is repeated.
        self._max_network_retries = max_network_retries

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

    def _options(self, idempotency_key: str | None = None) -> stripe.RequestOptions:
        options: stripe.RequestOptions = {"max_network_retries": self._max_network_retries}
        if idempotency_key is not None:
            options["idempotency_key"] = idempotency_key
        return options

    def _intent_params(
        self, amount: int, currency: str, payment_method: str
    ) -> PaymentIntentCreateParams:
        params: PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency.lower(),
            "payment_method": payment_method,
            "confirm": True,
        }
        if self._disallow_redirects:
            params["automatic_payment_methods"] = {"enabled": True, "allow_redirects": "never"}
        return params

    @activity.defn(name=CREATE_CUSTOMER)
    async def create_customer(self, input: CreateCustomerInput) -> CreateCustomerResult:
        """Create a Stripe Customer for the order's payer."""
        params: CustomerCreateParams = {
            "email": input.email,
            "name": input.name,
            "metadata": {"order_id": input.order_id},
        }
        try:
            customer = await self._stripe.v1.customers.create_async(
                params, self._options(input.idempotency_key)
            )
        except stripe.StripeError as exc:
            raise stripe_failure(exc) from None
        return CreateCustomerResult(customer_id=customer.id)

    @activity.defn(name=AUTHORISE_PAYMENT)
    async def authorise_payment(self, input: AuthoriseInput) -> AuthoriseResult:
        """Create and confirm a card PaymentIntent that only holds the amount (manual capture)."""
        params = self._intent_params(input.amount, input.currency, input.payment_method)
        params["capture_method"] = "manual"
        if input.customer_id is not None:
            params["customer"] = input.customer_id
        params["metadata"] = {"order_id": input.order_id}
        try:
            intent = await self._stripe.v1.payment_intents.create_async(
                params, self._options(input.idempotency_key)
            )
        except stripe.CardError as exc:
            activity.logger.info(
                "authorisation for order %s declined: %s", input.order_id, exc.code
            )
            intent_id, status = _declined_intent(exc)
            return AuthoriseResult(
                outcome=PaymentOutcome.declined,
                status=status,
                payment_intent_id=intent_id,
                failure_code=exc.code,
                failure_message=exc.user_message or "card declined",
            )
        except stripe.InvalidRequestError as exc:
            refused = _refused(exc)
            return AuthoriseResult(
                outcome=refused.outcome,
                failure_code=refused.failure_code,
                failure_message=refused.failure_message,
            )
        except stripe.StripeError as exc:
            raise stripe_failure(exc) from None
        return _authorise_result(intent)

    @activity.defn(name=CAPTURE_PAYMENT)
    async def capture_payment(self, input: CaptureInput) -> CaptureResult:
        """Capture all or part of an authorised PaymentIntent; Stripe releases the rest."""
        params: PaymentIntentCaptureParams = {}
        if input.amount_to_capture is not None:
            params["amount_to_capture"] = input.amount_to_capture
        try:
            intent = await self._stripe.v1.payment_intents.capture_async(
                input.payment_intent_id, params, self._options(input.idempotency_key)
            )
        except stripe.StripeError as exc:
            # A hold that expired or was cancelled is an invalid request: not retried.
            raise stripe_failure(exc) from None
        if intent.status not in ("succeeded", "processing"):
            raise ApplicationError(
                f"PaymentIntent {intent.id} is {intent.status} after capture",
                type=STRIPE_UNEXPECTED_STATUS,
                non_retryable=True,
            )
        received = _field(intent, "amount_received")
        if received is None:
            # localstripe does not report amount_received; Stripe took what was asked.
            received = input.amount_to_capture or intent.amount
        return CaptureResult(
            payment_intent_id=intent.id, status=intent.status, amount_captured=int(received)
        )

    @activity.defn(name=CANCEL_AUTHORISATION)
    async def cancel_authorisation(
        self, input: CancelAuthorisationInput
    ) -> CancelAuthorisationResult:
        """Release a hold: cancel a PaymentIntent that is not captured."""
        # No cancellation_reason: localstripe rejects it, and the order's history says why.
        try:
            intent = await self._stripe.v1.payment_intents.cancel_async(
                input.payment_intent_id, None, self._options(input.idempotency_key)
            )
        except stripe.InvalidRequestError as exc:
            intent = await self._canceled_already(input.payment_intent_id, exc)
        except stripe.StripeError as exc:
            raise stripe_failure(exc) from None
        return CancelAuthorisationResult(payment_intent_id=intent.id, status=intent.status)

    async def _canceled_already(
        self, intent_id: str, refusal: stripe.InvalidRequestError
    ) -> stripe.PaymentIntent:
        """The intent, if it is canceled already; else the refusal as an activity error.

        Stripe refuses to cancel a canceled intent. That happens when an earlier attempt's
        answer was lost on a server that ignores idempotency keys (bare localstripe), or when
        Stripe itself cancelled a hold that expired: either way the hold is released.
        """
        try:
            intent = await self._stripe.v1.payment_intents.retrieve_async(
                intent_id, None, self._options()
            )
        except stripe.StripeError as exc:
            # Not knowing is not a refusal: a network error here is retried like any other.
            raise stripe_failure(exc) from None
        if intent.status != "canceled":
            raise stripe_failure(refusal) from None
        return intent

    @activity.defn(name=CHARGE_PAYMENT)
    async def charge_payment(self, input: ChargeInput) -> ChargeResult:
        """Create and confirm a card PaymentIntent, captured at once."""
        params = self._intent_params(input.amount, input.currency, input.payment_method)
        params["capture_method"] = "automatic"
        params["metadata"] = {"order_id": input.order_id}
        try:
            intent = await self._stripe.v1.payment_intents.create_async(
                params, self._options(input.idempotency_key)
            )
        except stripe.CardError as exc:
            activity.logger.info("charge for order %s declined: %s", input.order_id, exc.code)
            return _declined(exc)
        except stripe.InvalidRequestError as exc:
            return _refused(exc)
        except stripe.StripeError as exc:
            raise stripe_failure(exc) from None
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
                params, self._options(input.idempotency_key)
            )
        except stripe.CardError as exc:
            return RefundResult(outcome=PaymentOutcome.failed, failure_message=exc.user_message)
        except stripe.StripeError as exc:
            raise stripe_failure(exc) from None
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


def _field(obj: stripe.StripeObject, name: str) -> Any:
    """A field Stripe sends but a stand-in may leave out; None when absent."""
    # StripeObject is not a dict in stripe 16: it has ``in`` and ``[]`` but no ``.get``.
    if name not in obj:
        return None
    return obj[name]


def _declined_intent(exc: stripe.CardError) -> tuple[str | None, str | None]:
    """The declined PaymentIntent's id and status, when Stripe sent it with the error."""
    error = exc.error
    intent: Any = error.payment_intent if error is not None else None
    if intent is None:
        return None, None
    return intent.id, _field(intent, "status")


def _declined(exc: stripe.CardError) -> ChargeResult:
    intent_id, _ = _declined_intent(exc)
    return ChargeResult(
        outcome=PaymentOutcome.declined,
        payment_intent_id=intent_id,
        failure_code=exc.code,
        failure_message=exc.user_message or "card declined",
    )


def _refused(exc: stripe.InvalidRequestError) -> ChargeResult:
    """A request Stripe refused outright (an unknown payment method, say): nothing was
    charged, and it would be refused again. An outcome like a decline, so the order stays
    payable with another method; only unanswered requests leave the outcome unknown."""
    activity.logger.info("payment request refused by Stripe: %s", exc.code)
    return ChargeResult(
        outcome=PaymentOutcome.declined,
        failure_code=exc.code or "invalid_request",
        failure_message=f"refused by the payment provider: {exc.user_message or 'invalid request'}",
    )


def _authorise_result(intent: stripe.PaymentIntent) -> AuthoriseResult:
    if intent.status == "requires_capture":
        capturable = _field(intent, "amount_capturable")
        return AuthoriseResult(
            outcome=PaymentOutcome.succeeded,
            status=intent.status,
            payment_intent_id=intent.id,
            # localstripe does not report amount_capturable; a fresh hold is the amount.
            amount_capturable=intent.amount if capturable is None else int(capturable),
        )
    if intent.status == "requires_action":
        return AuthoriseResult(
            outcome=PaymentOutcome.requires_action,
            status=intent.status,
            payment_intent_id=intent.id,
            client_secret=intent.client_secret,
        )
    if intent.status in ("requires_payment_method", "canceled"):
        last = intent.last_payment_error
        return AuthoriseResult(
            outcome=PaymentOutcome.declined,
            status=intent.status,
            payment_intent_id=intent.id,
            failure_code=last.code if last is not None else intent.status,
            failure_message=(last.message if last is not None else None)
            or f"payment intent {intent.status}",
        )
    # succeeded / processing / requires_confirmation cannot follow a confirmed manual
    # card authorisation; a retry under the same key would only repeat this answer.
    raise ApplicationError(
        f"PaymentIntent {intent.id} is {intent.status} after authorisation",
        type=STRIPE_UNEXPECTED_STATUS,
        non_retryable=True,
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
