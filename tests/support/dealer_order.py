"""The dealer order flow's harness and helpers: orders of the flow's sample (an OEM's, with a
German dealer) by default."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from flows.dealer_order.models import DealerOrderRequest
from flows.dealer_order.policy import DealerPolicy
from models.common import Actor, Role
from models.orders import OrderView
from tests.support.fakes import FakeActivities
from tests.support.harness import FlowHarness, flow_worker
from tests.support.samples import FLOW_SAMPLES, sample_request

C, P, S = Role.customer, Role.provider, Role.support
Handle = WorkflowHandle[Any, OrderView]
SAMPLE = FLOW_SAMPLES["dealer_order"]
DEALER_ID = SAMPLE.party_ids[Role.provider]
CUSTOMER_ID = SAMPLE.party_ids[Role.customer]
MANUFACTURER_ID = "oem-1"
PAYLOADS: dict[str, dict[str, Any]] = {
    "accept": {},
    "confirm": {"note": "stock checked"},
    "capture_payment": {},
    "mark_shipped": {"tracking_numbers": ["1Z999AA10123456784", "1Z999AA10123456785"]},
    "refund": {"reason": "returned"},
    "cancel": {"reason": "out of stock"},
    "archive": {},
    "unarchive": {},
}


def card(payment_method: str = "pm_card_visa") -> dict[str, Any]:
    return {"method": "card", "payment_method": payment_method}


ON_ACCOUNT: dict[str, Any] = {"method": "on_account", "account_reference": "PO-7"}


def dealer_request(
    *,
    payment: dict[str, Any] | None = None,
    country: str = "DE",
    zone: str = "Europe/Berlin",
    subdivision: str | None = None,
    amount: int = 12000,
    manufacturer_id: str = MANUFACTURER_ID,
    dealer_id: str = DEALER_ID,
) -> DealerOrderRequest:
    """The flow's sample request with these fields replaced (order id left to the harness)."""
    sample = sample_request("dealer_order", DealerOrderRequest)
    dealer: dict[str, Any] = {
        **sample.dealer.model_dump(exclude={"subdivision"}),
        "id": dealer_id,
        "country": country,
        "time_zone": zone,
    }
    if subdivision is not None:
        dealer["subdivision"] = subdivision
    [item] = sample.items
    return sample_request(
        "dealer_order",
        DealerOrderRequest,
        manufacturer={**sample.manufacturer.model_dump(), "id": manufacturer_id},
        dealer=dealer,
        items=[{**item.model_dump(), "unit_amount": amount}],
        payment=payment or card(),
    )


def dealer_body(order_id: str, **fields: Any) -> dict[str, Any]:
    """A ``POST /orders`` body of :func:`dealer_request` with ``order_id``."""
    body = dealer_request(**fields).model_dump(mode="json", exclude_none=True)
    return {"order_id": order_id, **body}


class DealerHarness(FlowHarness):
    """Start dealer orders and act on them as the dealer, support or the customer."""

    async def start(
        self,
        request: DealerOrderRequest | None = None,
        policy: DealerPolicy | None = None,
        *,
        settle: bool = True,
        **fields: Any,
    ) -> Handle:
        """Place an order; with ``settle`` wait until its card is pre-authorised (or not)."""
        handle = await self.start_request(request or dealer_request(**fields), policy)
        if settle:
            await self.settled(handle)
        return handle

    async def settled(self, handle: Handle, seconds: float = 10.0) -> OrderView:
        """The view once the order no longer waits for its card's pre-authorisation."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            view = await self.view(handle)
            assert view.dealer is not None
            if view.dealer.review_step != "authorising":
                return view
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("the card pre-authorisation did not finish")
            await asyncio.sleep(0.02)

    async def act(
        self,
        handle: Handle,
        action: str,
        role: Role = P,
        payload: dict[str, Any] | None = None,
        actor_id: str | None = None,
    ) -> OrderView:
        if actor_id is None:
            actor_id = {C: CUSTOMER_ID, P: DEALER_ID}.get(role, "agent-1")
        payload = PAYLOADS[action] if payload is None else payload
        return await self.act_as(handle, action, Actor(role=role, id=actor_id), payload)

    async def confirmed(self, handle: Handle) -> OrderView:
        await self.act(handle, "accept")
        return await self.act(handle, "confirm")


@contextlib.asynccontextmanager
async def dealer_harness(
    env: WorkflowEnvironment, task_queue: str, fakes: FakeActivities | None = None
) -> AsyncIterator[DealerHarness]:
    """A worker of every flow with fake activities (``fakes``' own), and the harness on it."""
    fakes = fakes or FakeActivities()
    async with flow_worker(env, task_queue, fakes.all()):
        yield DealerHarness(env, task_queue, fakes)
