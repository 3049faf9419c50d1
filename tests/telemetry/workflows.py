"""Workflows of the telemetry tests, in a module of their own with sandbox-safe imports."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.activities import RECORD_ORDER, RecordOrderInput


@workflow.defn
class RecordViews:
    """Records each view in turn through the real record_order activity."""

    @workflow.run
    async def run(self, views: list[RecordOrderInput]) -> None:
        for view in views:
            await workflow.execute_activity(
                RECORD_ORDER, view, start_to_close_timeout=timedelta(seconds=30)
            )


@workflow.defn
class Hello:
    """A trivial workflow, so the SDK has something to measure."""

    @workflow.run
    async def run(self) -> str:
        return "hello"
