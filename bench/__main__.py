"""``python -m bench [all|lifecycle|latency|storm|poller|scale] [--quick] [--runs 3] [sizes]``.

Prints progress on stderr and the table of figures (Markdown) on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import subprocess
import sys

from bench.common import Figure, compile_project, table
from cli.support import exit_now
from devstack.stack import find_temporal

FULL = {"lifecycle_n": 1000, "latency_n": 300, "storm_n": 10_000, "scale_n": 50_000, "rows": 50_000}
QUICK = {"lifecycle_n": 100, "latency_n": 50, "storm_n": 300, "scale_n": 500, "rows": 2_000}


def machine() -> str:
    """nproc, memory, CPU model and versions, for the figures' context."""
    import os

    import temporalio

    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as info:
        mem_kib = int(info.readline().split()[1])
    temporal = subprocess.run(
        [find_temporal(), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {mem_kib / 1024 / 1024:.1f} GiB RAM, "
        f"Python {platform.python_version()}, {temporal}, temporalio {temporalio.__version__}"
    )


async def main(args: argparse.Namespace) -> list[Figure]:
    sizes = dict(QUICK if args.quick else FULL)
    for name in sizes:
        value = getattr(args, name)
        if value is not None:
            sizes[name] = value
    every = ["lifecycle", "latency", "storm", "poller", "scale"]
    chosen = every if args.which == "all" else [args.which]
    figures: list[Figure] = []
    for which in chosen:
        if which == "lifecycle":
            from bench import lifecycle

            figures += await lifecycle.run(
                sizes["lifecycle_n"], args.concurrency, args.runs, args.sqlite_file
            )
        elif which == "latency":
            from bench import latency

            figures += await latency.run(
                sizes["latency_n"], args.runs, args.sqlite_file, gap_ms=args.latency_gap_ms
            )
        elif which == "storm":
            from bench import storm

            figures += await storm.run(
                sizes["storm_n"], args.runs, args.start_rate, args.sqlite_file
            )
        elif which == "poller":
            from bench import poller

            figures += await poller.run(
                sizes["storm_n"],
                args.runs,
                args.poll_seconds,
                args.poller_database,
                args.postgres_url,
            )
        elif which == "scale":
            from bench import scale

            figures += await scale.run(
                sizes["scale_n"], sizes["rows"], args.runs, args.postgres_url, args.sqlite_file
            )
        print(table(figures), file=sys.stderr, flush=True)
    return figures


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "which",
        nargs="?",
        default="all",
        choices=("all", "lifecycle", "latency", "storm", "poller", "scale"),
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, to validate")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lifecycle-n", type=int, help="orders driven to closed (1000)")
    parser.add_argument("--concurrency", type=int, default=100, help="orders in flight (100)")
    parser.add_argument("--latency-n", type=int, help="actions timed per path and run (300)")
    parser.add_argument(
        "--latency-gap-ms",
        type=float,
        default=0,
        help="pause after each action, so the work they leave behind (records, "
        "mail) is done before the next is timed (0: back to back)",
    )
    parser.add_argument("--storm-n", type=int, help="orders whose deadline fires at once (10000)")
    parser.add_argument(
        "--start-rate",
        type=float,
        default=20.0,
        help="starts per second in the storm, paced so the worker keeps up (20)",
    )
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=1.0,
        help="the poller's interval between scans of the orders table (1; sizes: --storm-n)",
    )
    parser.add_argument(
        "--poller-database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the poller's order database: a SQLite file, or --postgres-url's server",
    )
    parser.add_argument("--scale-n", type=int, help="open orders for the worker's RSS (50000)")
    parser.add_argument("--rows", type=int, help="read-model rows for GET /orders (50000)")
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="maintenance database; a database of its own is created and dropped",
    )
    parser.add_argument(
        "--sqlite-file",
        action="store_true",
        help="the dev server on a SQLite file (like orderclock dev) instead of in memory",
    )
    return parser.parse_args(argv)


def cli() -> None:
    args = parse(sys.argv[1:])
    print(f"machine: {machine()}", file=sys.stderr, flush=True)
    compile_project()
    figures = asyncio.run(main(args))
    print(f"machine: {machine()}\n")
    print(table(figures), flush=True)
    exit_now(0)


if __name__ == "__main__":
    cli()
