"""The shop flow's harness and helpers: orders of the flow's sample, with a shopper of their
own and the fake Salesforce (tests/support/fakes.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from flows.shop_order.models import (
    SALESFORCE_CALLBACK_UPDATE,
    OrderKind,
    SalesforceCallback,
    SalesforceCallbackResult,
    SalesforceSync,
    ShopItem,
    ShopOrderRequest,
)
from flows.shop_order.policy import ShopPolicy
from models.common import Actor, Party, Role
from models.orders import OrderView
from tests.support.fakes import FakeActivities, FakeSalesforce
from tests.support.harness import FlowHarness, Rejected
from tests.support.samples import sample_request

CUSTOMER = Party(id="cus-shop", name="Sam Shopper", email="sam@example.com")
CARD = {"method": "card", "payment_method": "pm_card_visa"}
PO = {"method": "purchase_order", "po_number": "PO-4711"}
Handle = WorkflowHandle[Any, OrderView]
MIN = timedelta(minutes=1)


def shop_request(
    kind: OrderKind = "product",
    payment: dict[str, Any] | None = None,
    amount: int = 4900,
    quantity: int = 1,
) -> ShopOrderRequest:
    """The flow's sample as an order of ``kind`` (an EVAL is one zero-price item)."""
    if kind == "repair_eval":
        items = [ShopItem(sku="EVAL-PUMP", name="Pump evaluation", unit_amount=0)]
    elif kind == "repair":
        items = [ShopItem(sku="REP-PUMP", name="Pump repair", unit_amount=amount)]
    else:
        items = [ShopItem(sku="WID-1", name="Widget", quantity=quantity, unit_amount=amount)]
    return sample_request(
        "shop_order",
        ShopOrderRequest,
        order_id=f"s-{uuid.uuid4().hex[:12]}",
        customer=CUSTOMER,
        kind=kind,
        items=items,
        payment=payment,
    )


class ShopHarness(FlowHarness):
    """Shop orders on the time-skipping server, with the fake Salesforce."""

    def __init__(
        self, env: WorkflowEnvironment, task_queue: str, fakes: FakeActivities, sf: FakeSalesforce
    ) -> None:
        super().__init__(env, task_queue, fakes)
        self.sf = sf

    async def start(
        self,
        kind: OrderKind = "product",
        payment: dict[str, Any] | None = CARD,
        policy: ShopPolicy | None = None,
        amount: int = 4900,
    ) -> Handle:
        return await self.start_request(shop_request(kind, payment, amount), policy)

    async def act(
        self,
        handle: Handle,
        action: str,
        role: Role,
        payload: dict[str, Any] | None = None,
        actor_id: str | None = None,
    ) -> OrderView:
        if actor_id is None and role == Role.customer:
            actor_id = CUSTOMER.id
        return await self.act_as(handle, action, Actor(role=role, id=actor_id), payload or {})

    async def callback(
        self, handle: Handle, event: str, event_id: str | None = None, **fields: Any
    ) -> SalesforceCallbackResult:
        """Deliver a Salesforce callback; a refusal raises :class:`Rejected`."""
        view = await self.view(handle)
        callback = SalesforceCallback.model_validate(
            {
                "event_id": event_id or f"evt-{uuid.uuid4().hex[:10]}",
                "event": event,
                "order_id": view.order_id,
                **fields,
            }
        )
        try:
            return await handle.execute_update(
                SALESFORCE_CALLBACK_UPDATE, callback, result_type=SalesforceCallbackResult
            )
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError):
                raise Rejected(cause.type, cause.message) from exc
            raise

    async def until(
        self, handle: Handle, check: Callable[[OrderView], bool], what: str, seconds: float = 10.0
    ) -> OrderView:
        """The view once ``check`` holds (the sync and placing run in the background)."""
        deadline = asyncio.get_running_loop().time() + seconds
        while not check(view := await self.view(handle)):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"not {what} in time: status {view.status}")
            await asyncio.sleep(0.05)
        return view

    async def settled(self, handle: Handle, status: str) -> OrderView:
        """The view once the order reached ``status``."""
        return await self.until(handle, lambda view: view.status == status, f"in {status}")

    async def failed_attempt(self, handle: Handle, attempt: int) -> SalesforceSync:
        """The sync once its ``attempt``-th attempt has failed."""

        def failed(view: OrderView) -> bool:
            sync = view.shop.salesforce if view.shop else None
            return sync is not None and sync.attempts == attempt and bool(sync.next_attempt_at)

        view = await self.until(handle, failed, f"failed sync attempt {attempt}")
        assert view.shop is not None
        return view.shop.salesforce
