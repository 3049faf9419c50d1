"""No action may fail a workflow task: an unexpected error in a handler is an answer."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment

from flows.prepaid_service.policy import PrepaidPolicy
from models import errors
from models.common import Actor, Role
from models.ids import order_workflow_id
from models.orders import OrderView, StartOrderInput
from tests.fixtures.temporal import running_worker
from tests.support.fakes import FakeActivities
from workflows.prepaid_service import PrepaidServiceWorkflow
from workflows.sandbox import workflow_runner

# The sandbox re-imports this module (it defines a workflow): the test helpers, whose
# samples read the wall clock when imported, are passed through.
with workflow.unsafe.imports_passed_through():
    from tests.support.harness import Rejected
    from tests.support.prepaid_service import PrepaidHarness
    from tests.support.samples import FLOW_SAMPLES


@workflow.defn(name="prepaid_service_with_a_bug")
class BuggyPrepaid(PrepaidServiceWorkflow):
    """The prepaid flow with a bug planted in its confirm handler."""

    @workflow.run
    async def run(self, input: StartOrderInput) -> OrderView:
        """Run the order (the flow's own run)."""
        return await super().run(input)

    async def apply(self, action: str, actor: Actor, payload: object) -> None:  # type: ignore[override]
        if action == "confirm":
            raise KeyError("planted")
        await super().apply(action, actor, payload)  # type: ignore[arg-type]


async def test_an_error_in_a_handler_answers_at_once_and_leaves_the_order(
    time_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = FakeActivities()
    async with running_worker(
        time_env.client,
        task_queue=task_queue,
        workflows=[BuggyPrepaid],
        activities=fakes.all(),
        workflow_runner=workflow_runner(),
    ):
        order_id = f"o-{uuid.uuid4().hex[:12]}"
        sample = FLOW_SAMPLES["prepaid_service"]
        request = sample.make_request(await time_env.get_current_time())
        request = request.model_copy(update={"order_id": order_id})
        order = await time_env.client.start_workflow(
            "prepaid_service_with_a_bug",
            StartOrderInput(
                order_id=order_id,
                request=request,
                request_fingerprint="fp",
                policy=PrepaidPolicy().model_dump(mode="json"),
                created_by=Actor(role=Role.system, id="test"),
            ),
            id=order_workflow_id(order_id),
            task_queue=task_queue,
            result_type=OrderView,
        )
        h = PrepaidHarness(time_env, task_queue, fakes)
        provider = Actor(role=Role.provider, id=sample.party_ids[Role.provider])
        before = await h.view(order)
        with pytest.raises(Rejected) as refused:
            await asyncio.wait_for(h.act_as(order, "confirm", provider, {}), timeout=10)
        assert refused.value.kind == errors.ACTION_FAILED
        assert "KeyError" in refused.value.message and "flagged" in refused.value.message
        after = await h.view(order)
        assert (after.status, after.history) == (before.status, before.history)
        assert after.needs_attention
        assert after.attention_reason is not None and "confirm" in after.attention_reason
        # The order still answers its next action at once.
        edited = await asyncio.wait_for(
            h.act_as(order, "edit", provider, sample.payloads["edit"]), timeout=10
        )
        assert edited.history[-1].action == "edit"
        await order.terminate("test over")
