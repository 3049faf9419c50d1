"""A worker process for the benchmarks: orderclock's workflows or the bare baselines.

``python -m bench.worker --kind orderclock|baseline --address HOST:PORT --task-queue Q``

Both kinds use orderclock's sandboxed workflow runner, its workflow cache size and its
data converter (payloads encrypted), and stub activities (``bench.stubs``,
``bench.baseline.BareActivities``). The orderclock kind is built by
``worker.main.build_worker``, as ``orderclock worker`` builds it, less the metrics
interceptor (it reads the order database around ``record_order``, which the stubs do not
write).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path

from temporalio.worker import Worker

from bench.baseline import BareActivities, BareLifecycle, BareTimer
from bench.common import READY_LINE, connect
from bench.stubs import RECORDED_ENV, StubActivities
from cli.support import exit_now
from config.settings import Settings
from worker.main import MAX_CACHED_WORKFLOWS, build_worker
from workflows.sandbox import workflow_runner


async def serve(kind: str, address: str, task_queue: str) -> None:
    client = await connect(address)
    if kind == "orderclock":
        settings = Settings(
            temporal_address=address,
            task_queue=task_queue,
            stripe_api_key="sk_test_bench",
            stripe_webhook_secret="whsec_bench",
        )
        recorded = os.environ.get(RECORDED_ENV)
        stubs = StubActivities(Path(recorded) if recorded else None)
        worker = build_worker(client, settings, activities=stubs.all())
    else:
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[BareLifecycle, BareTimer],
            activities=[BareActivities().step],
            workflow_runner=workflow_runner(),
            max_cached_workflows=MAX_CACHED_WORKFLOWS,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    run = asyncio.create_task(worker.run())
    print(READY_LINE, flush=True)
    await stop.wait()
    try:
        await asyncio.wait_for(worker.shutdown(), timeout=10)
    except TimeoutError:
        run.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", choices=("orderclock", "baseline"), required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.kind, args.address, args.task_queue))
    exit_now(0)


if __name__ == "__main__":
    main()
