"""A real order on the time-skipping server stores no personal data in plaintext.

That the recorded (unencrypted) histories replay through the codec is tests/workflows/
test_replay.py's test: it replays every one of them with the codec, as a worker does.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.effects import with_effects
from codec import EncryptionCodec, data_converter_with_codec, new_key
from models.common import Role
from models.orders import StartOrderInput
from tests.fixtures.temporal import register_search_attributes
from tests.support.fakes import FakeActivities
from tests.support.prepaid_service import CUSTOMER, PROVIDER, PrepaidHarness
from workflows.prepaid_service import PrepaidServiceWorkflow
from workflows.sandbox import workflow_runner

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("*.json"))
PERSONAL = [CUSTOMER.name, CUSTOMER.email, PROVIDER.name, PROVIDER.email]
CODEC = EncryptionCodec.from_spec(f"k1:{new_key()}")


def _texts(node: Any) -> Iterator[str]:
    """Every string in a history's JSON, and what it decodes to if it is base64."""
    if isinstance(node, dict):
        for value in node.values():
            yield from _texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _texts(value)
    elif isinstance(node, str):
        yield node
        with contextlib.suppress(binascii.Error):
            yield base64.b64decode(node, validate=True).decode("utf-8", errors="replace")


def plaintext_found(history_json: str) -> list[str]:
    """The personal data that can be read from a history without the keys."""
    texts = list(_texts(json.loads(history_json)))
    return [secret for secret in PERSONAL if any(secret in text for text in texts)]


@pytest.fixture
async def encrypted_env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=shutil.which("temporal-test-server"),
        data_converter=data_converter_with_codec(CODEC),
    ) as env:
        await register_search_attributes(env.client)
        yield env


def test_detector_sees_plaintext_in_a_recorded_unencrypted_history() -> None:
    # The check below is only worth something if it finds the names where they are stored
    # (PERSONAL are the prepaid test order's parties).
    prepaid = next(path for path in HISTORIES if path.name.startswith("prepaid_service."))
    assert plaintext_found(prepaid.read_text()) == PERSONAL


async def test_history_holds_no_plaintext_personal_data(
    encrypted_env: WorkflowEnvironment,
) -> None:
    queue = f"tq-{uuid.uuid4()}"
    fakes = FakeActivities()
    async with Worker(
        encrypted_env.client,
        task_queue=queue,
        workflows=[PrepaidServiceWorkflow],
        # As the worker registers them (build_worker): apply_effects from the fakes.
        activities=with_effects(fakes.all()),
        workflow_runner=workflow_runner(),
    ):
        harness = PrepaidHarness(encrypted_env, queue, fakes)
        order = await harness.start()
        await harness.to_execution(order)
        await harness.sleep(timedelta(days=3, hours=2))  # past the appointment
        await harness.act(order, "mark_done", Role.provider)
        await harness.act(order, "confirm_execution", Role.customer)
        await harness.sleep(timedelta(days=15))
        await order.result()

        view = await harness.view(order)
        assert view.customer.name == CUSTOMER.name
        assert view.customer.email == CUSTOMER.email
        assert view.payout is not None
        assert fakes.emails, "the order sent mail to the customer and the provider"

    # What the server holds, read by a client that has no keys.
    keyless = Client(
        encrypted_env.client.service_client,
        namespace=encrypted_env.client.namespace,
        data_converter=pydantic_data_converter,
    )
    history = await keyless.get_workflow_handle(order.id).fetch_history()
    stored = history.to_json()
    assert "YmluYXJ5L2VuY3J5cHRlZA==" in stored  # base64 of b"binary/encrypted"
    assert plaintext_found(stored) == []
    stored_input = history.events[0].workflow_execution_started_event_attributes.input.payloads
    with pytest.raises(Exception, match="binary/encrypted"):
        await pydantic_data_converter.decode(stored_input, [StartOrderInput])
    [started] = await data_converter_with_codec(CODEC).decode(stored_input, [StartOrderInput])
    assert started.request.customer == CUSTOMER

    # The encrypted history replays on today's code with the keys.
    replayer = Replayer(
        workflows=[PrepaidServiceWorkflow],
        data_converter=data_converter_with_codec(CODEC),
        workflow_runner=workflow_runner(),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
