"""Salesforce callbacks: a shared secret, a rate limit, then an Update on the order.

Salesforce (an outbound message, a Flow's HTTP callout or Apex) posts one event per
request, with the deployment's shared secret in the ``X-Orderclock-Secret`` header. Like
the Stripe webhook, the caller is rate limited per address before anything else is read,
then authenticated (constant-time compare), then the body is validated. The event goes to
the order's workflow as the Update ``salesforce_callback``, so the answer tells Salesforce
whether it applied: 200 applied or duplicate (the same ``event_id`` again), 404 unknown
order, 409 not applicable now (with the reason), 422 malformed.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import ValidationError

from api import gateway
from api.bodies import loads
from api.deps import SettingsDep, TemporalClientDep, TimeoutsDep
from api.errors import ErrorBody, Unauthorized, Unavailable, Unprocessable
from api.ratelimit import limit
from flows.shop_order.models import SalesforceCallback, SalesforceCallbackResult

router = APIRouter(prefix="/callbacks", tags=["callbacks"])

SECRET_HEADER = "X-Orderclock-Secret"
SALESFORCE_PATH = "/callbacks/salesforce"
MAX_CALLBACK_BYTES = 16 * 1024


def _rejected(reason: str) -> Unauthorized:
    # A 401 names what to send (RFC 9110), here the shared-secret header.
    return Unauthorized(reason, scheme=SECRET_HEADER)


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "body"
    return f"{where}: {first.get('msg')}"


@router.post(
    "/salesforce",
    response_model=SalesforceCallbackResult,
    responses={code: {"model": ErrorBody} for code in (400, 401, 404, 409, 413, 422, 429, 503)},
)
async def salesforce_callback(
    request: Request,
    client: TemporalClientDep,
    settings: SettingsDep,
    timeouts: TimeoutsDep,
    x_orderclock_secret: Annotated[str | None, Header()] = None,
) -> SalesforceCallbackResult:
    """Apply a Salesforce event (evaluation complete, quote approved/declined, shipped)."""
    # Before the secret is checked or the body read: guessing floods cost nearly nothing.
    limit(request.app.state.callback_limiter, request, "callback")
    secret = settings.salesforce_callback_secret
    if secret is None:
        raise Unavailable(
            "Salesforce callbacks are not configured: set ORDERCLOCK_SALESFORCE_CALLBACK_SECRET"
        )
    if not x_orderclock_secret:
        raise _rejected(f"missing {SECRET_HEADER} header")
    if not hmac.compare_digest(x_orderclock_secret.encode(), secret.get_secret_value().encode()):
        raise _rejected(f"wrong {SECRET_HEADER}")
    # Bounded by BodyLimitMiddleware (MAX_CALLBACK_BYTES) before and while it is read.
    body = await request.body()
    try:
        callback = SalesforceCallback.model_validate(loads(body))
    except ValueError as err:
        detail = _first_error(err) if isinstance(err, ValidationError) else f"not JSON: {err}"
        raise Unprocessable(f"invalid callback: {detail}") from None
    return await gateway.send_salesforce_callback(client, callback, timeouts=timeouts)
