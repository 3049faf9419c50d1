"""Action latency: an HTTP action through the API process against the same Update sent
with a Temporal client directly.

Both paths confirm fresh prepaid orders (the provider's ``confirm``), one action at a
time, alternating between the paths so both see the same load. The HTTP path is the real
``orderclock api`` process with an admin API key (its key lookup on SQLite, the request
validation, its own Temporal client, the view in the answer); the direct path is
``WorkflowHandle.execute_update`` from this process with orderclock's data converter.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

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
    ratio_at_most,
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


async def confirm_both(
    server: Server, api: Api, ids: list[str], gap_ms: float = 0
) -> tuple[list[float], list[float]]:
    """Confirm ids pairwise, the first by HTTP, the second directly; both timings in ms.

    ``gap_ms`` pauses after each action: a confirmation leaves work behind (the read-model
    record, the customer's mail) that otherwise competes with the next pair for the CPU.
    """
    # The body a client sends: no key_name (the API stamps it) and no unset fields.
    body = action("confirm", Role.provider).model_dump(mode="json", exclude_none=True)
    request = action("confirm", Role.provider)
    http_ms: list[float] = []
    direct_ms: list[float] = []
    for k in range(0, len(ids) - 1, 2):
        began = time.perf_counter()
        response = await api.http.post(f"/orders/{ids[k]}/actions/confirm", json=body)
        elapsed = (time.perf_counter() - began) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"HTTP confirm: {response.status_code} {response.text}")
        http_ms.append(elapsed)
        await asyncio.sleep(gap_ms / 1000)
        handle = server.client.get_workflow_handle(f"order-{ids[k + 1]}")
        began = time.perf_counter()
        view = await handle.execute_update("confirm", request, result_type=OrderView)
        direct_ms.append((time.perf_counter() - began) * 1000)
        if view.status != "payment":
            raise RuntimeError(f"direct confirm left {view.status}")
        await asyncio.sleep(gap_ms / 1000)
    return http_ms[WARM_UP:], direct_ms[WARM_UP:]


async def run(n: int, runs: int, sqlite_file: bool = False, gap_ms: float = 0) -> list[Figure]:
    """p50 and p99 of both paths over ``runs`` runs of ``n`` actions each."""
    unit = f"ms, {n} actions per path" + (f", {gap_ms:g} ms apart" if gap_ms else "")
    p50 = Figure("Action latency p50", unit, target="ratio <= 1.2", check=ratio_at_most(1.2))
    p99 = Figure("Action latency p99", unit, target="-")

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
                ids = [f"lat-{prefix}-{k}" for k in range(2 * (n + WARM_UP))]
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
                    http_ms, direct_ms = await confirm_both(server, api, ids, gap_ms)
                used = cpu.per(2 * len(http_ms))
            for figure, p in ((p50, 50), (p99, 99)):
                figure.orderclock.append(percentile(http_ms, p))
                figure.baseline.append(percentile(direct_ms, p))
            say(
                f"HTTP p50 {percentile(http_ms, 50):.1f} ms p99 {percentile(http_ms, 99):.1f} ms; "
                f"direct p50 {percentile(direct_ms, 50):.1f} ms "
                f"p99 {percentile(direct_ms, 99):.1f} ms; per action (both paths): {used}"
            )
            p50.note = f"last run, per action of either path (the API serves half): {used}"

    await repeat(runs, "latency", one_run)
    return [p50, p99]
