"""Lifecycle throughput: prepaid orders from creation to closed, per second.

Each order is started as the API starts it, then confirmed by the provider, paid by the
customer (stub charge) and marked done by the provider, all as Updates; its execution
confirmation window (1 s) then closes it by timer and the payout (0 s) is recorded at
once. The appointment has already started when the order is created, so the Updates
need no waiting and the order's moves do not depend on the machine's speed.

The baseline is a bare workflow (``bench.baseline.BareLifecycle``) driven the same way:
the same number of Updates, each awaited with a timeout timer, one Update that waits on
an activity, one timer that fires for the same 1 s, and as many activities as the first
orderclock order of the run scheduled (counted from its history).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from bench.baseline import BARE_LIFECYCLE, LifecyclePlan
from bench.common import (
    CpuMeter,
    Figure,
    gather_limited,
    profiled,
    ratio_at_least,
    repeat,
    say,
    server_and_worker,
    workdir,
)
from bench.orders import action, lifecycle_policy, start_order
from models.common import Role
from models.orders import OrderView

EXECUTION_CONFIRM = timedelta(seconds=1)
ACTIONS = (("confirm", Role.provider), ("pay", Role.customer), ("mark_done", Role.provider))
WAIT_SECONDS = 3600.0


@dataclass
class Moves:
    """What one workflow's history holds."""

    updates: int
    timers: int
    timers_fired: int
    activities: int
    workflow_tasks: int
    events: int

    def __str__(self) -> str:
        return (
            f"{self.updates} Updates, {self.timers} timers ({self.timers_fired} fired), "
            f"{self.activities} activities, {self.workflow_tasks} workflow tasks, "
            f"{self.events} events"
        )


async def moves_of(handle: WorkflowHandle[object, object]) -> Moves:
    """Count one workflow's Updates, timers, activities and tasks from its history."""
    history = await handle.fetch_history()
    kinds = Counter(event.event_type for event in history.events)
    return Moves(
        updates=kinds[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED],
        timers=kinds[EventType.EVENT_TYPE_TIMER_STARTED],
        timers_fired=kinds[EventType.EVENT_TYPE_TIMER_FIRED],
        activities=kinds[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED],
        workflow_tasks=kinds[EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED],
        events=len(history.events),
    )


def plan_like(moves: Moves) -> LifecyclePlan:
    """A bare lifecycle with orderclock's number of Updates and activities."""
    updates = len(ACTIONS)
    spread = moves.activities - 1  # one waits inside the pay-like Update
    phases = updates + 1
    activities = [spread // phases] * phases
    for i in range(spread % phases):
        activities[-1 - i] += 1
    return LifecyclePlan(
        updates=updates,
        activities=activities,
        update_activity=1,
        wait_seconds=WAIT_SECONDS,
        fire_seconds=EXECUTION_CONFIRM.total_seconds(),
    )


async def orderclock_orders(client: Client, task_queue: str, n: int, concurrency: int) -> float:
    """Drive n orders to closed, ``concurrency`` at a time; orders per second."""
    policy = lifecycle_policy(EXECUTION_CONFIRM)
    prefix = uuid.uuid4().hex[:8]

    async def one(i: int) -> None:
        handle = await start_order(
            client,
            task_queue,
            f"lc-{prefix}-{i}",
            policy=policy,
            appointment=datetime.now(UTC) - timedelta(minutes=1),
        )
        for name, role in ACTIONS:
            await handle.execute_update(name, action(name, role), result_type=OrderView)
        view = await handle.result()
        if view.status != "closed" or view.payout is None or view.payout.paid_at is None:
            raise RuntimeError(f"order {view.order_id} ended as {view.status}")

    started = time.monotonic()
    await gather_limited(n, concurrency, one)
    return n / (time.monotonic() - started)


async def bare_lifecycles(
    client: Client, task_queue: str, n: int, concurrency: int, plan: LifecyclePlan
) -> float:
    """Drive n bare lifecycles the same way; workflows per second."""
    prefix = uuid.uuid4().hex[:8]

    async def one(i: int) -> None:
        handle = await client.start_workflow(
            BARE_LIFECYCLE, plan, id=f"bare-{prefix}-{i}", task_queue=task_queue, result_type=int
        )
        for k in range(plan.updates):
            await handle.execute_update("step", k, result_type=int)
        if await handle.result() != plan.updates:
            raise RuntimeError("the bare lifecycle missed an Update")

    started = time.monotonic()
    await gather_limited(n, concurrency, one)
    return n / (time.monotonic() - started)


async def run(n: int, concurrency: int, runs: int, sqlite_file: bool = False) -> list[Figure]:
    """The lifecycle throughput figure over ``runs`` runs."""
    figure = Figure(
        "Lifecycle throughput",
        f"orders/s, N={n}, {concurrency} in flight",
        target="ratio >= 0.8",
        check=ratio_at_least(0.8),
    )
    found: dict[str, Moves] = {}
    used: dict[str, str] = {}

    async def one_run(i: int) -> None:
        with workdir("bench-lifecycle-") as directory:
            async with server_and_worker(directory, "orderclock", sqlite_file=sqlite_file) as (
                server,
                worker,
            ):
                cpu = CpuMeter(worker=worker, server=server.process)
                with profiled(worker, "lifecycle-orderclock"):
                    rate = await orderclock_orders(server.client, "bench", n, concurrency)
                used["orderclock"] = cpu.per(n)
                handle = await first_of(server.client, "prepaid_service")
                found["orderclock"] = await moves_of(handle)
            figure.orderclock.append(rate)
            say(f"orderclock: {rate:.1f} orders/s; {used['orderclock']}")
            plan = plan_like(found["orderclock"])
            async with server_and_worker(directory, "baseline", sqlite_file=sqlite_file) as (
                server,
                worker,
            ):
                cpu = CpuMeter(worker=worker, server=server.process)
                with profiled(worker, "lifecycle-baseline"):
                    rate = await bare_lifecycles(server.client, "bench", n, concurrency, plan)
                used["baseline"] = cpu.per(n)
                handle = await first_of(server.client, BARE_LIFECYCLE)
                found["baseline"] = await moves_of(handle)
            figure.baseline.append(rate)
            say(f"baseline: {rate:.1f} workflows/s; {used['baseline']}")

    await repeat(runs, "lifecycle", one_run)
    figure.note = (
        f"one order: {found['orderclock']}; one bare workflow: {found['baseline']}; "
        f"last run: orderclock {used['orderclock']}, baseline {used['baseline']}"
    )
    return [figure]


async def first_of(client: Client, workflow_type: str) -> WorkflowHandle[object, object]:
    """Some workflow of this type (they all make the same moves)."""
    async for wf in client.list_workflows(f"WorkflowType = '{workflow_type}'", limit=1):
        return client.get_workflow_handle(wf.id, run_id=wf.run_id)
    raise RuntimeError(f"no {workflow_type} workflow found")
