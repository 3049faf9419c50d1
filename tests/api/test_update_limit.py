"""Temporal's limit of 10 in-flight Updates per workflow is a 429, never a 500.

The time-skipping server does not enforce the limit, so this runs on a real dev server
(the ``temporal`` binary) with a stand-in workflow that holds its actions open.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import httpx
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import connect_temporal
from flows.prepaid_service.models import Appointment
from models.common import LineItem, Party
from models.ids import order_workflow_id
from models.orders import OrderView
from tests.api.busy_workflow import BusyOrderWorkflow
from tests.support.api import api_client, eventually, make_settings
from workflows.sandbox import workflow_runner

LIMIT = 10


def held_view(order_id: str) -> OrderView:
    moment = datetime(2030, 1, 1, 12, tzinfo=UTC)
    return OrderView(
        order_id=order_id,
        flow="prepaid_service",
        status="payment",
        stage="Payment",
        customer=Party(id="cus-1", name="Cleo", email="cleo@example.com"),
        provider=Party(id="pro-1", name="Piet", email="piet@example.com"),
        items=[LineItem(name="Massage", unit_amount=12000)],
        currency="EUR",
        amount_total=12000,
        appointment=Appointment(start=moment, time_zone="Europe/Berlin"),
        request_fingerprint="fp",
        created_at=moment,
        updated_at=moment,
    )


async def test_eleventh_concurrent_action_is_429(
    dev_env: WorkflowEnvironment, task_queue: str, api_engine: Engine
) -> None:
    address = dev_env.client.service_client.config.target_host
    settings = make_settings(task_queue, temporal_address=address)
    order_id = f"busy-{uuid.uuid4().hex[:12]}"
    action = {"actor": {"role": "support", "id": "agent-1"}, "payload": {}}
    path = f"/orders/{order_id}/actions/confirm"
    async with Worker(
        dev_env.client,
        task_queue=task_queue,
        workflows=[BusyOrderWorkflow],
        workflow_runner=workflow_runner(),
    ):
        handle = await dev_env.client.start_workflow(
            BusyOrderWorkflow.run,
            held_view(order_id),
            id=order_workflow_id(order_id),
            task_queue=task_queue,
        )
        # The API's own client, with the short retries it uses in production.
        client = await connect_temporal(settings)
        async with api_client(settings, client, api_engine) as api:
            held = [asyncio.create_task(api.post(path, json=action)) for _ in range(LIMIT)]

            async def in_flight() -> int:
                count: int = await handle.query(BusyOrderWorkflow.in_flight)
                return count

            assert await eventually(in_flight, lambda n: n == LIMIT) == LIMIT
            response = await api.post(path, json=action)
            assert response.status_code == 429
            assert response.headers["retry-after"] == "1"
            assert response.json() == {
                "code": "rate_limited",
                "detail": f"order {order_id} has too many actions in flight; retry shortly",
            }
            await handle.signal(BusyOrderWorkflow.release)
            answers: list[httpx.Response] = await asyncio.gather(*held)
        assert [answer.status_code for answer in answers] == [200] * LIMIT
        assert answers[0].json()["order_id"] == order_id
        await handle.result()
