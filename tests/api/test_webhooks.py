"""Stripe webhooks: only signed events pass, and they reach the order's workflow."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from api.routes.webhooks import MAX_WEBHOOK_BYTES, order_event
from models.ids import order_workflow_id
from models.orders import StripeEvent
from tests.support.api import (
    actor,
    eventually,
    order_body,
    stripe_event,
    stripe_signature,
    workflow_status,
)
from tests.support.fakes import NEEDS_3DS

pytestmark = pytest.mark.usefixtures("worker")


async def post_event(
    api: httpx.AsyncClient, payload: bytes, signature: str | None = None
) -> httpx.Response:
    headers = {"content-type": "application/json"}
    headers["stripe-signature"] = stripe_signature(payload) if signature is None else signature
    return await api.post("/webhooks/stripe", content=payload, headers=headers)


async def awaiting_3ds(api: httpx.AsyncClient, env: WorkflowEnvironment) -> tuple[str, str]:
    """An order whose payment waits for 3-D Secure; its id and PaymentIntent id."""
    body = await order_body(env)
    order_id = body["order_id"]
    assert (await api.post("/orders", json=body)).status_code == 201
    confirm = {"actor": actor(body, "provider"), "payload": {}}
    assert (await api.post(f"/orders/{order_id}/actions/confirm", json=confirm)).is_success
    pay = {"actor": actor(body, "customer"), "payload": {"payment_method": NEEDS_3DS}}
    paid = await api.post(f"/orders/{order_id}/actions/pay", json=pay)
    assert paid.json()["status"] == "payment"
    payment_intent: str = paid.json()["payments"][-1]["provider_id"]
    return order_id, payment_intent


def intent(order_id: str | None, payment_intent: str, **extra: Any) -> dict[str, Any]:
    metadata = {} if order_id is None else {"order_id": order_id}
    return {
        "id": payment_intent,
        "object": "payment_intent",
        "amount": 12000,
        "currency": "eur",
        "metadata": metadata,
        **extra,
    }


async def test_signed_success_reaches_the_workflow(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    order_id, payment_intent = await awaiting_3ds(api, time_env)
    payload = stripe_event("payment_intent.succeeded", intent(order_id, payment_intent))
    response = await post_event(api, payload)
    assert response.status_code == 200
    assert response.json() == {"forwarded": order_id}

    async def status() -> str:
        view = (await api.get(f"/orders/{order_id}")).json()
        return str(view["status"])

    assert await eventually(status, lambda s: s == "execution") == "execution"


async def test_signed_failure_carries_its_message(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    order_id, payment_intent = await awaiting_3ds(api, time_env)
    obj = intent(
        order_id,
        payment_intent,
        last_payment_error={"code": "authentication_required", "message": "3DS failed."},
    )
    response = await post_event(api, stripe_event("payment_intent.payment_failed", obj))
    assert response.json() == {"forwarded": order_id}

    async def error() -> str | None:
        view = (await api.get(f"/orders/{order_id}")).json()
        return view["last_payment_error"]  # type: ignore[no-any-return]

    assert await eventually(error, lambda e: e is not None) == "3DS failed."


async def test_refunded_charge_is_forwarded_by_the_charge_metadata(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    order_id, payment_intent = await awaiting_3ds(api, time_env)
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": payment_intent,
        "amount_refunded": 12000,
        "metadata": {"order_id": order_id},
    }
    response = await post_event(api, stripe_event("charge.refunded", charge))
    assert response.json() == {"forwarded": order_id}


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("", "missing Stripe-Signature header"),
        ("garbage", "invalid Stripe signature: Unable to extract timestamp"),
        ("t=123", "invalid Stripe signature: No signatures found with expected scheme"),
    ],
)
async def test_unusable_signature_headers_are_401(
    api: httpx.AsyncClient, header: str, reason: str
) -> None:
    payload = stripe_event("payment_intent.succeeded", intent("o-1", "pi_1"))
    response = await post_event(api, payload, signature=header)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Stripe-Signature"
    assert response.json()["detail"].startswith(reason)


async def test_missing_signature_header_is_401(api: httpx.AsyncClient) -> None:
    payload = stripe_event("payment_intent.succeeded", intent("o-1", "pi_1"))
    response = await api.post("/webhooks/stripe", content=payload)
    assert response.status_code == 401
    assert response.json() == {
        "code": "unauthenticated",
        "detail": "missing Stripe-Signature header",
    }


# Hostile deliveries of an event that would complete the order's payment: each is refused
# (or ignored) and the order's view and history stay as they were.


async def signals_handled(client: Client, order_id: str) -> int:
    """How many signals the order's workflow received and has run a workflow task on since."""
    received = handled = 0
    handle = client.get_workflow_handle(order_workflow_id(order_id))
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            received += 1
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            handled = received
    return handled


async def view_of(api: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    """The order's view, without ``pending`` (Temporal's activities in flight come and go)."""
    response = await api.get(f"/orders/{order_id}")
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    view.pop("pending")
    return view


@asynccontextmanager
async def unchanged_order(
    api: httpx.AsyncClient, env: WorkflowEnvironment
) -> AsyncIterator[tuple[str, str]]:
    """An order awaiting 3-D Secure (id, PaymentIntent) that the block must leave as it was.

    Its view is the same afterwards and its workflow handled no signal.
    """
    order_id, payment_intent = await awaiting_3ds(api, env)
    before = await settled_view(api, order_id)
    yield order_id, payment_intent
    assert await view_of(api, order_id) == before
    assert await signals_handled(env.client, order_id) == 0


async def settled_view(api: httpx.AsyncClient, order_id: str) -> Any:
    """The order's view once its emails are recorded: two reads 0.3 s apart agree.

    The emails an action queues are sent and recorded after it answers; a view read
    before that would differ from one read later for that reason alone.
    """
    loop = asyncio.get_running_loop()
    give_up = loop.time() + 15
    view = await view_of(api, order_id)
    while True:
        await asyncio.sleep(0.3)
        again = await view_of(api, order_id)
        if again == view:
            return view
        if loop.time() > give_up:
            raise AssertionError(f"order {order_id} kept changing for 15 s")
        view = again


def _forged(payload: bytes) -> tuple[bytes, str]:
    return payload, stripe_signature(payload, secret="whsec_attacker")


def _tampered(payload: bytes) -> tuple[bytes, str]:
    # Signed as Stripe would, then the amount changed on the way.
    return payload.replace(b'"amount": 12000', b'"amount": 1'), stripe_signature(payload)


def _stale(payload: bytes) -> tuple[bytes, str]:
    # Stripe's tolerance is 300 s: a replay of an old delivery is refused.
    return payload, stripe_signature(payload, at=int(time.time()) - 301)


def _unsigned(payload: bytes) -> tuple[bytes, str]:
    return payload, ""


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        (_forged, "invalid Stripe signature: No signatures found matching the expected"),
        (_tampered, "invalid Stripe signature: No signatures found matching the expected"),
        (_stale, "invalid Stripe signature: Timestamp outside the tolerance zone"),
        (_unsigned, "missing Stripe-Signature header"),
    ],
    ids=["forged", "tampered", "stale", "unsigned"],
)
async def test_unverifiable_deliveries_are_401_and_change_nothing(
    api: httpx.AsyncClient,
    time_env: WorkflowEnvironment,
    forge: Callable[[bytes], tuple[bytes, str]],
    reason: str,
) -> None:
    async with unchanged_order(api, time_env) as (order_id, payment_intent):
        payload = stripe_event("payment_intent.succeeded", intent(order_id, payment_intent))
        body, signature = forge(payload)
        response = await post_event(api, body, signature=signature)
        assert response.status_code == 401
        assert response.json()["detail"].startswith(reason)


async def test_the_same_event_twice_is_applied_once(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    order_id, payment_intent = await awaiting_3ds(api, time_env)
    payload = stripe_event("payment_intent.succeeded", intent(order_id, payment_intent))
    signature = stripe_signature(payload)
    first = await post_event(api, payload, signature=signature)
    assert first.json() == {"forwarded": order_id}
    await eventually(
        lambda: signals_handled(time_env.client, order_id),
        lambda n: n == 1,
        what="the workflow to handle the event's signal",
    )
    once = await view_of(api, order_id)
    assert once["status"] == "execution"

    # Stripe retries a delivery it saw no 2xx for: the same event, byte for byte.
    again = await post_event(api, payload, signature=signature)
    assert again.status_code == 200
    assert (
        await eventually(lambda: signals_handled(time_env.client, order_id), lambda n: n == 2) == 2
    )
    assert await view_of(api, order_id) == once
    assert [t["action"] for t in once["history"]] == ["create", "confirm", "pay"]
    assert [p["outcome"] for p in once["payments"]] == ["succeeded"]


async def test_oversized_event_is_413_and_changes_nothing(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    async with unchanged_order(api, time_env) as (order_id, payment_intent):
        obj = intent(order_id, payment_intent, description="x" * MAX_WEBHOOK_BYTES)
        response = await post_event(api, stripe_event("payment_intent.succeeded", obj))
        assert response.status_code == 413
        assert response.json() == {
            "code": "too_large",
            "detail": f"request body larger than {MAX_WEBHOOK_BYTES} bytes, this route's limit",
        }


async def test_signed_body_that_is_not_json_is_400_and_changes_nothing(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    async with unchanged_order(api, time_env) as (order_id, payment_intent):
        payload = stripe_event("payment_intent.succeeded", intent(order_id, payment_intent))
        response = await post_event(api, payload[:-1])  # correctly signed, cut short
        assert response.status_code == 400
        assert response.json()["detail"].startswith("invalid webhook body: ")


async def test_signed_event_of_an_unhandled_type_is_ignored_and_changes_nothing(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    async with unchanged_order(api, time_env) as (order_id, payment_intent):
        charge = intent(order_id, "ch_1") | {"object": "charge", "payment_intent": payment_intent}
        response = await post_event(api, stripe_event("charge.succeeded", charge))
        assert response.status_code == 200
        assert response.json() == {"ignored": "event type charge.succeeded is not handled"}


@pytest.mark.parametrize(
    "payload",
    [b"{not json", b"[]", b'{"id": "evt_1", "type": "x"}', b"\xff\xfe", b'"text"'],
)
async def test_signed_bodies_that_are_not_events_are_400(
    api: httpx.AsyncClient, payload: bytes
) -> None:
    response = await post_event(api, payload)
    assert response.status_code == 400
    assert isinstance(response.json()["detail"], str)


async def test_event_for_an_unknown_order_is_ignored(api: httpx.AsyncClient) -> None:
    payload = stripe_event("payment_intent.succeeded", intent("no-such-order", "pi_9"))
    response = await post_event(api, payload)
    assert response.status_code == 200
    assert response.json() == {"ignored": "order no-such-order not found"}
    # The event did not bring an order into being.
    assert (await api.get("/orders/no-such-order")).status_code == 404


async def test_event_without_order_is_ignored(api: httpx.AsyncClient) -> None:
    response = await post_event(api, stripe_event("payment_intent.succeeded", intent(None, "pi")))
    assert response.status_code == 200
    assert response.json() == {"ignored": "the event names no order (no metadata.order_id)"}


async def test_event_for_a_closed_order_is_ignored(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await order_body(time_env)
    order_id = body["order_id"]
    await api.post("/orders", json=body)
    cancel = {"actor": actor(body, "customer"), "payload": {"reason": "no longer needed"}}
    assert (await api.post(f"/orders/{order_id}/actions/cancel", json=cancel)).is_success

    async def status() -> WorkflowExecutionStatus:
        return await workflow_status(time_env.client, order_id)

    await eventually(
        status, lambda s: s == WorkflowExecutionStatus.COMPLETED, what="the order to close"
    )
    response = await post_event(api, stripe_event("charge.refunded", intent(order_id, "pi_1")))
    assert response.status_code == 200
    # The reason says how the order closed (the gateway's closed-order message).
    ignored = response.json()["ignored"]
    assert ignored.startswith(f"order {order_id} is closed: the order is cancelled")
    assert "no longer needed" in ignored


async def test_oversized_chunked_body_is_413(api: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_WEBHOOK_BYTES // 1024 + 2):
            yield b"x" * 1024

    response = await api.post(
        "/webhooks/stripe", content=chunks(), headers={"stripe-signature": "t=1,v1=00"}
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


def test_order_event_prefers_the_expanded_payment_intent_metadata() -> None:
    charge = {
        "payment_intent": {"id": "pi_7", "metadata": {"order_id": "from-intent"}},
        "amount_refunded": 500,
        "metadata": {"order_id": "from-charge"},
    }
    assert order_event("evt_1", "charge.refunded", charge) == (
        "from-intent",
        StripeEvent(event_id="evt_1", type="charge.refunded", payment_intent_id="pi_7", amount=500),
    )


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({"payment_intent": "pi_1", "metadata": {}}, "the event names no order"),
        ({"payment_intent": None}, "the event names no order"),
        ({"payment_intent": "pi_1", "metadata": {"order_id": 42}}, "the event names no order"),
        ({"metadata": {"order_id": "../x"}}, "metadata.order_id '../x' is not an order id"),
    ],
)
def test_order_event_ignores_charges_without_an_order(obj: dict[str, Any], reason: str) -> None:
    found = order_event("evt_1", "charge.refunded", obj)
    assert isinstance(found, str)
    assert found.startswith(reason)


def test_order_event_tolerates_odd_field_types() -> None:
    obj = {"id": 5, "amount": "12", "metadata": {"order_id": "o-1"}, "last_payment_error": "x"}
    assert order_event("evt_2", "payment_intent.canceled", obj) == (
        "o-1",
        StripeEvent(event_id="evt_2", type="payment_intent.canceled"),
    )
