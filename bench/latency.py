"""Action latency: an HTTP action through the API process against the same Update sent
with a Temporal client directly.

Every path confirms fresh prepaid orders (the provider's ``confirm``), one action at a
time, taking turns (in a rotating order) so all see the same load. The HTTP path is the
real ``orderclock api`` process with an admin API key (its key lookup on SQLite, the
request validation, the access log and metrics, its own Temporal client, the view in the
answer); the direct path is ``WorkflowHandle.execute_update`` from this process with
orderclock's data converter.

The HTTP path is timed with two clients: aiohttp (the figure the target is checked on)
and httpx. The client is the caller's cost, not orderclock's, and httpx's is large: on
the 2-core machine a ``GET /healthz`` round trip takes 2.4 ms with httpx and 0.9 ms with
aiohttp against the same server. Both figures are printed, so the table shows what a
caller's choice of client adds.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import aiohttp

from bench.common import (
    Api,
    CpuMeter,
    Figure,
    Server,
    api_process,
    gather_limited,
    percentile,
    profiled,
    quiet,
    repeat,
    say,
    server_and_worker,
    workdir,
)
from bench.orders import action, start_order
from flows.prepaid_service.policy import PrepaidPolicy
from models.common import Role
from models.orders import OrderView

WARM_UP = 10


PATHS = ("aiohttp", "httpx", "direct")
"""The paths timed, each confirming its own orders: HTTP with two clients, and the Update."""

TARGET_RATIO = 1.2
TARGET_EXTRA_MS = 5.0


async def confirm_each(
    server: Server, api: Api, ids: list[str], gap_ms: float = 0
) -> dict[str, list[float]]:
    """Confirm ids, a path at a time in a rotating order; each path's timings in ms.

    ``ids`` holds one order per path and round. ``gap_ms`` pauses after each action: a
    confirmation leaves work behind (the read-model record, the customer's mail) that
    otherwise competes with the next action for the CPU.
    """
    # The body a client sends: no key_name (the API stamps it) and no unset fields.
    body = action("confirm", Role.provider).model_dump(mode="json", exclude_none=True)
    request = action("confirm", Role.provider)
    base = str(api.http.base_url).rstrip("/")
    headers = {"Authorization": api.http.headers["authorization"]}
    timings: dict[str, list[float]] = {path: [] for path in PATHS}
    async with aiohttp.ClientSession(base, headers=headers) as session:

        async def by_aiohttp(order_id: str) -> None:
            async with session.post(f"/orders/{order_id}/actions/confirm", json=body) as answer:
                text = await answer.read()
            if answer.status != 200:
                raise RuntimeError(f"HTTP confirm (aiohttp): {answer.status} {text!r}")

        async def by_httpx(order_id: str) -> None:
            answer = await api.http.post(f"/orders/{order_id}/actions/confirm", json=body)
            if answer.status_code != 200:
                raise RuntimeError(f"HTTP confirm (httpx): {answer.status_code} {answer.text}")

        async def directly(order_id: str) -> None:
            handle = server.client.get_workflow_handle(f"order-{order_id}")
            view = await handle.execute_update("confirm", request, result_type=OrderView)
            if view.status != "payment":
                raise RuntimeError(f"direct confirm left {view.status}")

        calls: dict[str, Callable[[str], Awaitable[None]]] = {
            "aiohttp": by_aiohttp,
            "httpx": by_httpx,
            "direct": directly,
        }
        for round_, k in enumerate(range(0, len(ids) - len(PATHS) + 1, len(PATHS))):
            turn = round_ % len(PATHS)
            for offset, path in enumerate(PATHS[turn:] + PATHS[:turn]):
                began = time.perf_counter()
                await calls[path](ids[k + offset])
                timings[path].append((time.perf_counter() - began) * 1000)
                await asyncio.sleep(gap_ms / 1000)
    return {path: values[WARM_UP:] for path, values in timings.items()}


def within_target(figure: Figure) -> bool:
    """p50 within 1.2x and 5 ms of the direct Update's (the medians over the runs)."""
    extra = statistics.median(figure.orderclock) - statistics.median(figure.baseline)
    return figure.ratio <= TARGET_RATIO and extra <= TARGET_EXTRA_MS


async def run(n: int, runs: int, sqlite_file: bool = False, gap_ms: float = 0) -> list[Figure]:
    """p50 and p99 of each HTTP client against the direct Update, ``runs`` runs of ``n``."""
    unit = f"ms, {n} actions per path" + (f", {gap_ms:g} ms apart" if gap_ms else "")
    target = f"ratio <= {TARGET_RATIO:g} and +{TARGET_EXTRA_MS:g} ms"
    figures = {
        ("aiohttp", 50): Figure(
            "Action latency p50, HTTP (aiohttp)", unit, target=target, check=within_target
        ),
        ("aiohttp", 99): Figure("Action latency p99, HTTP (aiohttp)", unit, target="-"),
        ("httpx", 50): Figure(
            "Action latency p50, HTTP (httpx)", unit, target=target, check=within_target
        ),
        ("httpx", 99): Figure("Action latency p99, HTTP (httpx)", unit, target="-"),
    }

    async def one_run(i: int) -> None:
        with workdir("bench-latency-") as directory:
            database_url = f"sqlite:///{directory / 'orders.db'}"
            async with (
                server_and_worker(directory, "orderclock", sqlite_file=sqlite_file) as (
                    server,
                    worker,
                ),
                api_process(server.address, directory, "bench", database_url) as api,
            ):
                prefix = uuid.uuid4().hex[:8]
                ids = [f"lat-{prefix}-{k}" for k in range(len(PATHS) * (n + WARM_UP))]
                appointment = datetime.now(UTC) + timedelta(days=3)

                async def start(k: int) -> None:
                    await start_order(
                        server.client,
                        "bench",
                        ids[k],
                        policy=PrepaidPolicy(),
                        appointment=appointment,
                    )

                await gather_limited(len(ids), 20, start)
                # The orders' first mail and records run before the timing starts.
                await quiet(worker, server.process)
                cpu = CpuMeter(api=api.process, worker=worker, server=server.process)
                with profiled(api.process, "latency-api"), profiled(worker, "latency-worker"):
                    timings = await confirm_each(server, api, ids, gap_ms)
                used = cpu.per(sum(len(values) for values in timings.values()))
            for (client, p), figure in figures.items():
                figure.orderclock.append(percentile(timings[client], p))
                figure.baseline.append(percentile(timings["direct"], p))
            say(
                "; ".join(
                    f"{path} p50 {percentile(ms, 50):.1f} ms p99 {percentile(ms, 99):.1f} ms"
                    for path, ms in timings.items()
                )
                + f"; per action (every path): {used}"
            )
            figures[
                "aiohttp", 50
            ].note = f"last run, per action of any path (the API serves two in three): {used}"

    await repeat(runs, "latency", one_run)
    return list(figures.values())
