"""The order counters around apply_effects: they count what it wrote, mail included."""

from __future__ import annotations

import dataclasses
from typing import Any

from prometheus_client import generate_latest
from sqlalchemy import Engine
from temporalio.testing import ActivityEnvironment
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput

from activities.effects import EffectsActivities
from activities.records import OrderRecordActivities
from models.activities import (
    APPLY_EFFECTS,
    EffectsInput,
    EffectsResult,
    SendEmailInput,
    SendEmailResult,
)
from models.orders import NotificationStatus
from telemetry.orders import OrderMetrics, OrderMetricsInterceptor
from tests.db.factories import make_view
from tests.support.telemetry import value


class _Run(ActivityInboundInterceptor):
    """The end of the chain: calls the activity."""

    def __init__(self) -> None:
        pass

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        return await input.fn(*input.args)


async def _sent(input: SendEmailInput) -> SendEmailResult:
    return SendEmailResult(status=NotificationStatus.sent)


async def test_the_emails_apply_effects_sent_are_counted_with_its_write(
    read_model: Engine,
) -> None:
    metrics = OrderMetrics()
    effects = EffectsActivities(_sent, OrderRecordActivities(read_model).record_order)
    counter = OrderMetricsInterceptor(read_model, metrics).intercept_activity(_Run())
    view = make_view("eff-1")
    emails = [
        SendEmailInput(
            idempotency_key=f"eff-1:email-order_created-{role}:1",
            order_id="eff-1",
            flow=view.flow,
            event="order_created",
            recipient_role=role,
            to_address=f"{role}@example.com",
            to_name=role,
        )
        for role in ("customer", "provider")
    ]
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, activity_type=APPLY_EFFECTS)

    async def intercepted() -> Any:
        call = ExecuteActivityInput(
            fn=effects.apply_effects,
            args=[EffectsInput(view=view, emails=emails)],
            executor=None,
            headers={},
        )
        return await counter.execute_activity(call)

    result = await env.run(intercepted)
    assert isinstance(result, EffectsResult) and result.recorded
    text = generate_latest(metrics.registry).decode()
    assert value(text, "orderclock_orders_started_total", flow=view.flow) == 1
    sent = {"flow": view.flow, "event": "order_created", "status": "sent"}
    assert value(text, "orderclock_email_outcomes_total", **sent) == 2
