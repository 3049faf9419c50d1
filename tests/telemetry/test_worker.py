"""The worker's metrics: the SDK runtime's endpoint and orderclock's own counters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from pydantic import SecretStr
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.records import OrderRecordActivities
from config.settings import Settings
from models.activities import RecordOrderInput
from models.common import Actor, Role
from models.orders import PaymentKind, PaymentOutcome
from telemetry.orders import OrderMetrics, OrderMetricsInterceptor
from telemetry.worker import prometheus_runtime
from tests.db.factories import make_view, notification, payment, transition
from tests.support.telemetry import free_port, samples, value
from tests.telemetry.workflows import Hello, RecordViews
from worker.main import run_worker
from workflows.sandbox import workflow_runner


async def _get_metrics(url: str, within: float = 10.0) -> str:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as http:
        while True:
            try:
                response = await http.get(url)
            except httpx.TransportError as error:
                last = repr(error)
            else:
                if response.status_code == 200:
                    return response.text
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            if time.monotonic() > deadline:
                raise AssertionError(f"no metrics at {url} within {within:.0f} s ({last})")
            await asyncio.sleep(0.1)


async def test_sdk_runtime_serves_temporal_metrics(time_env: WorkflowEnvironment) -> None:
    port = free_port()
    client = await Client.connect(
        time_env.client.service_client.config.target_host,
        namespace=time_env.client.namespace,
        runtime=prometheus_runtime("127.0.0.1", port),
    )
    task_queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        client, task_queue=task_queue, workflows=[Hello], workflow_runner=workflow_runner()
    ):
        result = await client.execute_workflow(
            Hello.run, id=f"hello-{uuid.uuid4()}", task_queue=task_queue
        )
        assert result == "hello"
        text = await _get_metrics(f"http://127.0.0.1:{port}/metrics")
    names = {name for name, _ in samples(text)}
    assert any(name.startswith("temporal_") for name in names), sorted(names)[:20]
    assert any(name.startswith("temporal_workflow_completed") for name in names)


def _worker_settings(env: WorkflowEnvironment, tmp_path: Path, **metrics: Any) -> Settings:
    return Settings(
        temporal_address=env.client.service_client.config.target_host,
        task_queue=f"tq-{uuid.uuid4()}",
        database_url=f"sqlite:///{tmp_path}/orders.db",
        stripe_api_key=SecretStr("sk_test_unused"),
        stripe_webhook_secret=SecretStr("whsec_unused"),
        **metrics,
    )


async def test_run_worker_serves_both_endpoints_where_its_settings_say(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    ours, sdk = free_port(), free_port()
    # Another loopback address than the default 127.0.0.1: the host is the settings' too.
    settings = _worker_settings(
        time_env,
        tmp_path,
        worker_metrics_host="127.0.0.2",
        worker_metrics_port=ours,
        worker_sdk_metrics_port=sdk,
    )
    running = asyncio.create_task(run_worker(settings))
    try:
        own_text = await _get_metrics(f"http://127.0.0.2:{ours}/metrics")
        sdk_text = await _get_metrics(f"http://127.0.0.2:{sdk}/metrics")
        async with httpx.AsyncClient() as http:
            for port in (ours, sdk):
                with pytest.raises(httpx.ConnectError):
                    await http.get(f"http://127.0.0.1:{port}/metrics")
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    # No order yet, so the counters have no samples; their families are declared.
    assert "# TYPE orderclock_transitions_total counter" in own_text
    assert "# TYPE orderclock_deadlines_total counter" in own_text
    assert "temporal_" in sdk_text


def _views(order_id: str) -> list[RecordOrderInput]:
    created = make_view(order_id, notifications=[notification(f"{order_id}:email:1")])
    system = Actor(role=Role.system)
    paid = make_view(
        order_id,
        status="execution",
        version=3,
        history=[
            transition(0, "confirmation", action="create"),
            transition(1, "payment", from_status="confirmation", action="confirm"),
            transition(
                2,
                "execution",
                from_status="payment",
                action="pay",
                actor=Actor(role=Role.customer, id="cus-1"),
            ),
        ],
        notifications=[notification(f"{order_id}:email:1"), notification(f"{order_id}:email:2")],
        payments=[payment(f"{order_id}:charge:1")],
    )
    refunded = paid.model_copy(
        update={
            "status": "cancelled",
            "version": 4,
            "history": [
                *paid.history,
                transition(
                    3,
                    "cancelled",
                    from_status="execution",
                    action="mark_done",
                    actor=system,
                ),
            ],
            "payments": [
                *paid.payments,
                payment(
                    f"{order_id}:refund:1",
                    kind=PaymentKind.refund,
                    outcome=PaymentOutcome.succeeded,
                ),
            ],
        }
    )
    stale = created.model_copy(update={"version": 1})
    return [
        RecordOrderInput(view=v)
        # The same view twice (a retry or a repeat), then an older one after a newer one.
        for v in (created, created, paid, paid, stale, refunded, refunded)
    ]


async def test_counters_count_each_row_once(
    time_env: WorkflowEnvironment, read_model: Engine
) -> None:
    metrics = OrderMetrics()
    task_queue = f"tq-{uuid.uuid4()}"
    order_id = f"met-{uuid.uuid4().hex[:8]}"
    async with Worker(
        time_env.client,
        task_queue=task_queue,
        workflows=[RecordViews],
        activities=[OrderRecordActivities(read_model).record_order],
        interceptors=[OrderMetricsInterceptor(read_model, metrics)],
        workflow_runner=workflow_runner(),
    ):
        await time_env.client.execute_workflow(
            RecordViews.run, _views(order_id), id=f"rec-{order_id}", task_queue=task_queue
        )
    text = generate_latest(metrics.registry).decode()
    flow = "prepaid_service"
    assert value(text, "orderclock_orders_started_total", flow=flow) == 1
    transitions = {
        (dict(labels)["from_status"], dict(labels)["to_status"]): v
        for (name, labels), v in samples(text).items()
        if name == "orderclock_transitions_total"
    }
    assert transitions == {
        ("none", "confirmation"): 1,
        ("confirmation", "payment"): 1,
        ("payment", "execution"): 1,
        ("execution", "cancelled"): 1,
    }
    deadlines = "orderclock_deadlines_total"
    # The provider confirmed and the customer paid: both deadlines met, by people.
    assert value(text, deadlines, flow=flow, deadline="confirmation", outcome="met") == 1
    assert value(text, deadlines, flow=flow, deadline="payment", outcome="met") == 1
    # The system moved the order out of execution: the mark_done deadline fired.
    assert value(text, deadlines, flow=flow, deadline="mark_done", outcome="fired") == 1
    assert value(text, deadlines, flow=flow, deadline="mark_done", outcome="met") == 0
    payments = "orderclock_payment_outcomes_total"
    assert value(text, payments, flow=flow, kind="charge", outcome="succeeded") == 1
    assert value(text, payments, flow=flow, kind="refund", outcome="succeeded") == 1
    emails = "orderclock_email_outcomes_total"
    assert value(text, emails, flow=flow, event="order_created", status="sent") == 2


async def test_run_worker_runs_on_when_its_metrics_ports_are_taken(
    time_env: WorkflowEnvironment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with contextlib.ExitStack() as stack:
        taken = []
        for _ in range(2):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            taken.append(int(sock.getsockname()[1]))
        settings = _worker_settings(
            time_env, tmp_path, worker_metrics_port=taken[0], worker_sdk_metrics_port=taken[1]
        )
        caplog.set_level(logging.INFO)
        running = asyncio.create_task(run_worker(settings))
        try:
            deadline = time.monotonic() + 15
            while "worker polling task queue" not in caplog.text:
                assert not running.done(), running
                assert time.monotonic() < deadline, caplog.text
                await asyncio.sleep(0.05)
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
    assert f"orderclock metrics disabled: cannot serve on 127.0.0.1:{taken[0]}" in caplog.text
    assert f"Temporal SDK metrics disabled: cannot serve on 127.0.0.1:{taken[1]}" in caplog.text
