"""The orderclock worker: every flow's workflow and every activity on one task queue."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import Interceptor, Worker

import config.temporal
from activities.billing import BillingActivities
from activities.effects import with_effects
from activities.email import EmailActivities
from activities.payments import PaymentActivities
from activities.records import OrderRecordActivities
from activities.salesforce import SalesforceActivities
from config import Settings
from db.engine import make_engine
from telemetry.orders import OrderMetrics, OrderMetricsInterceptor
from telemetry.worker import prometheus_runtime_or_none, serve_metrics_or_none
from workflows.bill_cycle import BillCycleWorkflow
from workflows.registry import WORKFLOWS
from workflows.sandbox import workflow_runner

log = logging.getLogger("orderclock.worker")

# Bounded workflow cache: memory stays flat however many orders are open (an order that
# is not cached is replayed from its history when it next has work).
MAX_CACHED_WORKFLOWS = 2000


class TemporalUnreachable(RuntimeError):
    """The worker could not connect to Temporal at start."""


def default_activities(settings: Settings) -> list[Callable[..., Any]]:
    """The real activities, built with their clients from the settings."""
    email = EmailActivities.from_settings(settings)
    payments = PaymentActivities.from_settings(settings)
    engine = make_engine(settings.database_url)
    records = OrderRecordActivities(engine)
    billing = BillingActivities(engine)
    salesforce = SalesforceActivities.from_settings(settings)
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
        billing.invoice_cycle_page,
        salesforce.sync_order,
    ]


def build_worker(
    client: Client,
    settings: Settings,
    *,
    activities: Sequence[Callable[..., Any]] | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Worker:
    """A worker for every flow on ``settings.task_queue``.

    ``apply_effects`` (a transition's emails and read-model write in one activity) is
    built from the ``send_email`` and ``record_order`` among ``activities``.
    """
    return Worker(
        client,
        task_queue=settings.task_queue,
        # Every order flow, and the account orders' bill-cycle run (not an order flow).
        workflows=[*WORKFLOWS.values(), BillCycleWorkflow],
        activities=with_effects(
            activities if activities is not None else default_activities(settings)
        ),
        workflow_runner=workflow_runner(),
        interceptors=list(interceptors),
        max_cached_workflows=MAX_CACHED_WORKFLOWS,
    )


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A Temporal client with the pydantic data converter, or a clear error."""
    try:
        return await config.temporal.connect(settings, runtime=runtime)
    except Exception as exc:  # the SDK raises plain RuntimeError for connection failures
        raise TemporalUnreachable(
            f"cannot reach Temporal at {settings.temporal_address} "
            f"(namespace {settings.temporal_namespace}): {exc}"
        ) from exc


async def run_worker(settings: Settings) -> None:
    """Connect and run the worker until cancelled; exit 1 if Temporal is unreachable.

    Serves orderclock's counters at ``worker_metrics_host:worker_metrics_port`` and the
    Temporal SDK's runtime metrics at ``worker_metrics_host:worker_sdk_metrics_port``
    (both Prometheus, ``/metrics``), as the settings say.
    """
    host = settings.worker_metrics_host
    metrics_port, sdk_metrics_port = settings.worker_metrics_port, settings.worker_sdk_metrics_port
    try:
        client = await connect(settings, prometheus_runtime_or_none(host, sdk_metrics_port))
    except TemporalUnreachable as exc:
        print(f"orderclock worker: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    order_metrics = OrderMetrics()
    server = serve_metrics_or_none(order_metrics.registry, host, metrics_port)
    metrics_engine = make_engine(settings.database_url)
    worker = build_worker(
        client, settings, interceptors=[OrderMetricsInterceptor(metrics_engine, order_metrics)]
    )
    log.info(
        "worker polling task queue %s at %s; metrics on %s:%d (orderclock), :%d (SDK)",
        settings.task_queue,
        settings.temporal_address,
        host,
        metrics_port,
        sdk_metrics_port,
    )
    try:
        async with worker:
            await asyncio.Event().wait()
    finally:
        if server is not None:
            server.close()
        metrics_engine.dispose()
