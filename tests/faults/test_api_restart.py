"""The API process dies between two identical ``POST /orders``: still one order.

A client that lost its answer repeats the request, possibly to another API process. The
API keeps no state of its own: the workflow id (``order-<id>``) and its conflict and
reuse policies are what make the repeat find the first order instead of a second one.
"""

from __future__ import annotations

import asyncio
import signal

from models.ids import order_workflow_id
from tests.faults.prepaid import order_id, prepaid_body
from tests.fixtures.stack import FaultStack, until


async def test_api_killed_between_two_identical_creates_makes_one_order(
    fault_stack: FaultStack,
) -> None:
    stack = fault_stack
    await stack.start_temporal()
    _, api = await asyncio.gather(stack.start_worker(), stack.start_api())
    oid = order_id("api-restart")
    body = prepaid_body(oid)

    async with stack.api() as http:
        first = await http.post("/orders", json=body)
    assert first.status_code == 201, first.text

    api.kill(signal.SIGKILL)
    await stack.start_api()  # a new process on the same port

    async with stack.api() as http:
        again = await http.post("/orders", json=body)
        assert again.status_code == 200, again.text
        other = {**body, "items": [{"name": "Massage", "quantity": 2, "unit_amount": 8500}]}
        conflict = await http.post("/orders", json=other)
    assert conflict.status_code == 409, conflict.text
    assert "already exists with a different body" in conflict.json()["detail"]

    created, repeated = first.json(), again.json()
    assert repeated["order_id"] == oid
    assert repeated["created_at"] == created["created_at"]
    assert [t["action"] for t in repeated["history"]] == ["create"]

    client = await stack.client()

    async def executions() -> list[str]:
        query = f"WorkflowId = '{order_workflow_id(oid)}'"
        return [wf.run_id async for wf in client.list_workflows(query)]

    runs = await until(executions, "the order in Temporal's visibility store")
    assert len(runs) == 1
