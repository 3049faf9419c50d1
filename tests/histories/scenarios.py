"""What a flow's recorded scenarios look like (one module per flow beside this one)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.client import WorkflowHandle

from models.orders import OrderView
from tests.support.harness import FlowHarness

Handle = WorkflowHandle[Any, OrderView]
# Scenario name -> a coroutine that drives one order to its end and returns its handle.
Scenarios = dict[str, Callable[[FlowHarness], Awaitable[Handle]]]
