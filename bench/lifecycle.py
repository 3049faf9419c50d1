"""Lifecycle throughput: prepaid orders from creation to closed, per second.

Each order is started as the API starts it, then confirmed by the provider, paid by the
customer (stub charge) and marked done by the provider, all as Updates; its execution
confirmation window (1 s) then closes it by timer and the payout (0 s) is recorded at
once.

The orders are driven in two phases around their shared appointment: every order is
started, confirmed and paid before it (the confirmation and payment windows end at the
appointment's start: an order whose appointment has started when it is created is
cancelled by its deadline at once), then, once it has started, each is marked done and
runs to closed. The wait between the phases is not counted: the figure is the orders
over the time spent in the two phases. The appointment is set far enough ahead
(:func:`appointment_lead`) for a slow machine to finish the first phase; a run where the
first phase overran it says so and stops.

The baseline is a bare workflow (``bench.baseline.BareLifecycle``) driven the same way:
the same number of Updates, each awaited with a timeout timer, one Update that waits on
an activity, one timer that fires for the same 1 s, and as many activities as the first
orderclock order of the run scheduled (counted from its history).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

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
BEFORE_START = 2
"""How many of ``ACTIONS`` come before the appointment starts (confirm, pay)."""


def appointment_lead(n: int) -> timedelta:
    """How far ahead of the first phase the appointment is: 0.25 s per order, 60 s at least."""
    return timedelta(seconds=max(60.0, 0.25 * n))


async def in_two_phases(
    n: int,
    concurrency: int,
    first: Callable[[int], Awaitable[None]],
    second: Callable[[int], Awaitable[None]],
    between: datetime | None = None,
) -> float:
    """``first`` then ``second`` for every i, waiting until ``between`` in between (not
    counted); per second over the two phases."""
    began = time.monotonic()
    await gather_limited(n, concurrency, first)
    busy = time.monotonic() - began
    if between is not None:
        left = (between - datetime.now(UTC)).total_seconds()
        if left <= 0:
            raise RuntimeError(
                f"the first phase took {busy:.0f} s, past the appointment: "
                "appointment_lead is too short for this machine"
            )
        await asyncio.sleep(left)
    began = time.monotonic()
    await gather_limited(n, concurrency, second)
    return n / (busy + time.monotonic() - began)


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
    appointment = datetime.now(UTC) + appointment_lead(n)
    handles: dict[int, WorkflowHandle[Any, OrderView]] = {}

    async def before(i: int) -> None:
        handle = await start_order(
            client, task_queue, f"lc-{prefix}-{i}", policy=policy, appointment=appointment
        )
        handles[i] = handle
        for name, role in ACTIONS[:BEFORE_START]:
            await handle.execute_update(name, action(name, role), result_type=OrderView)

    async def after(i: int) -> None:
        handle = handles[i]
        for name, role in ACTIONS[BEFORE_START:]:
            await handle.execute_update(name, action(name, role), result_type=OrderView)
        view = await handle.result()
        if view.status != "closed" or view.payout is None or view.payout.paid_at is None:
            raise RuntimeError(f"order {view.order_id} ended as {view.status}")

    # A second past the start: the workflow's clock may trail this one a little.
    return await in_two_phases(
        n, concurrency, before, after, between=appointment + timedelta(seconds=1)
    )


async def bare_lifecycles(
    client: Client, task_queue: str, n: int, concurrency: int, plan: LifecyclePlan
) -> float:
    """Drive n bare lifecycles the same way; workflows per second."""
    prefix = uuid.uuid4().hex[:8]
    handles: dict[int, WorkflowHandle[Any, int]] = {}

    async def before(i: int) -> None:
        handle = await client.start_workflow(
            BARE_LIFECYCLE, plan, id=f"bare-{prefix}-{i}", task_queue=task_queue, result_type=int
        )
        handles[i] = handle
        for k in range(BEFORE_START):
            await handle.execute_update("step", k, result_type=int)

    async def after(i: int) -> None:
        handle = handles[i]
        for k in range(BEFORE_START, plan.updates):
            await handle.execute_update("step", k, result_type=int)
        if await handle.result() != plan.updates:
            raise RuntimeError("the bare lifecycle missed an Update")

    # The same two phases; a bare workflow has no appointment to wait for.
    return await in_two_phases(n, concurrency, before, after)


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
