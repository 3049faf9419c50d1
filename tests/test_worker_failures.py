"""The suite's test worker reports a crashing workflow as the test's failure, not a timeout."""

from __future__ import annotations

import asyncio
import uuid

from temporalio import workflow

# The sandbox imports this module again to check the workflow: the rest comes from outside.
with workflow.unsafe.imports_passed_through():
    import pytest
    from temporalio.testing import WorkflowEnvironment

    from tests.fixtures import temporal
    from tests.fixtures.temporal import WorkerFailed, running_worker
    from workflows.sandbox import workflow_runner


@workflow.defn(sandboxed=True)
class PlantedBug:
    @workflow.run
    async def run(self) -> str:
        raise RuntimeError("planted bug")


async def test_a_failed_workflow_task_interrupts_the_test_with_its_error(
    time_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = time_env.client
    # The workflow task fails and is retried for ever: without the report this would wait
    # until pytest's own timeout.
    with pytest.raises(asyncio.CancelledError):
        async with running_worker(
            client, task_queue=task_queue, workflows=[PlantedBug], workflow_runner=workflow_runner()
        ):
            await client.execute_workflow(
                PlantedBug.run, id=f"bug-{uuid.uuid4()}", task_queue=task_queue
            )
    current = asyncio.current_task()
    assert current is not None
    current.uncancel()
    # What pytest_runtest_call raises in place of the cancellation; cleared, so that this
    # test itself passes.
    failures = list(temporal._trouble.failures)
    temporal._trouble.failures.clear()
    assert failures and isinstance(failures[0], WorkerFailed)
    assert "PlantedBug" in str(failures[0])
    assert isinstance(failures[0].__cause__, RuntimeError)
    assert str(failures[0].__cause__) == "planted bug"
