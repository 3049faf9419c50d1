"""Every flow's workflow class, by flow name: the class of ``workflows/<flow>.py`` that
names the flow (``OrderWorkflow[...], flow="<flow>"``), for each flow of the catalog."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from flows.catalog import FLOWS
from workflows.base import OrderWorkflow


def _workflow_of(flow: str) -> type[OrderWorkflow[Any, Any]]:
    module = import_module(f"workflows.{flow}")
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, OrderWorkflow)
        and getattr(value, "entry", None) is not None
        and value.entry.name == flow
    ]
    if len(found) != 1:
        raise LookupError(f"workflows/{flow}.py must define one workflow class of {flow}")
    return found[0]


WORKFLOWS: dict[str, type[OrderWorkflow[Any, Any]]] = {flow: _workflow_of(flow) for flow in FLOWS}
