"""``orderclock setup`` against a real Temporal dev server without orderclock's attributes."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.common import SearchAttributeKey

from models import search
from tests.fixtures.devstack import clean_environment, free_ports
from tests.fixtures.temporal import start_dev_server

ORDERCLOCK = str(Path(sys.executable).parent / "orderclock")


async def run_setup(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        ORDERCLOCK,
        "setup",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_environment(),
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_setup_registers_missing_attributes_once() -> None:
    async with await start_dev_server() as env:
        address = env.client.service_client.config.target_host
        code, out, err = await run_setup("--temporal-address", address)
        assert (code, err) == (0, "")
        assert out.splitlines() == [
            "registered in default: " + ", ".join(sorted(key.name for key in search.ALL)),
            "bill-cycle schedule orderclock-bill-cycle created (0 1 1 * * UTC)",
        ]
        listed = await env.client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        for key in search.ALL:
            assert listed.custom_attributes[key.name] == int(key.indexed_value_type)
        code, out, _ = await run_setup("--temporal-address", address)
        assert code == 0
        assert out.splitlines() == [
            "default already has every orderclock search attribute",
            "bill-cycle schedule orderclock-bill-cycle updated (0 1 1 * * UTC)",
        ]
        schedule = await env.client.get_schedule_handle("orderclock-bill-cycle").describe()
        action = schedule.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == "bill_cycle"


async def test_setup_refuses_an_attribute_of_another_type() -> None:
    wrong = SearchAttributeKey.for_text("OrderStatus")
    async with await start_dev_server(search_attributes=[wrong]) as env:
        address = env.client.service_client.config.target_host
        code, out, err = await run_setup("--temporal-address", address)
        assert code == 1
        assert out == ""
        text = IndexedValueType.Name(IndexedValueType.INDEXED_VALUE_TYPE_TEXT)
        assert f"OrderStatus exists in default as {text}" in err
        assert "Traceback" not in err


async def test_setup_names_an_unreachable_server() -> None:
    (port,) = free_ports(1)
    code, _, err = await run_setup("--temporal-address", f"127.0.0.1:{port}")
    assert code == 1
    assert f"cannot reach Temporal at 127.0.0.1:{port}" in err
    assert "Traceback" not in err
