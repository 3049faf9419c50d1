"""The worker logs each transition once, at INFO, when the read model first records it."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.engine import Engine
from temporalio.testing import ActivityEnvironment

from activities.records import OrderRecordActivities
from models.activities import RecordOrderInput
from models.common import Actor, Role
from tests.db.factories import make_view, transition


async def test_one_line_per_new_transition(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    records = OrderRecordActivities(engine)
    env = ActivityEnvironment()
    created = make_view("log-1")
    confirmed = make_view(
        "log-1",
        status="payment",
        version=2,
        history=[
            *created.history,
            transition(
                1,
                "payment",
                from_status="confirmation",
                action="confirm",
                actor=Actor(role=Role.provider, id="pro-1"),
            ),
        ],
    )
    with caplog.at_level(logging.INFO, logger="orderclock.transitions"):
        await env.run(records.record_order, RecordOrderInput(view=created))
        await env.run(records.record_order, RecordOrderInput(view=created))  # a retry
        await env.run(records.record_order, RecordOrderInput(view=confirmed))
        await env.run(records.record_order, RecordOrderInput(view=created))  # older: ignored
    lines = [r for r in caplog.records if r.name == "orderclock.transitions"]
    assert [r.getMessage() for r in lines] == [
        "order log-1 (prepaid_service): - -> confirmation by provider:pro-1 (create)",
        "order log-1 (prepaid_service): confirmation -> payment by provider:pro-1 (confirm)",
    ]
    assert all(r.levelno == logging.INFO for r in lines)
    last = lines[-1]
    assert (last.order_id, last.flow, last.from_status, last.to_status, last.actor) == (  # type: ignore[attr-defined]
        "log-1",
        "prepaid_service",
        "confirmation",
        "payment",
        "provider:pro-1",
    )
