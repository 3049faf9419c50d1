"""The orderclock worker: every flow's workflow and every activity on one task queue."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.email import EmailActivities
from activities.payments import PaymentActivities
from activities.records import OrderRecordActivities
from config import Settings
from db.engine import make_engine
from workflows.registry import WORKFLOWS
from workflows.sandbox import workflow_runner

log = logging.getLogger("orderclock.worker")


class TemporalUnreachable(RuntimeError):
    """The worker could not connect to Temporal at start."""


def default_activities(settings: Settings) -> list[Callable[..., Any]]:
    """The real activities, built with their clients from the settings."""
    email = EmailActivities.from_settings(settings)
    payments = PaymentActivities.from_settings(settings)
    records = OrderRecordActivities(make_engine(settings.database_url))
    return [
        email.send_email,
        payments.create_customer,
        payments.charge_payment,
        payments.authorise_payment,
        payments.capture_payment,
        payments.cancel_authorisation,
        payments.refund_payment,
        records.record_order,
        records.record_payout,
    ]


def build_worker(
    client: Client,
    settings: Settings,
    *,
    activities: Sequence[Callable[..., Any]] | None = None,
) -> Worker:
    """A worker for every flow on ``settings.task_queue``."""
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=list(WORKFLOWS.values()),
        activities=list(activities if activities is not None else default_activities(settings)),
        workflow_runner=workflow_runner(),
        # Bounded cache: memory stays flat however many orders are open.
        max_cached_workflows=2000,
    )


async def connect(settings: Settings) -> Client:
    """A Temporal client with the pydantic data converter, or a clear error."""
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=pydantic_data_converter,
        )
    except Exception as exc:  # the SDK raises plain RuntimeError for connection failures
        raise TemporalUnreachable(
            f"cannot reach Temporal at {settings.temporal_address} "
            f"(namespace {settings.temporal_namespace}): {exc}"
        ) from exc


async def run_worker(settings: Settings) -> None:
    """Connect and run the worker until cancelled; exit 1 if Temporal is unreachable."""
    try:
        client = await connect(settings)
    except TemporalUnreachable as exc:
        print(f"orderclock worker: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    worker = build_worker(client, settings)
    log.info("worker polling task queue %s at %s", settings.task_queue, settings.temporal_address)
    async with worker:
        await asyncio.Event().wait()
