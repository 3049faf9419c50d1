"""Recorded histories of released flows replay on today's code without nondeterminism."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.bill_cycle import BillCycleWorkflow
from workflows.registry import WORKFLOWS
from workflows.sandbox import workflow_runner

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("*.json"))


def test_every_flow_has_recorded_histories() -> None:
    flows = {path.name.split(".")[0] for path in HISTORIES}
    expected = set(WORKFLOWS) | {"bill_cycle"}  # the account orders' bill-cycle run too
    assert flows == expected, "record histories with python -m tests.histories.record"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())  # noqa: ASYNC240
    replayer = Replayer(
        workflows=[*WORKFLOWS.values(), BillCycleWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
