"""``orderclock dev`` end to end: the real stack as a subprocess on free ports."""

from __future__ import annotations

import asyncio
import contextlib
import json
import mailbox
import os
import signal
import smtplib
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from temporalio.api.enums.v1 import TaskQueueType, WorkflowExecutionStatus
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from devstack.ports import HOST, DevPorts
from devstack.stack import port_problem, run_dev
from models import search
from tests.cli.test_orders_cli import order_body
from tests.fixtures.devstack import (
    DevStack,
    clean_environment,
    dev_command,
    free_dev_ports,
    running_devstack,
)


def get(url: str, **kwargs: object) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=5.0) as client:
        return client.get(url, **kwargs)  # type: ignore[arg-type]


def eventually(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.1)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def assert_all_stopped(stack: DevStack) -> None:
    pids = stack.pids()
    assert set(pids) == {
        "the Temporal dev server",
        "the local Stripe server",
        "the local Salesforce",
        "the SMTP sink",
        "the worker",
        "the API",
    }
    for name, pid in pids.items():
        assert not pid_alive(pid), f"{name} (pid {pid}) still runs"
    for port in (stack.ports.temporal, stack.ports.ui, stack.ports.api, stack.ports.stripe):
        assert port_problem(port) is None, f"port {port} still taken"
    assert port_problem(stack.ports.smtp) is None
    assert port_problem(stack.ports.salesforce) is None


# --- one stack for the session (the devstack fixture) -------------------------------------


async def test_temporal_answers_with_search_attributes_and_a_polling_worker(
    devstack: DevStack,
) -> None:
    client = await Client.connect(devstack.temporal_address)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=devstack.temporal_namespace)
    )
    assert {key.name for key in search.ALL} <= set(listed.custom_attributes)
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=devstack.temporal_namespace,
            task_queue=TaskQueue(name=devstack.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    assert len(described.pollers) > 0


def test_web_ui_answers(devstack: DevStack) -> None:
    assert get(devstack.web_ui_url).status_code == 200


def test_local_stripe_answers_and_its_webhook_reaches_the_api(devstack: DevStack) -> None:
    assert get(f"{devstack.stripe_base_url}/_config/health").status_code == 200
    with httpx.Client(trust_env=False, timeout=5.0) as client:
        created = client.post(
            f"{devstack.stripe_base_url}/v1/customers",
            auth=(devstack.stripe_api_key, ""),
            data={"email": "dev@example.com"},
        )
    assert created.status_code == 200, created.text
    assert created.json()["id"].startswith("cus_")
    api_log = devstack.logs / "api.log"

    def accepted() -> bool:
        # The API's access lines are JSON (telemetry/logs.py); the last line may be half
        # written while it is read.
        webhook = {"method": "POST", "path": "/webhooks/stripe", "status": 200}
        for line in api_log.read_text().splitlines():
            with contextlib.suppress(ValueError):
                if webhook.items() <= json.loads(line).items():
                    return True
        return False

    # customer.created goes to the registered webhook; 200 means the signature verified.
    eventually(accepted, "a signed webhook accepted by the API")


def test_smtp_sink_stores_mail_in_the_maildir(devstack: DevStack) -> None:
    subject = f"devstack test {uuid.uuid4()}"
    message = EmailMessage()
    message["From"] = "orders@orderclock.localhost"
    message["To"] = "customer@example.com"
    message["Subject"] = subject
    message.set_content("hello")
    with smtplib.SMTP(devstack.smtp_host, devstack.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)

    def stored() -> bool:
        return any(m["Subject"] == subject for m in mailbox.Maildir(devstack.maildir))

    eventually(stored, "the message in the Maildir", timeout=10)


def test_api_health_answers(devstack: DevStack) -> None:
    eventually(
        lambda: get(f"{devstack.api_base_url}/healthz").status_code == 200, "GET /healthz 200"
    )
    assert get(f"{devstack.api_base_url}/docs").status_code == 200


# --- stacks of their own -------------------------------------------------------------------


async def _start_probe_workflow(address: str, workflow_id: str) -> None:
    client = await Client.connect(address)
    # No worker polls this queue, so the workflow stays open: proof that state was kept.
    await client.start_workflow(
        "DevStackPersistenceProbe", id=workflow_id, task_queue=f"probe-{uuid.uuid4()}"
    )


async def _probe_status(address: str, workflow_id: str) -> WorkflowExecutionStatus.ValueType:
    client = await Client.connect(address)
    description = await client.get_workflow_handle(workflow_id).describe()
    return WorkflowExecutionStatus.ValueType(int(description.status or 0))


def assert_stopped_cleanly(stack: DevStack) -> None:
    """Every child stopped on the signal, and nothing went wrong while they stopped.

    A child that needs longer than the grace period on a loaded machine is killed with a
    note; that is the supervisor working, so only that note is accepted on stderr.
    """
    assert "all stopped" in stack.stdout()
    for line in stack.stderr().splitlines():
        assert "did not stop within" in line, stack.describe()
    assert_all_stopped(stack)


def test_sigterm_stops_everything_and_a_restart_keeps_the_state_and_rotates_logs(
    tmp_path: Path,
) -> None:
    """Two stacks on one state dir and the same ports (the session's ``devstack`` fixture
    proves Ctrl-C, SIGINT, at the end of every run)."""
    state_dir = tmp_path / "state"
    workflow_id = f"probe-{uuid.uuid4()}"
    with running_devstack(state_dir) as stack:
        ports = stack.ports
        asyncio.run(_start_probe_workflow(stack.temporal_address, workflow_id))
        code = stack.stop(signal.SIGTERM)
        assert code == 0, stack.describe()
    assert_stopped_cleanly(stack)
    assert stack.paths.temporal_db.is_file()

    # Same ports and state dir, as after a developer's restart: the state is kept.
    with running_devstack(state_dir, ports, output_dir=tmp_path / "second") as again:
        status = asyncio.run(_probe_status(again.temporal_address, workflow_id))
        assert status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
        assert again.stop(signal.SIGTERM) == 0, again.describe()
    assert_stopped_cleanly(again)
    # The first run's logs were rotated at the second start, not truncated.
    for name in ("temporal", "worker", "api"):
        assert (again.paths.logs / f"{name}.log.1").stat().st_size > 0, name


def test_crashed_worker_and_api_are_restarted_and_temporal_gone_stops_the_stack(
    tmp_path: Path,
) -> None:
    with running_devstack(tmp_path / "state") as stack:
        first = stack.pids()
        for name in ("the worker", "the API"):
            os.kill(first[name], signal.SIGKILL)
            eventually(lambda n=name: stack.pids()[n] != first[n], f"{name} restarted")
        # The restarted pair serves: an order is created and its live view read (the worker).
        start = datetime.now(UTC) + timedelta(days=3)
        body = order_body(f"restart-{uuid.uuid4().hex[:10]}", "cus-restart", start)
        answers: list[int] = []

        def served() -> bool:
            # Repeating the same body is idempotent: 201 first, 200 if it was already made.
            with contextlib.suppress(httpx.HTTPError):
                answer = httpx.post(
                    f"{stack.api_base_url}/orders",
                    json=body,
                    headers=stack.auth_headers,
                    timeout=30,
                )
                answers.append(answer.status_code)
            return bool(answers) and answers[-1] in (200, 201)

        eventually(served, "the restarted API and worker to create an order", timeout=90)
        os.kill(stack.pids()["the Temporal dev server"], signal.SIGKILL)
        code = stack.wait()
        assert code == 1, stack.describe()
    stderr = stack.stderr()
    for name in ("the worker", "the API"):
        assert f"{name} (pid {first[name]}) was killed by SIGKILL; restarting it in 1 s" in stderr
        assert f"restarted {name} (pid {stack.pids()[name]})" in stack.stdout()
    assert "the Temporal dev server" in stderr and "stopping the rest" in stderr
    assert "Traceback" not in stderr
    # The killed runs' logs are kept beside the new ones.
    assert (stack.paths.logs / "worker.log.1").stat().st_size > 0
    assert (stack.paths.logs / "api.log.1").stat().st_size > 0
    assert_all_stopped(stack)


PORT_FLAGS = [
    ("temporal", "the Temporal gRPC service", "--temporal-port"),
    ("ui", "the Temporal Web UI", "--ui-port"),
    ("api", "the orderclock API", "--api-port"),
    ("stripe", "the local Stripe server", "--stripe-port"),
    ("smtp", "the SMTP sink", "--smtp-port"),
    ("salesforce", "the local Salesforce", "--salesforce-port"),
]


@contextlib.contextmanager
def taken_port() -> Iterator[int]:
    """A loopback port something listens on for the block."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((HOST, 0))
        holder.listen()
        yield int(holder.getsockname()[1])


@pytest.mark.parametrize(("field", "service", "flag"), PORT_FLAGS)
def test_a_taken_port_is_named_with_its_service(
    field: str, service: str, flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # In this process: the command's own code, without a process start per port.
    with taken_port() as taken:
        ports = DevPorts(**(free_dev_ports().__dict__ | {field: taken}))
        assert run_dev(tmp_path / "state", ports) == 1
    out, err = capsys.readouterr()
    assert f"port {taken} for {service} is already in use" in err
    assert flag in err
    assert "started" not in out


def test_orderclock_dev_exits_1_without_a_traceback_when_a_port_is_taken(tmp_path: Path) -> None:
    with taken_port() as taken:
        ports = DevPorts(**(free_dev_ports().__dict__ | {"api": taken}))
        result = subprocess.run(
            dev_command(tmp_path / "state", ports),
            env=clean_environment(),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"port {taken} for the orderclock API is already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert "started" not in result.stdout
