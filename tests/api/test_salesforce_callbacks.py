"""POST /callbacks/salesforce: rate limited, then the shared secret, then the order's Update."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from db.engine import make_engine
from tests.support.api import api_client, eventually, make_settings

SECRET = "sf-shared-secret"
URL = "/callbacks/salesforce"


@pytest.fixture
def settings(task_queue: str) -> Settings:
    return make_settings(task_queue, salesforce_callback_secret=SecretStr(SECRET))


def shop_body(**changes: Any) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:10]
    body: dict[str, Any] = {
        "order_id": f"shop-{suffix}",
        "flow": "shop_order",
        "customer": {"id": f"cus-{suffix}", "name": "Sam Shopper", "email": "sam@example.com"},
        "items": [{"sku": "WID-1", "name": "Widget", "quantity": 2, "unit_amount": 2450}],
        "currency": "EUR",
        "payment": {"method": "purchase_order", "po_number": "PO-1"},
    }
    body.update(changes)
    return body


async def placed_order(api: httpx.AsyncClient, status: str = "awaiting_payment") -> str:
    """A shop order created over HTTP, once it reached ``status``."""
    body = shop_body()
    created = await api.post("/orders", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["shop"]["kind"] == "product"
    order_id: str = body["order_id"]

    async def current() -> str:
        return str((await api.get(f"/orders/{order_id}")).json()["status"])

    assert await eventually(current, lambda s: s == status) == status
    return order_id


def event(order_id: str, name: str = "shipped", **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"evt-{uuid.uuid4().hex[:10]}",
        "event": name,
        "order_id": order_id,
        **fields,
    }


async def post(
    api: httpx.AsyncClient, body: Any, secret: str | None = SECRET, raw: bytes | None = None
) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if secret is not None:
        headers["X-Orderclock-Secret"] = secret
    if raw is not None:
        return await api.post(URL, content=raw, headers=headers)
    return await api.post(URL, json=body, headers=headers)


@pytest.mark.usefixtures("worker")
async def test_shipped_completes_the_order_once(api: httpx.AsyncClient) -> None:
    order_id = await placed_order(api)
    body = event(order_id, tracking_number="T-42")
    first = await post(api, body)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "order_id": order_id,
        "event_id": body["event_id"],
        "outcome": "applied",
        "status": "completed",
    }
    again = await post(api, body)
    assert again.status_code in (200, 409)
    if again.status_code == 200:  # the workflow was still draining: it knows the event
        assert again.json()["outcome"] == "duplicate"
    else:
        refused = again.json()
        assert refused["code"] == "not_allowed"
        assert refused["detail"].startswith(f"order {order_id} is closed")  # and how it closed

    async def listed() -> list[dict[str, Any]]:
        page = await api.get("/orders", params={"flow": "shop_order", "status": "completed"})
        return [row for row in page.json()["items"] if row["order_id"] == order_id]

    assert await eventually(listed, bool)


@pytest.mark.usefixtures("worker")
async def test_callback_not_applicable_now_is_409(api: httpx.AsyncClient) -> None:
    order_id = await placed_order(api)
    cancel = {"actor": {"role": "support", "id": "csr"}, "payload": {"reason": "test"}}
    body = event(order_id, "evaluation_complete", repair_price=100)
    refused = await post(api, body)
    assert refused.status_code == 409
    assert refused.json() == {
        "code": "not_allowed",
        "detail": "evaluation_complete does not apply to an order in awaiting_payment "
        "(only in awaiting_evaluation)",
    }
    assert (await api.post(f"/orders/{order_id}/actions/cancel", json=cancel)).is_success


@pytest.mark.usefixtures("worker")
async def test_same_event_twice_is_applied_once(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = shop_body(kind="repair", items=[{"sku": "R", "name": "Repair", "unit_amount": 9000}])
    assert (await api.post("/orders", json=body)).status_code == 201
    order_id = body["order_id"]

    async def current() -> str:
        return str((await api.get(f"/orders/{order_id}")).json()["status"])

    await eventually(
        current,
        lambda s: s == "awaiting_customer_approval",
        what="the repair order to await the customer's approval",
    )
    approval = event(order_id, "quote_approved")
    answers = await asyncio.gather(*(post(api, approval) for _ in range(3)))
    outcomes = sorted(a.json()["outcome"] for a in answers)
    assert outcomes == ["applied", "duplicate", "duplicate"]
    view = (await api.get(f"/orders/{order_id}")).json()
    assert view["status"] == "awaiting_payment"
    assert [t["action"] for t in view["history"]].count("quote_approved") == 1


async def test_unknown_order_is_404(api: httpx.AsyncClient) -> None:
    response = await post(api, event("no-such-order"))
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "order no-such-order not found"}


@pytest.mark.parametrize(
    ("body", "raw", "detail"),
    [
        (None, b"{not json", "invalid callback: not JSON"),
        (
            {"event": "shipped", "order_id": "A-1"},
            None,
            "invalid callback: event_id: Field required",
        ),
        (
            {"event_id": "e", "event": "teleported", "order_id": "A-1"},
            None,
            "invalid callback: event: Input should be",
        ),
        (
            {"event_id": "e", "event": "evaluation_complete", "order_id": "A-1"},
            None,
            "invalid callback: body: Value error, evaluation_complete needs repair_price",
        ),
        (
            {"event_id": "e", "event": "shipped", "order_id": "A 1"},
            None,
            "invalid callback: order_id: String should match pattern",
        ),
    ],
)
async def test_malformed_body_is_422(
    api: httpx.AsyncClient, body: Any, raw: bytes | None, detail: str
) -> None:
    response = await post(api, body, raw=raw)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(detail)


@pytest.mark.parametrize(
    ("secret", "detail"),
    [(None, "missing X-Orderclock-Secret header"), ("guess", "wrong X-Orderclock-Secret")],
)
async def test_missing_or_wrong_secret_is_401(
    api: httpx.AsyncClient, secret: str | None, detail: str
) -> None:
    response = await post(api, event("A-1"), secret=secret)
    assert response.status_code == 401
    assert response.json() == {"code": "unauthenticated", "detail": detail}
    assert response.headers["www-authenticate"] == "X-Orderclock-Secret"


async def test_unconfigured_secret_is_503(time_env: WorkflowEnvironment) -> None:
    settings = make_settings("tq-unconfigured")
    engine = make_engine("sqlite://")
    async with api_client(settings, time_env.client, engine, api_key=None) as api:
        response = await post(api, event("A-1"))
    engine.dispose()
    assert response.status_code == 503
    assert "ORDERCLOCK_SALESFORCE_CALLBACK_SECRET" in response.json()["detail"]


async def test_flood_gets_429_before_the_secret_is_checked(time_env: WorkflowEnvironment) -> None:
    settings = make_settings(
        "tq-cb-rate", webhook_rate_per_minute=3, salesforce_callback_secret=SecretStr(SECRET)
    )
    engine = make_engine("sqlite://")
    async with api_client(settings, time_env.client, engine, api_key=None) as api:
        answers = [await post(api, event("A-1"), secret="guess") for _ in range(4)]
        # The Stripe webhook's buckets are its own.
        webhook = await api.post("/webhooks/stripe", content=b"{}")
    engine.dispose()
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert answers[3].headers["Retry-After"] == "20"
    assert answers[3].json() == {
        "code": "rate_limited",
        "detail": "too many callback requests from this address",
    }
    assert webhook.status_code == 401  # unsigned, not limited
