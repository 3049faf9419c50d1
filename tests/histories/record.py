"""Record event histories of released flows for the replay tests.

Run ``python -m tests.histories.record`` once per released version of a flow and commit
the JSON files: tests/workflows/test_replay.py replays every file against today's code,
so a change that would break running orders fails CI (use ``workflow.patched``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.worker import Worker

from models.orders import OrderView, Role
from tests.fakes import DECLINE, FakeActivities
from tests.fixtures.temporal import start_time_skipping
from tests.workflows.conftest import Harness, Rejected
from workflows.prepaid_service import PrepaidServiceWorkflow
from workflows.sandbox import workflow_runner

HERE = Path(__file__).parent
H = timedelta(hours=1)
Handle = WorkflowHandle[Any, OrderView]
C, P, S = Role.customer, Role.provider, Role.support


async def lifecycle_to_payout(h: Harness) -> Handle:
    order = await h.start(starts_in=timedelta(days=2))
    await h.act(order, "edit", P, {"duration_minutes": 90, "comment": "longer"})
    await h.act(order, "confirm", C)
    with contextlib.suppress(Rejected):
        await h.act(order, "pay", C, {"payment_method": DECLINE})
    await h.act(order, "pay", C)
    later = await h.now() + timedelta(days=2, hours=2)
    await h.act(order, "edit", P, {"start": later.isoformat()})
    await h.act(order, "confirm", C)
    await h.sleep(timedelta(days=2, hours=4))
    await h.act(order, "mark_done", P)
    await h.act(order, "confirm_execution", C)
    await h.act(order, "review", C, {"rating": 5, "text": "great"})
    await h.sleep(timedelta(days=15))
    await order.result()
    return order


async def cancelled_by_deadline(h: Harness) -> Handle:
    order = await h.start(starts_in=timedelta(days=2))
    await h.sleep(25 * H)
    await order.result()
    return order


async def claim_with_partial_refund(h: Harness) -> Handle:
    order = await h.start(starts_in=2 * H)
    await h.to_execution(order)
    await h.sleep(80 * H)  # auto mark-done after 72 h past the end
    await h.act(order, "open_claim", C, {"reason": "half done"})
    await h.act(order, "resolve_claim", S, {"outcome": "partial_refund", "amount": 5000})
    await h.sleep(timedelta(days=15))
    await order.result()
    return order


async def customer_cancels_late(h: Harness) -> Handle:
    order = await h.start(starts_in=30 * H)
    await h.to_execution(order)
    await h.sleep(10 * H)
    await h.act(order, "cancel", C, {"reason": "sick"})
    await order.result()
    return order


SCENARIOS: dict[str, Callable[[Harness], Awaitable[Handle]]] = {
    "lifecycle_to_payout": lifecycle_to_payout,
    "cancelled_by_deadline": cancelled_by_deadline,
    "claim_with_partial_refund": claim_with_partial_refund,
    "customer_cancels_late": customer_cancels_late,
}


async def record(version: str) -> list[Path]:
    written = []
    for name, scenario in SCENARIOS.items():
        async with await start_time_skipping() as env:
            fakes = FakeActivities()
            queue = f"record-{name}"
            async with Worker(
                env.client,
                task_queue=queue,
                workflows=[PrepaidServiceWorkflow],
                activities=fakes.all(),
                workflow_runner=workflow_runner(),
            ):
                handle = await scenario(Harness(env, queue, fakes))
                history = await handle.fetch_history()
        path = HERE / f"prepaid_service.{version}.{name}.json"
        path.write_text(history.to_json())
        written.append(path)
    return written


if __name__ == "__main__":
    for path in asyncio.run(record(sys.argv[1] if len(sys.argv) > 1 else "v1")):
        print(path)
