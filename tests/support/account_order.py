"""The account order flow's harness: orders of the flow's sample, changed as asked."""

from __future__ import annotations

from typing import Any

from temporalio.client import WorkflowHandle

from flows.account_order.models import AccountOrderRequest, AccountSnapshot
from flows.account_order.policy import AccountPolicy
from models.common import Actor, Role
from models.orders import OrderView
from tests.support.harness import FlowHarness
from tests.support.samples import ACCOUNT, FLOW_SAMPLES

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
