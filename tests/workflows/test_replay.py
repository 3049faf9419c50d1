"""Recorded histories of released flows replay on today's code without nondeterminism.

They replay through the payload codec, as a worker with payload keys reads them: the
histories were recorded unencrypted, like orders started before the keys were set, and the
codec must pass such payloads through (tests/codec/test_encrypted_workflow.py covers
encrypted ones).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from codec import EncryptionCodec, data_converter_with_codec, new_key
from workflows.bill_cycle import BillCycleWorkflow
from workflows.registry import WORKFLOWS
from workflows.sandbox import workflow_runner

CODEC = EncryptionCodec.from_spec(f"k1:{new_key()}")
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
        data_converter=data_converter_with_codec(CODEC),
        workflow_runner=workflow_runner(),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
