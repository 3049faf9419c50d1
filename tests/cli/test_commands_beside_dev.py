"""``bill-cycle run`` and ``reconcile`` in the folder ``orderclock dev`` runs in, as a newcomer
types them: no ORDERCLOCK_* exported, so the payload keys come from the dev state directory."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.cli.test_orders_cli import order_body
from tests.fixtures.devstack import DevStack, clean_environment, orderclock_command


def beside_dev(devstack: DevStack, tmp_path: Path) -> Path:
    """A folder whose .orderclock/ is the stack's state directory, as in a fresh clone."""
    (tmp_path / ".orderclock").symlink_to(devstack.state_dir, target_is_directory=True)
    return tmp_path


def run(folder: Path, devstack: DevStack, *args: str) -> subprocess.CompletedProcess[str]:
    # Only the address (the test's stack is on free ports); keys and database as by default.
    env = clean_environment() | {"ORDERCLOCK_TEMPORAL_ADDRESS": devstack.temporal_address}
    return subprocess.run(
        [*orderclock_command(), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def a_recorded_order(devstack: DevStack) -> str:
    order_id = f"bes-{uuid.uuid4().hex[:10]}"
    body = order_body(order_id, "cus-beside", datetime.now(UTC) + timedelta(days=3))
    created = httpx.post(
        f"{devstack.api_base_url}/orders", json=body, headers=devstack.auth_headers, timeout=30
    )
    assert created.status_code == 201, created.text
    return order_id


def test_bill_cycle_run_reads_its_result_with_the_dev_keys(
    devstack: DevStack, tmp_path: Path
) -> None:
    result = run(
        beside_dev(devstack, tmp_path), devstack, "bill-cycle", "run", "--cycle", "2026-01"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("cycle 2026-01: "), result.stdout
    assert "newly invoiced" in result.stdout


def test_reconcile_reads_every_order_with_the_dev_keys(devstack: DevStack, tmp_path: Path) -> None:
    a_recorded_order(devstack)
    result = run(beside_dev(devstack, tmp_path), devstack, "reconcile", "--dry-run", "--json")
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert report["checked"] >= 1
    unreadable = [d for d in report["drifts"] if d["kind"] == "unreadable"]
    assert unreadable == [], unreadable
    assert "payload" not in result.stderr


def test_without_the_keys_reconcile_says_which_to_set(devstack: DevStack, tmp_path: Path) -> None:
    a_recorded_order(devstack)
    # No .orderclock here: the database named, the keys not to be found.
    env = clean_environment() | {
        "ORDERCLOCK_TEMPORAL_ADDRESS": devstack.temporal_address,
        "ORDERCLOCK_DATABASE_URL": devstack.database_url,
    }
    result = subprocess.run(
        [*orderclock_command(), "reconcile", "--dry-run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 1, result.stderr
    assert "encrypted; no payload key here to read it" in result.stdout
    assert "KeyError" not in result.stdout
    assert "set ORDERCLOCK_PAYLOAD_KEYS to the worker's keys" in result.stderr
    assert ".orderclock/payload-keys" in result.stderr


def test_dev_prints_the_worker_metrics_ports_it_chose(devstack: DevStack) -> None:
    line = next(line for line in devstack.stdout().splitlines() if "Worker metrics" in line)
    urls = re.findall(r"http://[\d.]+:\d+/metrics", line)
    sdk_port = re.search(r", :(\d+)/metrics \(Temporal SDK\)", line)
    assert urls and sdk_port, line
    host = urls[0].split("//")[1].split(":")[0]
    for url in (urls[0], f"http://{host}:{sdk_port.group(1)}/metrics"):
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200, url
        assert "# TYPE" in response.text
