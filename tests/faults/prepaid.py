"""Prepaid orders for the fault tests: requests, parties, and what the order should show."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from stripe import StripeClient

from flows.prepaid_service.models import PrepaidServiceRequest
from models.common import Actor, Role
from models.orders import OrderView, PaymentKind, PaymentOutcome
from tests.fixtures.stripe import captured_charges, intents_for_order
from tests.support.prepaid_service import prepaid_body as sample_prepaid_body

CUSTOMER = Actor(role=Role.customer, id="cus-faults")
PROVIDER = Actor(role=Role.provider, id="pro-faults")
SUPPORT = Actor(role=Role.support, id="agent-faults")
AMOUNT = 8500


def actor_json(who: Actor) -> dict[str, Any]:
    """An action's ``actor`` as the API takes it."""
    return {"role": who.role.value, "id": who.id}


def order_id(prefix: str) -> str:
    """A fresh order id that says which test made it."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def prepaid_body(oid: str, starts_in: timedelta = timedelta(days=3)) -> dict[str, Any]:
    """A ``POST /orders`` body for a prepaid service order of 85.00 EUR (the flow's sample)."""
    start = datetime.now(UTC) + starts_in
    return sample_prepaid_body(
        oid, start, customer_id=CUSTOMER.id, provider_id=PROVIDER.id, amount=AMOUNT
    )


def prepaid_request(oid: str, starts_in: timedelta = timedelta(days=3)) -> PrepaidServiceRequest:
    """The same order as a request model, for the gateway."""
    return PrepaidServiceRequest.model_validate(prepaid_body(oid, starts_in))


async def assert_charged_once(view: OrderView, oid: str, stripe: StripeClient) -> str:
    """The order paid with one charge, and the payment server holds exactly one
    PaymentIntent and one capture for it; the intent's id."""
    assert view.status == "execution"
    assert view.amount_paid == AMOUNT
    charges = [p for p in view.payments if p.kind == PaymentKind.charge]
    assert [(c.outcome, c.idempotency_key) for c in charges] == [
        (PaymentOutcome.succeeded, f"{oid}:charge:1")
    ]
    intent_id = charges[0].provider_id
    assert intent_id is not None
    assert await intents_for_order(stripe, oid) == [intent_id]
    intent = await stripe.v1.payment_intents.retrieve_async(intent_id)
    assert (intent.status, intent.amount) == ("succeeded", AMOUNT)
    assert len(await captured_charges(stripe, intent_id)) == 1
    return intent_id
