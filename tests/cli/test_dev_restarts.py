"""``orderclock dev``'s supervision, on small child processes instead of the whole stack:
rotated logs, restarts with backoff and a budget, and Temporal's death stopping everything.
(The whole stack's own restart is in tests/cli/test_dev.py.)"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from cli.support import DevPaths
from config.settings import Settings
from devstack.ports import DevPorts
from devstack.stack import LOG_GENERATIONS, Child, ChildDied, RestartPolicy, Supervisor, rotate_log

FAST = RestartPolicy(backoff=0.05, max_backoff=0.2, budget=3, window=60)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def supervisor(tmp_path: Path, policy: RestartPolicy = FAST) -> Supervisor:
    paths = DevPaths(tmp_path)
    paths.logs.mkdir(parents=True, exist_ok=True)
    settings = Settings(stripe_api_key="sk_test_x", stripe_webhook_secret="whsec_x")
    return Supervisor(paths, DevPorts(), settings, restart=policy)


def test_logs_are_rotated_not_truncated_and_bounded(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    for run in range(LOG_GENERATIONS + 3):
        rotate_log(log)
        log.write_text(f"run {run}\n")
    assert log.read_text() == f"run {LOG_GENERATIONS + 2}\n"
    kept = sorted(tmp_path.glob("worker.log.*"))
    assert len(kept) == LOG_GENERATIONS
    assert (tmp_path / "worker.log.1").read_text() == f"run {LOG_GENERATIONS + 1}\n"
    assert (tmp_path / f"worker.log.{LOG_GENERATIONS}").read_text() == "run 2\n"
    rotate_log(tmp_path / "never-written.log")  # nothing to keep: no error, no file
    assert not (tmp_path / "never-written.log.1").exists()


async def test_a_crashing_child_is_restarted_with_backoff_until_its_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sup = supervisor(tmp_path)
    child = Child(
        "the worker", python("print('boom'); raise SystemExit(3)"), sup.paths.logs / "w.log"
    )
    child.start({})
    sup.children.append(child)

    with pytest.raises(ChildDied) as died:
        await asyncio.wait_for(sup._watch(), 30)

    assert died.value.child is child
    assert "restarted 3 times within 60 s" in died.value.why
    out, err = capsys.readouterr()
    # Each restart said so, with a doubling wait; the crash's log lines were shown.
    assert [
        line.split(" restarting it in ")[1].split(" s")[0]
        for line in err.splitlines()
        if "restarting it in" in line
    ] == ["0.05", "0.1", "0.2"]
    assert "the worker (pid" in err and "exited with code 3" in err and "    boom" in err
    assert out.count("restarted the worker (pid") == 3
    # Every run's log kept: the current one and the three before it.
    assert [p.read_text() for p in sorted(sup.paths.logs.glob("w.log*"))] == ["boom\n"] * 4
    await sup._stop_all()


async def test_a_child_that_recovers_keeps_running_and_temporal_dying_stops_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sup = supervisor(tmp_path)
    marker = tmp_path / "crashed-once"
    once = python(
        "import pathlib, sys, time\n"
        f"m = pathlib.Path({str(marker)!r})\n"
        "if not m.exists():\n"
        "    m.touch(); print('crashing', flush=True); sys.exit(1)\n"
        "print('up', flush=True); time.sleep(60)\n"
    )
    api = Child("the API", once, sup.paths.logs / "api.log")
    temporal = Child(
        "the Temporal dev server",
        python("import time; time.sleep(60)"),
        sup.paths.logs / "temporal.log",
        restartable=False,
    )
    for child in (temporal, api):
        child.start({})
        sup.children.append(child)
    watch = asyncio.create_task(sup._watch())
    try:
        for _ in range(200):
            if api.restarts and api.exit_code() is None and "up" in api.log.read_text():
                break
            await asyncio.sleep(0.05)
        assert len(api.restarts) == 1 and api.exit_code() is None
        temporal.process.kill()  # type: ignore[union-attr]
        with pytest.raises(ChildDied) as died:
            await asyncio.wait_for(watch, 10)
        assert died.value.child is temporal and died.value.why == ""
    finally:
        watch.cancel()
        await sup._stop_all()
    out, _ = capsys.readouterr()
    assert "restarted the API" in out
    assert (sup.paths.logs / "api.log.1").read_text() == "crashing\n"  # the crashed run's log
    assert (sup.paths.logs / "api.log").read_text() == "up\n"
