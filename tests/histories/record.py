"""Record event histories of released flows for the replay tests.

Run ``python -m tests.histories.record VERSION [FLOW ...]`` once per released version of
a flow and commit the JSON files: tests/workflows/test_replay.py replays every file
against today's code, so a change that would break running orders fails CI (use
``workflow.patched``). Each flow's scenarios live in ``tests/histories/<flow>.py``.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from pathlib import Path
from typing import Any

from tests.fixtures.temporal import start_time_skipping
from tests.histories.scenarios import Scenarios
from tests.support.fakes import FakeActivities
from tests.support.harness import FlowHarness, flow_worker
from workflows.registry import WORKFLOWS

HERE = Path(__file__).parent


def scenarios_of(flow: str) -> Scenarios:
    """The recorded scenarios of ``flow`` (``tests/histories/<flow>.py``)."""
    module = importlib.import_module(f"tests.histories.{flow}")
    scenarios: Scenarios = module.SCENARIOS
    return scenarios


def extra_activities(flow: str, fakes: FakeActivities) -> list[Any]:
    """Fakes of a flow's own activities, if its scenario module names any."""
    module = importlib.import_module(f"tests.histories.{flow}")
    extra = getattr(module, "extra_activities", None)
    return list(extra(fakes)) if extra is not None else []


async def record(version: str, flows: list[str]) -> list[Path]:
    written = []
    for flow in flows:
        for name, scenario in scenarios_of(flow).items():
            async with await start_time_skipping() as env:
                fakes = FakeActivities()
                queue = f"record-{flow}-{name}"
                activities = fakes.all() + extra_activities(flow, fakes)
                async with flow_worker(env, queue, activities):
                    handle = await scenario(FlowHarness(env, queue, fakes))
                    history = await handle.fetch_history()
            path = HERE / f"{flow}.{version}.{name}.json"
            path.write_text(history.to_json())
            written.append(path)
    return written


if __name__ == "__main__":
    # The servers are in the environment's bin, like for the test suite (tests/conftest.py).
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    args = sys.argv[1:]
    version = args[0] if args else "v1"
    for path in asyncio.run(record(version, args[1:] or list(WORKFLOWS))):
        print(path)
