"""The worker, api and migrate commands: settings problems are messages, not tracebacks."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cli.support import DevPaths
from devstack.ports import DevPorts
from devstack.stack import (
    DEV_STRIPE_API_KEY,
    DEV_WEBHOOK_SECRET,
    TEMPORAL_DYNAMIC_CONFIG,
    DevError,
    check_ports,
    dev_environment,
    temporal_command,
)
from tests.fixtures.devstack import clean_environment, free_ports, orderclock_command


def run_orderclock(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*orderclock_command(), *args],
        env=clean_environment() if env is None else env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("command", [["worker"], ["api", "--port", "1"]])
def test_missing_secrets_are_named(command: list[str], tmp_path: Path) -> None:
    result = run_orderclock(*command, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "missing setting ORDERCLOCK_STRIPE_API_KEY" in result.stderr
    assert "missing setting ORDERCLOCK_STRIPE_WEBHOOK_SECRET" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_setting_is_named(tmp_path: Path) -> None:
    env = clean_environment() | {
        "ORDERCLOCK_STRIPE_API_KEY": "sk_test_x",
        "ORDERCLOCK_STRIPE_WEBHOOK_SECRET": "whsec_x",
        "ORDERCLOCK_SMTP_PORT": "not-a-port",
    }
    result = run_orderclock("worker", env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "invalid setting ORDERCLOCK_SMTP_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_worker_without_temporal_says_so(tmp_path: Path) -> None:
    (closed,) = free_ports(1)
    env = clean_environment() | {
        "ORDERCLOCK_STRIPE_API_KEY": "sk_test_x",
        "ORDERCLOCK_STRIPE_WEBHOOK_SECRET": "whsec_x",
        "ORDERCLOCK_TEMPORAL_ADDRESS": f"127.0.0.1:{closed}",
        "ORDERCLOCK_DATABASE_URL": f"sqlite:///{tmp_path / 'orders.db'}",
    }
    result = run_orderclock("worker", env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert f"cannot reach Temporal at 127.0.0.1:{closed}" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_needs_no_secrets(tmp_path: Path) -> None:
    database = tmp_path / "nested" / "orders.db"
    env = clean_environment() | {"ORDERCLOCK_DATABASE_URL": f"sqlite:///{database}"}
    result = run_orderclock("migrate", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(database) as connection:
        versions = connection.execute("select version_num from alembic_version").fetchall()
    assert len(versions) == 1


def test_python_dash_m_cli_is_the_same_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for command in ("dev", "worker", "api", "migrate"):
        assert command in result.stdout


def test_user_settings_override_dev_defaults(tmp_path: Path) -> None:
    ports = DevPorts(temporal=1001, ui=1002, api=1003, stripe=1004, smtp=1005)
    paths = DevPaths(tmp_path)
    env = dev_environment({"ORDERCLOCK_SMTP_PORT": "2525", "HOME": "/h"}, ports, paths)
    assert env["ORDERCLOCK_SMTP_PORT"] == "2525"
    assert env["HOME"] == "/h"
    assert env["ORDERCLOCK_TEMPORAL_ADDRESS"] == "127.0.0.1:1001"
    assert env["ORDERCLOCK_STRIPE_API_BASE"] == "http://127.0.0.1:1004"
    assert env["ORDERCLOCK_STRIPE_API_KEY"] == DEV_STRIPE_API_KEY
    assert env["ORDERCLOCK_STRIPE_WEBHOOK_SECRET"] == DEV_WEBHOOK_SECRET
    assert env["ORDERCLOCK_DATABASE_URL"] == f"sqlite:///{tmp_path / 'orders.db'}"


def test_temporal_command_binds_loopback_and_persists(tmp_path: Path) -> None:
    ports = DevPorts(temporal=1001, ui=1002, api=1003, stripe=1004, smtp=1005)
    command = temporal_command("temporal", ports, DevPaths(tmp_path), "default")
    joined = " ".join(command)
    assert "--ip 127.0.0.1 --port 1001 --ui-port 1002" in joined
    assert f"--db-filename {tmp_path / 'temporal.db'}" in joined
    assert "--search-attribute OrderStatus=Keyword" in joined
    assert "--search-attribute OrderDeadline=Datetime" in joined
    for value in TEMPORAL_DYNAMIC_CONFIG:
        assert f"--dynamic-config-value {value}" in joined
    other = temporal_command("temporal", ports, DevPaths(tmp_path), "orders")
    assert "--namespace orders" in " ".join(other)


def test_a_port_given_twice_is_refused() -> None:
    with pytest.raises(DevError, match=r"port 1001 is given to both .* and the SMTP sink"):
        check_ports(DevPorts(temporal=1001, ui=1002, api=1003, stripe=1004, smtp=1001))


def test_reconcile_without_temporal_says_so(tmp_path: Path) -> None:
    (closed,) = free_ports(1)
    env = clean_environment() | {
        "ORDERCLOCK_TEMPORAL_ADDRESS": f"127.0.0.1:{closed}",
        "ORDERCLOCK_DATABASE_URL": f"sqlite:///{tmp_path / 'orders.db'}",
    }
    result = run_orderclock("reconcile", "--dry-run", env=env, cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert f"cannot reach Temporal at 127.0.0.1:{closed}" in result.stderr
    assert "Traceback" not in result.stderr
