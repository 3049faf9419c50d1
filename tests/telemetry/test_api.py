"""The API's /metrics (counting by route template and status) and /readyz."""

from __future__ import annotations

import httpx
import sqlalchemy
from sqlalchemy import Engine, make_url
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.app import API_RETRY
from db.engine import make_engine
from tests.support.api import api_client, make_settings
from tests.support.telemetry import free_port, value

REQUESTS = "orderclock_api_requests_total"
LATENCY_COUNT = "orderclock_api_request_duration_seconds_count"


async def _metrics(api: httpx.AsyncClient) -> str:
    response = await api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_requests_are_counted_by_route_template_and_status(
    time_env: WorkflowEnvironment, read_model: Engine
) -> None:
    async with api_client(make_settings("tq-metrics"), time_env.client, read_model) as api:
        before = await _metrics(api)
        assert value(before, REQUESTS, method="GET", route="/flows/{flow}", status="200") == 0

        assert (await api.get("/flows/prepaid_service")).status_code == 200
        assert (await api.get("/flows/prepaid_service")).status_code == 200
        assert (await api.get("/flows/no_such_flow")).status_code == 404
        assert (await api.get("/orders/not-an-order")).status_code == 404
        assert (await api.get("/no/such/path")).status_code == 404

        after = await _metrics(api)
    assert value(after, REQUESTS, method="GET", route="/flows/{flow}", status="200") == 2
    assert value(after, REQUESTS, method="GET", route="/flows/{flow}", status="404") == 1
    assert value(after, REQUESTS, method="GET", route="/orders/{order_id}", status="404") == 1
    # An unknown path is one label value, whatever the path: no unbounded label set.
    assert value(after, REQUESTS, method="GET", route="unmatched", status="404") == 1
    # The raw path never becomes a label.
    assert "/flows/prepaid_service" not in after
    # The first /metrics call was counted by the time of the second.
    assert value(after, REQUESTS, method="GET", route="/metrics", status="200") == 1
    assert value(after, LATENCY_COUNT, method="GET", route="/flows/{flow}") == 3


async def test_readyz_with_temporal_and_database_up(
    time_env: WorkflowEnvironment, read_model: Engine
) -> None:
    async with api_client(make_settings("tq-ready"), time_env.client, read_model) as api:
        response = await api.get("/readyz")
        healthz = await api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"temporal": "ok", "database": "ok"}
    assert healthz.json() == {"status": "ok"}


async def _readyz(client: Client, engine: Engine) -> httpx.Response:
    async with api_client(make_settings("tq-ready"), client, engine) as api:
        return await api.get("/readyz")


async def test_readyz_names_a_missing_postgres_database(
    time_env: WorkflowEnvironment, postgres_admin_url: str
) -> None:
    url = make_url(postgres_admin_url).set(database="orderclock_no_such_database")
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        response = await _readyz(time_env.client, engine)
    finally:
        engine.dispose()
    assert response.status_code == 503
    body = response.json()
    assert (body["temporal"], body["database"]) == ("ok", "unavailable")
    assert "orderclock_no_such_database" in body["problems"]["database"]
    assert "temporal" not in body["problems"]


async def test_readyz_names_an_unusable_sqlite_path(time_env: WorkflowEnvironment) -> None:
    # make_engine would create the directory; a plain engine keeps the path unusable.
    engine = sqlalchemy.create_engine("sqlite:////nonexistent-orderclock-dir/sub/orders.db")
    try:
        response = await _readyz(time_env.client, engine)
    finally:
        engine.dispose()
    assert response.status_code == 503
    body = response.json()
    assert (body["temporal"], body["database"]) == ("ok", "unavailable")
    assert "unable to open database file" in body["problems"]["database"]


async def test_readyz_names_an_unreachable_temporal(read_model: Engine) -> None:
    # Lazy, like the API's own client: it connects on first use, to a port nobody serves.
    client = await Client.connect(
        f"127.0.0.1:{free_port()}",
        data_converter=pydantic_data_converter,
        retry_config=API_RETRY,
        lazy=True,
    )
    response = await _readyz(client, read_model)
    assert response.status_code == 503
    body = response.json()
    assert (body["temporal"], body["database"]) == ("unavailable", "ok")
    assert body["problems"]["temporal"]
    assert "database" not in body["problems"]
