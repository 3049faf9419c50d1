"""JSON log lines: parseable, with the order and workflow ids in activities and API routes."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine
from temporalio import activity
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from api.app import create_app
from models.ids import order_workflow_id
from telemetry.logs import JsonFormatter, json_handler
from tests.api.conftest import BASE_URL, make_settings

LOGGER = "orderclock.tests.telemetry"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Lines written through the JSON handler on this test's logger."""
    stream = io.StringIO()
    handler = json_handler(stream)
    # The SDK's activity.logger writes to temporalio.activity.
    loggers = [logging.getLogger(LOGGER), logging.getLogger("temporalio.activity")]
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
