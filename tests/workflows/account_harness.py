"""A harness for account orders on the time-skipping server (used by several test modules)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from flows.account_order.models import AccountOrderRequest, AccountSnapshot
from flows.account_order.policy import AccountPolicy
from models.common import Actor, Role
from models.orders import OrderView
from tests.fakes import FakeActivities
from tests.flows import ACCOUNT, FLOW_SAMPLES
from tests.workflows.conftest import FlowHarness, flow_worker

Handle = WorkflowHandle[Any, OrderView]
SAMPLE = FLOW_SAMPLES["account_order"]
C, P, S = Role.customer, Role.provider, Role.support


class AccountHarness(FlowHarness):
    """Start account orders (the sample's terms, changed as asked) and act on them."""

    async def start(
        self,
        policy: AccountPolicy | None = None,
        account: AccountSnapshot = ACCOUNT,
        **changes: Any,
    ) -> Handle:
        request = SAMPLE.make_request(await self.now())
        assert isinstance(request, AccountOrderRequest)
        request = request.model_copy(update=changes)
        return await self.start_request(request, policy, account=account.model_dump(mode="json"))

    async def act(
        self,
        handle: Handle,
        action: str,
        role: Role,
        payload: dict[str, Any] | None = None,
        actor_id: str | None = None,
    ) -> OrderView:
        if actor_id is None and role != S:
            actor_id = SAMPLE.party_ids.get(role, "someone")
        payload = SAMPLE.payloads[action] if payload is None else payload
        return await self.act_as(handle, action, Actor(role=role, id=actor_id), payload)


APPROVAL = AccountPolicy(approval_required=True)


@pytest.fixture
async def account(
    own_time_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[AccountHarness]:
    fakes = FakeActivities()
    async with flow_worker(own_time_env, task_queue, fakes.all()):
        yield AccountHarness(own_time_env, task_queue, fakes)
