"""Helpers of the API tests: settings, keys, an in-process client, bodies, Stripe events.

The fixtures that use them are in tests/api/conftest.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities.records import OrderRecordActivities
from api.app import create_app
from api.gateway import Timeouts
from config.settings import Settings
from db.engine import session_scope
from db.keys import create_key
from models.ids import order_workflow_id
from tests.support.fakes import FakeActivities
from tests.support.prepaid_service import prepaid_body
from tests.support.samples import FLOW_SAMPLES

T = TypeVar("T")

WEBHOOK_SECRET = "whsec_api_tests"
BASE_URL = "http://orderclock.test"


def make_settings(task_queue: str, **overrides: Any) -> Settings:
    """Settings for a test: its own task queue and dummy secrets."""
    values: dict[str, Any] = {
        "task_queue": task_queue,
        "stripe_api_key": SecretStr("sk_test_api_tests"),
        "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
        "database_url": "sqlite://",
    }
    values.update(overrides)
    return Settings(**values)


# Sent when a test's database has no key table: the lookup then fails as the database does.
UNPROVISIONED_KEY = "ock_unprovisioned"


def make_key(
    engine: Engine, role: str, name: str | None = None, tenant: str | None = None
) -> tuple[str, str]:
    """A new key in ``engine``'s database (of ``tenant``, if given): (name, plaintext key)."""
    name = name or f"{role}-{uuid.uuid4().hex[:10]}"
    with session_scope(engine) as session:
        key = create_key(session, name, role, tenant)
    return name, key


def admin_key(engine: Engine) -> str:
    """A new admin key in ``engine``'s database (a fresh one each time: databases are emptied)."""
    try:
        _, key = make_key(engine, "admin", f"admin-{uuid.uuid4().hex[:10]}")
    except SQLAlchemyError:
        return UNPROVISIONED_KEY  # a test of a database that is missing or unmigrated
    return key


def bearer(key: str) -> dict[str, str]:
    """The header that sends ``key``."""
    return {"Authorization": f"Bearer {key}"}


def api_client(
    settings: Settings,
    client: Client,
    engine: Engine,
    *,
    timeouts: Timeouts | None = None,
    api_key: str | None = "admin",
) -> httpx.AsyncClient:
    """An HTTP client talking to a fresh app in-process (no port, no lifespan).

    It sends an admin key of ``engine``'s database by default; ``api_key=None`` sends
    none, any other value is sent as the key.
    """
    app = create_app(settings, temporal_client=client, engine=engine, timeouts=timeouts)
    key = admin_key(engine) if api_key == "admin" else api_key
    headers = bearer(key) if key is not None else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL, headers=headers
    )


class ApiActivities:
    """The test's activities: fakes of every side effect, the real read-model writer."""

    def __init__(self, fakes: FakeActivities, records: OrderRecordActivities) -> None:
        self.fakes = fakes
        self.records = records

    def all(self) -> list[Any]:
        """Every activity, for the worker (every flow's own fakes included)."""
        fakes = [fn for fn in self.fakes.all() if fn != self.fakes.record_order]
        extra = [
            fn for sample in FLOW_SAMPLES.values() for fn in sample.extra_activities(self.fakes)
        ]
        return [*fakes, *extra, self.records.record_order]


async def order_body(env: WorkflowEnvironment, **changes: Any) -> dict[str, Any]:
    """A valid ``POST /orders`` body of the prepaid sample with fresh ids, its appointment
    three days ahead of the server's now, ``changes`` replaced."""
    suffix = uuid.uuid4().hex[:10]
    start = await env.get_current_time() + timedelta(days=3)
    body = prepaid_body(
        f"api-{suffix}", start, customer_id=f"cus-{suffix}", provider_id=f"pro-{suffix}"
    )
    body.update(changes)
    return body


def actor(body: dict[str, Any], role: str) -> dict[str, Any]:
    """The order's customer or provider (or support) as an action's actor."""
    if role == "support":
        return {"role": "support", "id": "agent-1"}
    return {"role": role, "id": body[role]["id"]}


def stripe_signature(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send for ``payload``."""
    timestamp = int(time.time()) if at is None else at
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def stripe_event(event_type: str, obj: dict[str, Any]) -> bytes:
    """A Stripe event body as Stripe serialises it."""
    event = {
        "id": f"evt_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "type": event_type,
        "data": {"object": obj},
    }
    return json.dumps(event).encode()


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    within: float = 10.0,
    what: str | None = None,
) -> T:
    """Poll ``probe`` until ``done`` holds for its result (asynchronous effects settle).

    Fails when it does not within ``within`` seconds, naming ``what`` was awaited (the
    probe's name by default) and the last value the probe returned.
    """
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            awaited = what or getattr(probe, "__name__", repr(probe))
            raise AssertionError(
                f"not within {within:.0f} s: {awaited}; the last value was {value!r}"
            )
        await asyncio.sleep(0.05)


async def workflow_status(client: Client, order_id: str) -> WorkflowExecutionStatus:
    """The status of an order's workflow, read without decoding its search attributes.

    ``WorkflowHandle.describe()`` fails on the time-skipping server once a Datetime search
    attribute has been unset (it reports a null value the SDK cannot parse).
    """
    response = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=order_workflow_id(order_id)),
        )
    )
    return WorkflowExecutionStatus(response.workflow_execution_info.status)
