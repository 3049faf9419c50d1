"""Open-order scale: the worker's memory with many open orders, and ``GET /orders`` latency
on a read model of many rows, on SQLite and on PostgreSQL.

Worker RSS: N orders are started and left open (each waits on its 24 h confirmation
deadline); the worker process's resident memory is sampled as their first tasks are
processed. The worker caches at most ``MAX_CACHED_WORKFLOWS`` workflows, so its memory
should stop growing once the cache is full. The baseline is the same number of bare
workflows waiting on one timer each (``bench.baseline.BareTimer``).

List latency: the read model is filled with realistic orders (statuses, histories, mail,
payments, 2000 customers) through ``db.writes.store_order_view``, and the real API process
answers ``GET /orders`` with and without filters, one request at a time. The baseline is
the same requests on the same database while it held only one page (50 orders).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from bench.baseline import BARE_TIMER, TimerInput
from bench.common import (
    Api,
    Figure,
    Process,
    Server,
    api_process,
    gather_limited,
    percentile,
    repeat,
    say,
    server_and_worker,
    value_below,
    workdir,
)
from bench.orders import start_order
from bench.readmodel import fill
from flows.prepaid_service.policy import PrepaidPolicy
from worker.main import MAX_CACHED_WORKFLOWS

START_CONCURRENCY = 50
SAMPLE_SECONDS = 2.0
PAGE = 50
LIST_QUERIES = (
    "/orders",
    "/orders?status=confirmation",
    "/orders?customer_id=cus-17",
    "/orders?flow=prepaid_service&status=closed",
)
UNUSED_TEMPORAL = "127.0.0.1:1"  # the list needs no Temporal; the API connects lazily


# ----- worker memory ------------------------------------------------------------------


async def rss_while(
    worker: Process, server: Server, query: str, n: int, start: Callable[[int], Awaitable[None]]
) -> list[tuple[int, float]]:
    """Start n workflows; (workflows processed, worker RSS MiB) samples until all are."""
    samples: list[tuple[int, float]] = [(0, worker.rss_mib())]
    starting = asyncio.create_task(gather_limited(n, START_CONCURRENCY, start))
    deadline = time.monotonic() + 600 + n / 5
    while True:
        await asyncio.sleep(SAMPLE_SECONDS)
        worker.check_alive()
        if starting.done():
            starting.result()
        done = (await server.client.count_workflows(query)).count
        samples.append((done, worker.rss_mib()))
        if done >= n:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done} of {n} workflows processed their first task")
    await starting
    return samples


def growth_after_cache(samples: list[tuple[int, float]]) -> float:
    """RSS growth (fraction) from the first sample with a full cache to the last."""
    full = [rss for done, rss in samples if done >= MAX_CACHED_WORKFLOWS]
    if len(full) < 2:
        return float("nan")
    return full[-1] / full[0] - 1


def describe(samples: list[tuple[int, float]]) -> str:
    n = samples[-1][0]
    picks = []
    for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
        wanted = n * fraction
        done, rss = min(samples, key=lambda s: abs(s[0] - wanted))
        picks.append(f"{done}: {rss:.0f}")
    return ", ".join(picks)


async def worker_rss(n: int, runs: int, sqlite_file: bool) -> list[Figure]:
    figure = Figure(
        "Worker RSS, open orders",
        f"MiB with N={n} open",
        target=f"flat once {MAX_CACHED_WORKFLOWS} are cached (< 15 % growth)",
    )
    notes: list[str] = []
    growths: list[float] = []

    async def one_run(i: int) -> None:
        prefix = uuid.uuid4().hex[:8]
        with workdir("bench-rss-") as directory:
            async with server_and_worker(directory, "orderclock", sqlite_file=sqlite_file) as (
                server,
                worker,
            ):
                appointment = datetime.now(UTC) + timedelta(days=3)

                async def order(k: int) -> None:
                    await start_order(
                        server.client,
                        "bench",
                        f"open-{prefix}-{k}",
                        policy=PrepaidPolicy(),
                        appointment=appointment,
                        customer=k % 2000,
                    )

                # The first task of an order sets its deadline attribute.
                query = "WorkflowType = 'prepaid_service' AND OrderDeadline IS NOT NULL"
                samples = await rss_while(worker, server, query, n, order)
            figure.orderclock.append(samples[-1][1])
            growths.append(growth_after_cache(samples))
            notes.append(f"run {i + 1} orderclock (processed: MiB) {describe(samples)}")
            say(f"orderclock worker RSS: {describe(samples)}")
            async with server_and_worker(directory, "baseline", sqlite_file=sqlite_file) as (
                server,
                worker,
            ):
                far = time.time() + 86_400

                async def timer(k: int) -> None:
                    await server.client.start_workflow(
                        BARE_TIMER,
                        TimerInput(due_at=far),
                        id=f"open-{prefix}-{k}",
                        task_queue="bench",
                    )

                query = f"WorkflowType = '{BARE_TIMER}' AND TaskQueue = 'bench'"
                bare = await rss_while(worker, server, query, n, timer)
            figure.baseline.append(bare[-1][1])
            say(f"baseline worker RSS: {describe(bare)}")

    await repeat(runs, "worker RSS", one_run)
    growth = max(growths) if growths else float("nan")
    if growth == growth:  # not NaN: the cache filled
        figure.check = lambda f: growth < 0.15
        notes.append(f"largest growth after the cache filled: {growth * 100:.0f} %")
    else:
        notes.append(f"N below the cache size ({MAX_CACHED_WORKFLOWS}): flatness not shown")
    figure.note = "; ".join(notes)
    return [figure]


# ----- list latency -------------------------------------------------------------------


async def list_latency(api: Api, samples: int) -> list[float]:
    """Milliseconds of ``samples`` list requests, the query forms in turn (after a warm-up)."""
    timings: list[float] = []
    for k in range(samples + len(LIST_QUERIES)):
        began = time.perf_counter()
        response = await api.http.get(LIST_QUERIES[k % len(LIST_QUERIES)])
        elapsed = (time.perf_counter() - began) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"GET /orders: {response.status_code} {response.text}")
        if k >= len(LIST_QUERIES):
            timings.append(elapsed)
    return timings


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A database of its own on the server of ``admin_url``, dropped afterwards."""
    name = f"orderclock_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextlib.asynccontextmanager
async def database(backend: str, directory: Path, admin_url: str) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'orders.db'}"
        return
    with postgres_database(admin_url) as url:
        yield url


async def list_backend(backend: str, rows: int, runs: int, admin_url: str) -> list[Figure]:
    """p50 and p99 of the list on one backend: one page of rows (baseline), then ``rows``."""
    samples = 200
    unit = f"ms, {rows} orders, {samples} requests"
    p50 = Figure(f"GET /orders p50, {backend}", unit, target="-")
    p99 = Figure(f"GET /orders p99, {backend}", unit, target="p99 < 50 ms", check=value_below(50))
    with workdir("bench-list-") as directory:
        async with database(backend, directory, admin_url) as url:
            async with api_process(UNUSED_TEMPORAL, directory, "bench", url) as api:
                await asyncio.to_thread(fill, url, 0, PAGE)
                for _ in range(runs):
                    small = await list_latency(api, samples)
                    p50.baseline.append(percentile(small, 50))
                    p99.baseline.append(percentile(small, 99))
            say(f"{backend}: filling the read model to {rows} orders")
            began = time.monotonic()
            await asyncio.to_thread(fill, url, PAGE, rows)
            say(f"{backend}: filled in {time.monotonic() - began:.0f} s")

            async def one_run(i: int) -> None:
                # A fresh API process per run, as the baseline's was before the fill.
                async with api_process(UNUSED_TEMPORAL, directory, "bench", url) as api:
                    big = await list_latency(api, samples)
                p50.orderclock.append(percentile(big, 50))
                p99.orderclock.append(percentile(big, 99))
                say(
                    f"{backend}: p50 {percentile(big, 50):.1f} ms, p99 {percentile(big, 99):.1f} ms"
                )

            await repeat(runs, f"GET /orders on {backend}", one_run)
    return [p50, p99]


async def run(
    n: int, rows: int, runs: int, admin_url: str, sqlite_file: bool = False
) -> list[Figure]:
    """Worker RSS with n open orders (none when n is 0); list latency with ``rows`` rows."""
    figures = await worker_rss(n, runs, sqlite_file) if n > 0 else []
    for backend in ("sqlite", "postgresql"):
        figures += await list_backend(backend, rows, runs, admin_url)
    return figures
