"""A stand-in order workflow whose actions wait until released: it fills Temporal's
limit of in-flight Updates per workflow."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from models.orders import OrderView


@workflow.defn(name="busy_order")
class BusyOrderWorkflow:
    """Holds every action open until ``release``; answers each with the start view."""

    def __init__(self) -> None:
        self._released = False
        self._in_flight = 0
        self._view: OrderView | None = None

    @workflow.run
    async def run(self, view: OrderView) -> None:
        """Wait for the release and for every held action to answer."""
        self._view = view
        await workflow.wait_condition(lambda: self._released and workflow.all_handlers_finished())

    @workflow.update(dynamic=True)
    async def act(self, name: str, args: Sequence[RawValue]) -> OrderView:
        """Any action: held until released."""
        self._in_flight += 1
        await workflow.wait_condition(lambda: self._released)
        assert self._view is not None
        return self._view

    @workflow.signal
    def release(self) -> None:
        """Let every held action answer."""
        self._released = True

    @workflow.query
    def in_flight(self) -> int:
        """How many actions the workflow has accepted."""
        return self._in_flight
