"""What the API answers when a worker, Temporal or the live view is missing."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

import api.app as app_module
from api.app import connect_temporal, create_app
from api.gateway import Timeouts, request_fingerprint
from config.settings import Settings, get_settings
from db.engine import make_engine, session_scope
from db.writes import store_order_view
from flows.prepaid_service.models import PrepaidServiceRequest
from models.orders import OrderView
from tests.support.api import (
    BASE_URL,
    admin_key,
    api_client,
    bearer,
    make_settings,
    order_body,
    stripe_event,
    stripe_signature,
)

HALF_SECOND = timedelta(milliseconds=500)
QUICK = Timeouts(query=HALF_SECOND, action=HALF_SECOND)


@contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port held (bound, never listening) so connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        yield port


def store(engine: Engine, view: OrderView) -> None:
    with session_scope(engine) as session:
        store_order_view(session, view)


async def recorded_view(
    api: httpx.AsyncClient, env: WorkflowEnvironment, **changes: Any
) -> OrderView:
    """A real view made by the workflow (through the API and a worker), then changed."""
    created = await api.post("/orders", json=await order_body(env))
    assert created.status_code == 201
    return OrderView.model_validate(created.json()).model_copy(update=changes)


@pytest.fixture
async def workerless(
    time_env: WorkflowEnvironment, api_engine: Engine
) -> AsyncIterator[httpx.AsyncClient]:
    """The API on a task queue no worker polls, with a short query timeout."""
    settings = make_settings("tq-nobody-polls-this")
    async with api_client(settings, time_env.client, api_engine, timeouts=QUICK) as api:
        yield api


async def test_create_without_worker_is_503_and_says_the_order_was_accepted(
    workerless: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await order_body(time_env)
    order_id = body["order_id"]
    response = await workerless.post("/orders", json=body)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    detail = response.json()["detail"]
    assert detail.startswith(f"order {order_id} was accepted but its view is not available yet")
    read = await workerless.get(f"/orders/{order_id}")
    assert read.status_code == 503
    assert read.json()["detail"].startswith(f"the view of order {order_id} is unavailable")


async def test_action_without_worker_is_504_and_may_still_complete(
    workerless: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await order_body(time_env)
    order_id = body["order_id"]
    assert (await workerless.post("/orders", json=body)).status_code == 503
    action = {"actor": {"role": "provider", "id": body["provider"]["id"]}, "payload": {}}
    response = await workerless.post(f"/orders/{order_id}/actions/confirm", json=action)
    assert response.status_code == 504
    assert response.json() == {
        "code": "timeout",
        "detail": f"timed out waiting for action confirm on order {order_id}; it may still "
        f"complete: check GET /orders/{order_id}",
    }


@pytest.mark.usefixtures("worker")
async def test_without_worker_the_database_copy_answers(
    api: httpx.AsyncClient,
    workerless: httpx.AsyncClient,
    time_env: WorkflowEnvironment,
    api_engine: Engine,
) -> None:
    body = await order_body(time_env)
    order_id = body["order_id"]
    assert (await workerless.post("/orders", json=body)).status_code == 503
    # What a worker would have recorded for this order (a real view, moved on a little).
    fingerprint = request_fingerprint(PrepaidServiceRequest.model_validate(body))
    view = await recorded_view(
        api, time_env, order_id=order_id, status="payment", request_fingerprint=fingerprint
    )
    store(api_engine, view)
    read = await workerless.get(f"/orders/{order_id}")
    assert read.status_code == 200
    assert read.json()["order_id"] == order_id
    assert read.json()["status"] == "payment"
    repeated = await workerless.post("/orders", json=body)
    assert repeated.status_code == 200
    assert repeated.json()["status"] == "payment"
    changed = await workerless.post("/orders", json={**body, "currency": "USD"})
    assert changed.status_code == 409


@pytest.mark.usefixtures("worker")
async def test_gone_workflow_is_read_from_the_database(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment, api_engine: Engine
) -> None:
    view = await recorded_view(api, time_env, order_id="archived-order-1", status="closed")
    store(api_engine, view)
    read = await api.get("/orders/archived-order-1")
    assert read.status_code == 200
    assert read.json()["status"] == "closed"


@pytest.fixture
async def temporal_down(api_engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """The API with a Temporal client whose server does not exist."""
    with refusing_port() as port:
        settings = make_settings("tq-down", temporal_address=f"127.0.0.1:{port}")
        client = await connect_temporal(settings)
        async with api_client(settings, client, api_engine, timeouts=QUICK) as api:
            yield api


async def test_temporal_down_is_503_not_500(
    temporal_down: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await order_body(time_env)
    created = await temporal_down.post("/orders", json=body)
    assert created.status_code == 503
    assert created.json()["detail"].startswith("Temporal is unavailable")
    action = {"actor": {"role": "support", "id": "agent"}, "payload": {"reason": "x"}}
    acted = await temporal_down.post(f"/orders/{body['order_id']}/actions/cancel", json=action)
    assert acted.status_code == 503
    read = await temporal_down.get(f"/orders/{body['order_id']}")
    assert read.status_code == 503
    assert "Temporal is unreachable" in read.json()["detail"]
    # The read model and static routes do not need Temporal.
    assert (await temporal_down.get("/orders")).status_code == 200
    assert (await temporal_down.get("/flows")).status_code == 200
    assert (await temporal_down.get("/healthz")).status_code == 200


async def test_webhook_with_temporal_down_is_503_so_stripe_retries(
    temporal_down: httpx.AsyncClient,
) -> None:
    payload = stripe_event(
        "payment_intent.succeeded", {"id": "pi_1", "metadata": {"order_id": "o-1"}}
    )
    response = await temporal_down.post(
        "/webhooks/stripe", content=payload, headers={"stripe-signature": stripe_signature(payload)}
    )
    assert response.status_code == 503


async def test_missing_read_model_is_503(time_env: WorkflowEnvironment, tmp_path: Path) -> None:
    settings = make_settings("tq-x")
    engine = make_engine(f"sqlite:///{tmp_path / 'never-migrated.db'}")
    try:
        async with api_client(settings, time_env.client, engine) as api:
            response = await api.get("/orders")
    finally:
        engine.dispose()
    assert response.status_code == 503
    assert response.json() == {"code": "unavailable", "detail": "the order database is unavailable"}


@pytest.mark.usefixtures("worker")
async def test_lifespan_connects_from_settings(
    time_env: WorkflowEnvironment, settings: Settings, api_engine: Engine
) -> None:
    address = time_env.client.service_client.config.target_host
    configured = settings.model_copy(
        update={"temporal_address": address, "database_url": str(api_engine.url)}
    )
    app = create_app(configured)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE_URL, headers=bearer(admin_key(api_engine))
        ) as api:
            created = await api.post("/orders", json=await order_body(time_env))
            assert created.status_code == 201, created.text
            assert (await api.get("/orders")).status_code == 200
        assert app.state.engine is not api_engine


def test_module_app_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERCLOCK_STRIPE_API_KEY", "sk_test_env")
    monkeypatch.setenv("ORDERCLOCK_STRIPE_WEBHOOK_SECRET", "whsec_env")
    monkeypatch.setenv("ORDERCLOCK_TASK_QUEUE", "from-env")
    get_settings.cache_clear()
    monkeypatch.setattr(app_module, "_app", None)
    try:
        app = app_module.app
        assert app.state.settings.task_queue == "from-env"
        assert app_module.app is app
    finally:
        get_settings.cache_clear()
    with pytest.raises(AttributeError):
        getattr(app_module, "nothing_here")  # noqa: B009
