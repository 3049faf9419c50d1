"""Deadline storm: N orders whose confirmation deadline expires at the same moment.

Every order is started with its confirmation window set (through its pinned
``PrepaidPolicy``) so that it ends at one common moment T, placed after the last start
(starts are paced at ``--start-rate`` per second, so the worker keeps up). The figure is
the time from T until every order is cancelled by its deadline (its ``OrderStatus``
search attribute says ``cancelled``); the time until every workflow has also sent its
mail and recorded itself and closed is in the note. The baseline is N bare workflows
with one timer each (``bench.baseline.BareTimer``) due at T: the time from T until all are closed.

Also per order: the lateness, from T until the order's cancellation reached the read
model (the stub ``record`` notes it, see ``bench.stubs.RecordedLog``; for a bare timer,
until its workflow closed), p50/p99/max; and the CPU of the worker and of the server
per order from T until every workflow closed (all effects done).

With more orders than the worker's workflow cache holds (``MAX_CACHED_WORKFLOWS``), most
orders are replayed from their history when their deadline fires, as in production.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client

from bench.baseline import BARE_TIMER, TimerInput
from bench.common import (
    CpuMeter,
    Figure,
    Process,
    Server,
    gather_limited,
    percentile,
    profiled,
    ratio_at_most,
    repeat,
    say,
    server_and_worker,
    workdir,
)
from bench.orders import start_order
from bench.stubs import RECORDED_ENV, read_recorded
from flows.prepaid_service.policy import PrepaidPolicy

MARGIN_SECONDS = 15.0
START_CONCURRENCY = 50
# Orders started whose first task has not run yet, at most (their deadlines would move).
BACKLOG = 40
ORDERS = "WorkflowType = 'prepaid_service'"


@dataclass
class StormRun:
    """One side of one run: seconds from T, each workflow's lateness, CPU ms per order."""

    done: float
    lateness: list[float]
    cpu_ms: dict[str, float]
    note: str


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def _count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


async def _until(client: Client, query: str, expected: int, seconds: float) -> float:
    """Wall-clock time at which ``query`` first counts ``expected`` workflows."""
    deadline = time.monotonic() + seconds
    while (found := await _count(client, query)) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {found} of {expected} for {query!r} within {seconds} s")
        await asyncio.sleep(0.25)
    return time.time()


async def _wait_for(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.time()))


async def paced(
    n: int,
    rate: float,
    start: Callable[[int], Awaitable[None]],
    processed: Callable[[], Awaitable[int]] | None = None,
) -> float:
    """Call ``start(i)`` for n workflows at ``rate`` per second at most; the seconds it took.

    Paced, so the worker keeps up with the first tasks: an order's window starts when its
    first task runs, and a backlog would move its deadline after T. With ``processed``
    (how many first tasks have run), starts also wait while more than BACKLOG are pending.
    """
    began = time.monotonic()
    done = 0
    finished = asyncio.Event()
    progress = asyncio.Condition()

    async def follow() -> None:
        nonlocal done
        while processed is not None and not finished.is_set():
            count = await processed()
            async with progress:
                done = count
                progress.notify_all()
            await asyncio.sleep(0.5)

    async def one(i: int) -> None:
        await asyncio.sleep(max(0.0, began + i / rate - time.monotonic()))
        if processed is not None:
            async with progress:
                await progress.wait_for(lambda: i - done <= BACKLOG)
        await start(i)

    follower = asyncio.create_task(follow())
    try:
        await gather_limited(n, START_CONCURRENCY, one)
    finally:
        finished.set()
        await follower
    return time.monotonic() - began


async def orderclock_storm(
    server: Server, worker: Process, n: int, start_rate: float, recorded: Path
) -> StormRun:
    """From T until all n are cancelled; lateness to each cancellation recorded; CPU."""
    client = server.client
    due = time.time() + n / start_rate + MARGIN_SECONDS
    prefix = uuid.uuid4().hex[:8]
    appointment = datetime.now(UTC) + timedelta(days=3)

    async def start(i: int) -> None:
        window = timedelta(seconds=due - time.time())
        if window < timedelta(seconds=1):
            raise RuntimeError(
                "the starts fell behind the common deadline (the worker could not keep up): "
                "lower --start-rate"
            )
        policy = PrepaidPolicy(confirm_window=window, same_day_confirm_window=window)
        await start_order(
            client,
            "bench",
            f"st-{prefix}-{i}",
            policy=policy,
            appointment=appointment,
            customer=i % 1000,
        )

    async def processed() -> int:
        # An order's first task sets its deadline attribute.
        return await _count(client, f"{ORDERS} AND OrderDeadline IS NOT NULL")

    took = await paced(n, start_rate, start, processed)
    note = f"{n} starts took {took:.0f} s"
    if time.time() > due - 1:
        note += f"; the last start came {time.time() - due + 1:.0f} s too late"
    # An order whose first task ran late has its deadline that much later than T.
    late = await _count(client, f"{ORDERS} AND OrderDeadline > '{_iso(due + 5)}'")
    if late:
        note += f"; {late} orders' deadlines are more than 5 s after T (worker backlog)"
    say(f"orderclock: {note}; waiting {max(0.0, due - time.time()):.0f} s for the deadline")
    await _wait_for(due)
    timeout = 600 + n / 5
    cpu = CpuMeter(worker=worker, server=server.process)
    with profiled(worker, "storm-orderclock"):
        cancelled = await _until(client, f"{ORDERS} AND OrderStatus = 'cancelled'", n, timeout)
    note += f"; until all cancelled: {cpu.per(n)}"
    closed = await _until(client, f"{ORDERS} AND ExecutionStatus != 'Running'", n, timeout)
    used = cpu.used_ms(n)
    note += f"; all closed (mail sent, recorded) after {closed - due:.1f} s"
    times = read_recorded(recorded)
    if len(times) < n:
        raise RuntimeError(f"only {len(times)} of {n} cancellations were recorded")
    return StormRun(cancelled - due, [t - due for t in times.values()], used, note)


async def bare_storm(server: Server, worker: Process, n: int, start_rate: float) -> StormRun:
    """From T until n bare timers due at T have all fired and closed; lateness; CPU."""
    client = server.client
    due = time.time() + n / start_rate + MARGIN_SECONDS
    prefix = uuid.uuid4().hex[:8]

    async def start(i: int) -> None:
        await client.start_workflow(
            BARE_TIMER, TimerInput(due_at=due), id=f"timer-{prefix}-{i}", task_queue="bench"
        )

    await paced(n, start_rate, start)
    await _wait_for(due)
    query = f"WorkflowType = '{BARE_TIMER}' AND ExecutionStatus != 'Running'"
    cpu = CpuMeter(worker=worker, server=server.process)
    with profiled(worker, "storm-baseline"):
        closed = await _until(client, query, n, 600 + n / 5)
    used, note = cpu.used_ms(n), cpu.per(n)
    lateness = [
        w.close_time.timestamp() - due
        async for w in client.list_workflows(query)
        if w.close_time is not None
    ]
    return StormRun(closed - due, lateness, used, note)


async def run(n: int, runs: int, start_rate: float, sqlite_file: bool = False) -> list[Figure]:
    """The storm figures over ``runs`` runs."""
    figure = Figure(
        "Deadline storm",
        f"s from the deadline until all {n} are cancelled",
        target="ratio <= 2",
        check=ratio_at_most(2.0),
    )
    late = {
        p: Figure(
            "Deadline storm lateness",
            f"{name}, s from the deadline until each of {n} cancellations is recorded "
            "(baseline: each timer's workflow closed)",
        )
        for p, name in ((50.0, "p50"), (99.0, "p99"), (100.0, "max"))
    }
    cpu = {
        side: Figure("Deadline storm CPU", f"{side} ms per order, from the deadline until closed")
        for side in ("worker", "server")
    }
    notes: list[str] = []

    async def one_run(i: int) -> None:
        with workdir("bench-storm-") as directory:
            recorded = directory / "recorded.txt"
            async with server_and_worker(
                directory,
                "orderclock",
                sqlite_file=sqlite_file,
                env={RECORDED_ENV: str(recorded)},
            ) as (server, worker):
                ours = await orderclock_storm(server, worker, n, start_rate, recorded)
            notes.append(f"run {i + 1}: {ours.note}")
            say(f"orderclock: {ours.note}")
            async with server_and_worker(directory, "baseline", sqlite_file=sqlite_file) as (
                server,
                worker,
            ):
                bare = await bare_storm(server, worker, n, start_rate)
            notes.append(f"baseline {bare.note}")
            say(f"baseline: all {n} timers done {bare.done:.1f} s after T; {bare.note}")
        figure.orderclock.append(ours.done)
        figure.baseline.append(bare.done)
        for p, fig in late.items():
            fig.orderclock.append(percentile(ours.lateness, p))
            fig.baseline.append(percentile(bare.lateness, p))
        for side, fig in cpu.items():
            fig.orderclock.append(ours.cpu_ms[side])
            fig.baseline.append(bare.cpu_ms[side])

    await repeat(runs, "storm", one_run)
    figure.note = "; ".join(notes)
    return [figure, *late.values(), *cpu.values()]
