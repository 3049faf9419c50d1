"""deploy/register-search-attributes.sh against a real Temporal dev server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from models import search
from tests.deploy.support import ROOT, load_compose
from tests.fixtures.temporal import start_dev_server

SCRIPT = ROOT / "deploy" / "register-search-attributes.sh"


@pytest.fixture
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of this test's own, on a free loopback port, without custom attributes."""
    async with await start_dev_server() as env:
        yield env


async def _run_script(args: list[str], env: Mapping[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "sh",
        str(SCRIPT),
        *args,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


def _compose_pairs() -> list[str]:
    service = load_compose(
        {
            "POSTGRES_PASSWORD": "x",
            "ORDERCLOCK_STRIPE_API_KEY": "x",
            "ORDERCLOCK_STRIPE_WEBHOOK_SECRET": "x",
            "ORDERCLOCK_PAYLOAD_KEYS": "k1:x",
            "ORDERCLOCK_CODEC_TOKEN": "search-attributes-codec-token",
        }
    )["services"]["search-attributes"]
    return [str(part) for part in service["command"]]


async def test_registers_the_compose_attributes_and_reruns_cleanly(
    dev_server: WorkflowEnvironment,
) -> None:
    address = dev_server.client.service_client.config.target_host
    env = {"TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": "default", "WAIT_SECONDS": "20"}
    for _ in range(2):  # every `docker compose up` runs it again
        code, output = await _run_script(_compose_pairs(), env)
        assert code == 0, output

    listed = await dev_server.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    for key in search.ALL:
        assert listed.custom_attributes[key.name] == IndexedValueType.ValueType(
            int(key.indexed_value_type)
        ), key.name


async def test_a_type_conflict_fails(dev_server: WorkflowEnvironment) -> None:
    address = dev_server.client.service_client.config.target_host
    env = {"TEMPORAL_ADDRESS": address, "WAIT_SECONDS": "20"}
    assert (await _run_script(["OrderStatus=Keyword"], env))[0] == 0
    code, output = await _run_script(["OrderStatus=Bool"], env)
    assert code != 0
    assert "OrderStatus" in output


async def test_an_unreachable_server_fails_after_the_wait() -> None:
    env = {"TEMPORAL_ADDRESS": "127.0.0.1:1", "WAIT_SECONDS": "0"}
    code, output = await _run_script(["OrderStatus=Keyword"], env)
    assert code == 1
    assert "not reachable" in output


@pytest.mark.parametrize("args", [[], ["OrderStatus"], ["=Keyword"], ["OrderStatus="]])
async def test_malformed_arguments_are_refused_before_connecting(args: list[str]) -> None:
    # An unreachable server and a long wait: only the argument check can end this quickly.
    env = {"TEMPORAL_ADDRESS": "127.0.0.1:1", "WAIT_SECONDS": "600"}
    code, output = await _run_script(args, env)
    assert code == 2
    assert ("usage" if not args else "not Name=Type") in output
