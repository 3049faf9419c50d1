"""A harness that runs prepaid orders on the time-skipping server with fake activities."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from models.ids import order_workflow_id
from models.orders import (
    ActionRequest,
    Actor,
    Appointment,
    CreateOrderRequest,
    LineItem,
    OrderView,
    Party,
    Role,
    StartOrderInput,
)
from models.policy import PrepaidPolicy
from tests.fakes import FakeActivities
from tests.fixtures.temporal import running_worker
from workflows.prepaid_service import PrepaidServiceWorkflow
from workflows.sandbox import workflow_runner

CUSTOMER = Party(id="cus-1", name="Cleo Customer", email="cleo@example.com")
PROVIDER = Party(id="pro-1", name="Piet Provider", email="piet@example.com")
PAYLOADS: dict[str, dict[str, Any]] = {
    "confirm": {},
    "edit": {"duration_minutes": 90, "comment": "longer session"},
    "cancel": {"reason": "changed plans"},
    "pay": {"payment_method": "pm_card_visa"},
    "mark_done": {},
    "confirm_execution": {},
    "open_claim": {"reason": "did not show up"},
    "resolve_claim": {"outcome": "no_refund"},
    "review": {"rating": 5, "text": "great"},
}


class Rejected(Exception):
    """An Update the workflow refused, with its error type and message."""

    def __init__(self, kind: str | None, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


class Harness:
    """Start orders, act on them as a role, read their view, move the clock."""

    def __init__(self, env: WorkflowEnvironment, task_queue: str, fakes: FakeActivities) -> None:
        self.env = env
        self.task_queue = task_queue
        self.fakes = fakes

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def start(
        self,
        *,
        starts_in: timedelta = timedelta(days=3),
        start: datetime | None = None,
        zone: str = "Europe/Berlin",
        policy: PrepaidPolicy | None = None,
        amount: int = 12000,
        currency: str = "EUR",
        duration_minutes: int = 60,
    ) -> WorkflowHandle[Any, OrderView]:
        order_id = f"o-{uuid.uuid4().hex[:12]}"
        request = CreateOrderRequest(
            order_id=order_id,
            flow="prepaid_service",
            customer=CUSTOMER,
            provider=PROVIDER,
            items=[LineItem(name="Massage", quantity=1, unit_amount=amount)],
            currency=currency,
            appointment=Appointment(
                start=start or (await self.now()) + starts_in,
                duration_minutes=duration_minutes,
                time_zone=zone,
            ),
        )
        handle = await self.env.client.start_workflow(
            PrepaidServiceWorkflow.run,
            StartOrderInput(
                order_id=order_id,
                request=request,
                request_fingerprint="fp",
                policy=(policy or PrepaidPolicy()).model_dump(mode="json"),
                created_by=Actor(role=Role.system, id="test"),
            ),
            id=order_workflow_id(order_id),
            task_queue=self.task_queue,
        )
        return handle

    async def act(
        self,
        handle: WorkflowHandle[Any, OrderView],
        action: str,
        role: Role,
        payload: dict[str, Any] | None = None,
        actor_id: str | None = None,
    ) -> OrderView:
        if actor_id is None:
            actor_id = {Role.customer: CUSTOMER.id, Role.provider: PROVIDER.id}.get(role)
        request = ActionRequest(
            actor=Actor(role=role, id=actor_id),
            payload=PAYLOADS[action] if payload is None else payload,
        )
        try:
            return await handle.execute_update(action, request, result_type=OrderView)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError):
                raise Rejected(cause.type, cause.message) from exc
            raise

    async def view(self, handle: WorkflowHandle[Any, OrderView]) -> OrderView:
        return await handle.query(PrepaidServiceWorkflow.view)

    async def mail(self, order_id: str, event: str, seconds: float = 10.0) -> list[Any]:
        """The emails of an event, once the order's mail outbox has sent them."""
        deadline = asyncio.get_running_loop().time() + seconds
        while not (sent := self.fakes.emails_for(order_id, event)):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {event} email for {order_id}")
            await asyncio.sleep(0.05)
        return sent

    async def sleep(self, delta: timedelta) -> None:
        await self.env.sleep(delta)

    async def to_payment(self, handle: WorkflowHandle[Any, OrderView]) -> OrderView:
        return await self.act(handle, "confirm", Role.provider)

    async def to_execution(self, handle: WorkflowHandle[Any, OrderView]) -> OrderView:
        await self.to_payment(handle)
        return await self.act(handle, "pay", Role.customer)


@pytest.fixture
async def harness(own_time_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[Harness]:
    fakes = FakeActivities()
    async with running_worker(
        own_time_env.client,
        task_queue=task_queue,
        workflows=[PrepaidServiceWorkflow],
        activities=fakes.all(),
        workflow_runner=workflow_runner(),
    ):
        yield Harness(own_time_env, task_queue, fakes)
