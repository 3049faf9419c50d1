"""JSON log lines: parseable, with the order and workflow ids in activities and API routes."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from temporalio import activity
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from api.app import create_app
from models.ids import order_workflow_id
from telemetry.logs import JsonFormatter, json_handler
from tests.fixtures.devstack import clean_environment, orderclock_command
from tests.fixtures.temporal import running_worker
from tests.support.api import BASE_URL, api_client, make_settings, order_body
from tests.support.fakes import FakeActivities
from tests.support.telemetry import free_port
from workflows.prepaid_service import PrepaidServiceWorkflow
from workflows.sandbox import workflow_runner

LOGGER = "orderclock.tests.telemetry"


@contextmanager
def capturing(*names: str) -> Iterator[io.StringIO]:
    """Lines the named loggers write through the JSON handler, at INFO and above."""
    stream = io.StringIO()
    handler = json_handler(stream)
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Lines written through the JSON handler on this test's logger."""
    # The SDK's activity.logger writes to temporalio.activity.
    with capturing(LOGGER, "temporalio.activity") as stream:
        yield stream


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_formatter_writes_one_json_object_per_line_with_extras() -> None:
    record = logging.LogRecord(LOGGER, logging.WARNING, __file__, 1, "two\nlines %s", ("é",), None)
    record.attempt = 3
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "two\nlines é"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == LOGGER
    assert entry["attempt"] == 3
    assert entry["time"].endswith("+00:00")
    assert "order_id" not in entry and "workflow_id" not in entry


async def test_activity_lines_carry_order_and_workflow_ids(captured: io.StringIO) -> None:
    @activity.defn
    async def noisy() -> None:
        logging.getLogger(LOGGER).info("plain logger in an activity")
        activity.logger.info("the SDK's activity logger")

    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=order_workflow_id("ord-42"))
    await env.run(noisy)
    lines = _lines(captured)
    assert len(lines) == 2
    assert lines[0]["message"] == "plain logger in an activity"
    assert str(lines[1]["message"]).startswith("the SDK's activity logger")
    for line in lines:
        assert line["order_id"] == "ord-42"
        assert line["workflow_id"] == "order-ord-42"


async def test_activity_of_another_workflow_has_only_its_workflow_id(
    captured: io.StringIO,
) -> None:
    @activity.defn
    async def noisy() -> None:
        logging.getLogger(LOGGER).info("not an order")

    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id="nightly-report")
    await env.run(noisy)
    (line,) = _lines(captured)
    assert line["workflow_id"] == "nightly-report"
    assert "order_id" not in line


async def test_api_lines_carry_the_path_order_id(
    captured: io.StringIO, time_env: WorkflowEnvironment, read_model: Engine
) -> None:
    app = create_app(make_settings("tq-logs"), temporal_client=time_env.client, engine=read_model)

    async def probe(order_id: str) -> dict[str, str]:
        logging.getLogger(LOGGER).info("serving an order route")
        return {"order_id": order_id}

    def sync_probe() -> dict[str, str]:
        logging.getLogger(LOGGER).info("serving another route")
        return {}

    app.add_api_route("/orders/{order_id}/probe", probe)
    app.add_api_route("/probe", sync_probe)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as api:
        assert (await api.get("/orders/ord-7/probe")).status_code == 200
        assert (await api.get("/probe")).status_code == 200
    logging.getLogger(LOGGER).info("outside any request")
    on_order, other, outside = _lines(captured)
    assert (on_order["order_id"], on_order["workflow_id"]) == ("ord-7", "order-ord-7")
    assert "order_id" not in other and "workflow_id" not in other
    assert "order_id" not in outside


async def test_access_lines_carry_method_path_status_duration_and_order_id(
    time_env: WorkflowEnvironment, read_model: Engine
) -> None:
    app = create_app(make_settings("tq-logs"), temporal_client=time_env.client, engine=read_model)
    with capturing("orderclock.access") as stream:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE_URL
        ) as api:
            assert (await api.get("/orders/ord-9")).status_code == 401
            assert (await api.get("/healthz")).status_code == 200
    on_order, probe = _lines(stream)
    assert on_order["message"].startswith("GET /orders/ord-9 401 ")
    assert on_order["level"] == "INFO"
    assert (on_order["method"], on_order["path"], on_order["route"], on_order["status"]) == (
        "GET",
        "/orders/ord-9",
        "/orders/{order_id}",
        401,
    )
    assert isinstance(on_order["duration_ms"], float) and on_order["duration_ms"] > 0
    assert (on_order["order_id"], on_order["workflow_id"]) == ("ord-9", "order-ord-9")
    assert (probe["path"], probe["status"]) == ("/healthz", 200)
    assert "order_id" not in probe


async def test_create_order_lines_carry_the_order_id_of_the_body_or_the_new_one(
    time_env: WorkflowEnvironment, read_model: Engine
) -> None:
    task_queue = f"tq-{uuid.uuid4()}"
    fakes = FakeActivities()
    with capturing("api.gateway", "orderclock.access") as stream:
        async with (
            running_worker(
                time_env.client,
                task_queue=task_queue,
                workflows=[PrepaidServiceWorkflow],
                activities=fakes.all(),
                workflow_runner=workflow_runner(),
            ),
            api_client(make_settings(task_queue), time_env.client, read_model) as api,
        ):
            named = await order_body(time_env)
            assert (await api.post("/orders", json=named)).status_code == 201
            unnamed = await order_body(time_env, order_id=None)
            created = await api.post("/orders", json=unnamed)
            assert created.status_code == 201
    new_id = created.json()["order_id"]
    lines = _lines(stream)
    assert [(line["logger"], line["message"].split(" 201 ")[0]) for line in lines] == [
        ("api.gateway", f"order {named['order_id']} started"),
        ("orderclock.access", "POST /orders"),
        ("api.gateway", f"order {new_id} started"),
        ("orderclock.access", "POST /orders"),
    ]
    ids = [line["order_id"] for line in lines]
    assert ids == [named["order_id"], named["order_id"], new_id, new_id]
    assert all(line["workflow_id"] == f"order-{line['order_id']}" for line in lines)


def test_the_api_process_writes_only_json_lines(tmp_path: Path) -> None:
    """``orderclock api``: uvicorn's own lines, the access lines and the app's, all JSON."""
    port, closed = free_port(), free_port()
    env = clean_environment() | {
        "ORDERCLOCK_STRIPE_API_KEY": "sk_test_logs",
        "ORDERCLOCK_STRIPE_WEBHOOK_SECRET": "whsec_logs",
        # Never reached: the API connects lazily and these requests do not need Temporal.
        "ORDERCLOCK_TEMPORAL_ADDRESS": f"127.0.0.1:{closed}",
        "ORDERCLOCK_DATABASE_URL": f"sqlite:///{tmp_path / 'orders.db'}",
    }
    stderr = tmp_path / "api.stderr"
    with stderr.open("wb") as errors:
        process = subprocess.Popen(
            [*orderclock_command(), "api", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, stderr.read_text()
                assert time.monotonic() < deadline, "the API did not come up"
                time.sleep(0.1)
            assert httpx.get(f"{base}/orders/A-1").status_code == 401
        finally:
            process.send_signal(signal.SIGTERM)
            stdout, _ = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert process.returncode in (0, -signal.SIGTERM)
    assert stdout == b""
    lines = [json.loads(line) for line in stderr.read_text().splitlines()]
    messages = [(line["logger"], line["message"]) for line in lines]
    running = f"Uvicorn running on http://127.0.0.1:{port} (Press CTRL+C to quit)"
    assert ("uvicorn.error", running) in messages
    assert ("uvicorn.error", "Application startup complete.") in messages
    assert ("uvicorn.error", "Shutting down") in messages
    assert ("uvicorn.error", f"Finished server process [{process.pid}]") in messages
    access = [line for line in lines if line["logger"] == "orderclock.access"]
    assert {(a["method"], a["path"], a["status"]) for a in access} >= {
        ("GET", "/healthz", 200),
        ("GET", "/orders/A-1", 401),
    }
    assert all(isinstance(a["duration_ms"], float) for a in access)
    assert not any("color_message" in line for line in lines)
    (refused,) = [a for a in access if a["path"] == "/orders/A-1"]
    assert (refused["order_id"], refused["client"]) == ("A-1", "127.0.0.1")
