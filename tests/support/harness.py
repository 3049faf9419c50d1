"""The harness every flow's builds on: start orders of any flow on the time-skipping server
with fake activities, act on them, read their view, move the clock.

Per-flow harnesses are in tests/support/<flow>.py; the fixtures that run them in
tests/workflows/conftest.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from flows.catalog import FLOWS
from models import errors
from models.common import Actor, OrderRequest, Role
from models.ids import order_workflow_id
from models.orders import ActionRequest, OrderView, StartOrderInput
from tests.fixtures.temporal import running_worker
from tests.support.fakes import FakeActivities
from workflows.registry import WORKFLOWS
from workflows.sandbox import workflow_runner


class Rejected(Exception):
    """An Update the workflow refused, with its error type and message."""

    def __init__(self, kind: str | None, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


class FlowHarness:
    """Start orders of any flow, act on them, read their view, move the clock."""

    def __init__(self, env: WorkflowEnvironment, task_queue: str, fakes: FakeActivities) -> None:
        self.env = env
        self.task_queue = task_queue
        self.fakes = fakes

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def start_request(
        self, request: OrderRequest, policy: BaseModel | None = None, **start: Any
    ) -> WorkflowHandle[Any, OrderView]:
        """Start ``request``'s flow under ``policy`` (the flow's defaults when None).

        ``start`` adds fields to the workflow's ``StartOrderInput`` (a flow's own ones);
        what the API pins at acceptance (``OrderRequest.pinned``) is added as it would be.
        """
        order_id = request.order_id or f"o-{uuid.uuid4().hex[:12]}"
        request = request.model_copy(update={"order_id": order_id})
        flow = getattr(request, "flow")  # noqa: B009 - every flow's request has one
        policy = policy or FLOWS[flow].policy()
        return await self.env.client.start_workflow(
            flow,
            StartOrderInput.model_validate(
                {
                    "order_id": order_id,
                    "request": request,
                    "request_fingerprint": "fp",
                    "policy": policy.model_dump(mode="json"),
                    "created_by": Actor(role=Role.system, id="test"),
                    **request.pinned(await self.now()),
                    **start,
                }
            ),
            id=order_workflow_id(order_id),
            task_queue=self.task_queue,
            result_type=OrderView,
        )

    async def act_as(
        self,
        handle: WorkflowHandle[Any, OrderView],
        action: str,
        actor: Actor,
        payload: dict[str, Any] | None = None,
    ) -> OrderView:
        """Take ``action`` as ``actor``; a refusal raises :class:`Rejected`."""
        request = ActionRequest(actor=actor, payload=payload or {})
        try:
            return await handle.execute_update(action, request, result_type=OrderView)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError):
                raise Rejected(cause.type, cause.message) from exc
            raise

    async def view(self, handle: WorkflowHandle[Any, OrderView]) -> OrderView:
        return await handle.query("view", result_type=OrderView)

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


Act = Callable[[WorkflowHandle[Any, OrderView], str, Role], Awaitable[OrderView]]


async def assert_actions_by_role(
    h: FlowHarness,
    build: Callable[[], Awaitable[WorkflowHandle[Any, OrderView]]],
    expected: dict[Role, set[str]],
    actions: Iterable[str],
    act: Act,
) -> None:
    """An order ``build`` makes allows each role exactly ``expected``.

    Every other action of ``actions`` is refused (409 with a reason) without changing the
    order, and every allowed one goes through (each on a fresh order from ``build``).
    """
    order = await build()
    before = await h.view(order)
    assert {role: set(allowed) for role, allowed in before.allowed_actions.items()} == expected
    actions = list(actions)
    for role in expected:
        for action in actions:
            if action in expected[role]:
                continue
            with pytest.raises(Rejected) as rejected:
                await act(order, action, role)
            assert rejected.value.kind == errors.NOT_ALLOWED, (action, role)
            assert rejected.value.message
    after = await h.view(order)
    assert after.version == before.version, "a rejected action changed the order"
    assert after.history == before.history
    for role, allowed in expected.items():
        for action in sorted(allowed):
            view = await act(await build(), action, role)
            assert view.history[-1].action == action
            assert view.history[-1].actor.role == role


@contextlib.asynccontextmanager
async def flow_worker(
    env: WorkflowEnvironment, task_queue: str, activities: Sequence[Any]
) -> AsyncIterator[None]:
    """A worker of every flow's workflow with ``activities`` (fakes) on ``task_queue``."""
    async with running_worker(
        env.client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS.values()),
        activities=list(activities),
        workflow_runner=workflow_runner(),
    ):
        yield
