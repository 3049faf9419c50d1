"""Stripe webhooks: verified with the signing secret, then signalled to the order's workflow."""

from __future__ import annotations

import re
import time
from typing import Annotated, Any

import stripe
from fastapi import APIRouter, Depends, Request
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, ValidationError

from api import gateway
from api.bodies import loads
from api.deps import SettingsDep, TemporalClientDep, TimeoutsDep
from api.errors import BadRequest, ErrorBody, Unauthorized
from api.ratelimit import limit
from api.schemas import WebhookResult
from models.ids import ORDER_ID_PATTERN
from models.orders import StripeEvent

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

STRIPE_PATH = "/webhooks/stripe"
# Stripe's events are a few KiB; anything far bigger is not from Stripe.
MAX_WEBHOOK_BYTES = 64 * 1024
_ORDER_ID = re.compile(ORDER_ID_PATTERN)


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore")

    object: dict[str, Any]


class _Envelope(BaseModel):
    """The parts of a Stripe event body the API reads."""

    model_config = ConfigDict(extra="ignore")

    id: str
    type: str
    data: _Data


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _metadata_order_id(obj: object) -> str | None:
    if not isinstance(obj, dict):
        return None
    metadata = obj.get("metadata")
    return _str(metadata.get("order_id")) if isinstance(metadata, dict) else None


def order_event(
    event_id: str, event_type: str, obj: dict[str, Any]
) -> tuple[str, StripeEvent] | str:
    """The order id and signal for a Stripe event, or the reason it concerns no order."""
    if event_type.startswith("payment_intent."):
        order_id = _metadata_order_id(obj)
        payment_intent_id = _str(obj.get("id"))
        amount = _int(obj.get("amount"))
        error = obj.get("last_payment_error")
        failure = _str(error.get("message")) if isinstance(error, dict) else None
    elif event_type == "charge.refunded":
        intent = obj.get("payment_intent")
        # The charge's PaymentIntent is usually just its id; when expanded, its
        # metadata names the order, else the charge's own metadata may.
        order_id = _metadata_order_id(intent) or _metadata_order_id(obj)
        payment_intent_id = _str(intent.get("id")) if isinstance(intent, dict) else _str(intent)
        amount = _int(obj.get("amount_refunded"))
        failure = None
    else:
        return f"event type {event_type} is not handled"
    if order_id is None:
        return "the event names no order (no metadata.order_id)"
    if not _ORDER_ID.fullmatch(order_id):
        return f"metadata.order_id {order_id[:80]!r} is not an order id"
    return order_id, StripeEvent(
        event_id=event_id,
        type=event_type,
        payment_intent_id=payment_intent_id,
        amount=amount,
        failure_message=failure,
    )


# Stripe authenticates its calls by signing the body with the endpoint's secret: a missing,
# forged or stale signature is a 401, like a missing API key elsewhere.
_signature = APIKeyHeader(
    name="Stripe-Signature",
    scheme_name="StripeSignature",
    description="Stripe's signature of the body (t=<unix time>,v1=<HMAC-SHA256>).",
    auto_error=False,
)


def _unsigned(reason: str) -> Unauthorized:
    return Unauthorized(reason, scheme="Stripe-Signature")


# How far a signature's timestamp may be from now, either way (Stripe's own default).
# The SDK refuses only old ones: a timestamp days ahead would make a captured request
# replayable until then.
TOLERANCE_SECONDS = stripe.Webhook.DEFAULT_TOLERANCE


def _verify(body: bytes, header: str, secret: str) -> None:
    """401 unless ``header`` signs ``body`` with ``secret`` at a time near now."""
    try:
        stripe.WebhookSignature.verify_header(
            body.decode("utf-8"), header, secret, tolerance=TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as err:
        raise _unsigned(f"invalid Stripe signature: {err.user_message or err}") from None
    except UnicodeDecodeError:
        raise BadRequest("invalid webhook body: not UTF-8") from None
    # Verified, so a t= element exists and is an integer.
    stamps = [item[2:] for item in header.split(",") if item.startswith("t=")]
    ahead = int(stamps[0]) - time.time()
    if ahead > TOLERANCE_SECONDS:
        raise _unsigned(
            f"invalid Stripe signature: timestamp {int(ahead)} s in the future "
            f"(tolerance {TOLERANCE_SECONDS} s)"
        )


@router.post(
    "/stripe",
    response_model=WebhookResult,
    response_model_exclude_none=True,
    responses={code: {"model": ErrorBody} for code in (400, 401, 413, 422, 429, 503)},
)
async def stripe_webhook(
    request: Request,
    client: TemporalClientDep,
    settings: SettingsDep,
    timeouts: TimeoutsDep,
    stripe_signature: Annotated[str | None, Depends(_signature)] = None,
) -> WebhookResult:
    """Receive a Stripe event, verify its signature and forward it to its order."""
    # Checked before the body is read or verified: forged floods cost nearly nothing.
    limit(request.app.state.webhook_limiter, request, "webhook")
    # Bounded by BodyLimitMiddleware (MAX_WEBHOOK_BYTES) before and while it is read.
    body = await request.body()
    if not stripe_signature:
        raise _unsigned("missing Stripe-Signature header")
    _verify(body, stripe_signature, settings.stripe_webhook_secret.get_secret_value())
    try:
        envelope = _Envelope.model_validate(loads(body))
    except (ValueError, ValidationError) as err:
        # Signed but not a Stripe event body (bad UTF-8 or JSON, or not an object).
        raise BadRequest(f"invalid webhook body: {str(err)[:300]}") from None
    found = order_event(envelope.id, envelope.type, envelope.data.object)
    if isinstance(found, str):
        return WebhookResult(ignored=found)
    order_id, event = found
    ignored = await gateway.forward_stripe_event(client, order_id, event, timeouts=timeouts)
    if ignored is not None:
        return WebhookResult(ignored=ignored)
    return WebhookResult(forwarded=order_id)
