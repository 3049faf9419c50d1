"""The prepaid service flow's harness: orders of the flow's sample, acted on by its parties."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio.client import WorkflowHandle

from flows.prepaid_service.models import Appointment, PrepaidServiceRequest
from flows.prepaid_service.policy import PrepaidPolicy
from models.common import Actor, Role
from models.orders import OrderView
from tests.support.harness import FlowHarness
from tests.support.samples import (
    CUSTOMER,
    ENGINE_ACTION_SAMPLES,
    FLOW_SAMPLES,
    PROVIDER,
    sample_body,
    sample_request,
)

__all__ = ["CUSTOMER", "PAYLOADS", "PROVIDER", "PrepaidHarness", "prepaid_body"]

SAMPLE = FLOW_SAMPLES["prepaid_service"]
# The flow's own actions, a valid payload each (the sample's; the engine's actions left out).
PAYLOADS: dict[str, dict[str, Any]] = {
    action: payload
    for action, payload in SAMPLE.payloads.items()
    if action not in ENGINE_ACTION_SAMPLES
}


def prepaid_body(
    order_id: str,
    start: datetime,
    *,
    customer_id: str,
    provider_id: str,
    amount: int | None = None,
    duration_minutes: int | None = None,
) -> dict[str, Any]:
    """The flow's sample as a ``POST /orders`` body: ``order_id``, these parties' ids, the
    appointment at ``start`` (its ``isoformat()``); the item's amount and the duration the
    sample's unless given."""
    body = sample_body("prepaid_service", start)
    [item] = body["items"]
    appointment = {**body["appointment"], "start": start.isoformat()}
    if duration_minutes is not None:
        appointment["duration_minutes"] = duration_minutes
    return {
        **body,
        "order_id": order_id,
        "customer": {**body["customer"], "id": customer_id},
        "provider": {**body["provider"], "id": provider_id},
        "items": [item if amount is None else {**item, "unit_amount": amount}],
        "appointment": appointment,
    }


class PrepaidHarness(FlowHarness):
    """Start prepaid orders (the sample, changed as asked) and act as their parties."""

    async def start(
        self,
        *,
        starts_in: timedelta = timedelta(days=3),
        start: datetime | None = None,
        zone: str = "Europe/Berlin",
        policy: PrepaidPolicy | None = None,
        amount: int = 12000,
        currency: str = "EUR",
        duration_minutes: int = 60,
    ) -> WorkflowHandle[Any, OrderView]:
        now = await self.now()
        sample = sample_request("prepaid_service", PrepaidServiceRequest, now)
        [item] = sample.items
        request = sample.model_copy(
            update={
                "items": [item.model_copy(update={"unit_amount": amount})],
                "currency": currency,
                "appointment": Appointment(
                    start=start or now + starts_in,
                    duration_minutes=duration_minutes,
                    time_zone=zone,
                ),
            }
        )
        return await self.start_request(request, policy)

    async def act(
        self,
        handle: WorkflowHandle[Any, OrderView],
        action: str,
        role: Role,
        payload: dict[str, Any] | None = None,
        actor_id: str | None = None,
    ) -> OrderView:
        if actor_id is None:
            actor_id = SAMPLE.party_ids.get(role)
        payload = PAYLOADS[action] if payload is None else payload
        return await self.act_as(handle, action, Actor(role=role, id=actor_id), payload)

    async def to_payment(self, handle: WorkflowHandle[Any, OrderView]) -> OrderView:
        return await self.act(handle, "confirm", Role.provider)

    async def to_execution(self, handle: WorkflowHandle[Any, OrderView]) -> OrderView:
        await self.to_payment(handle)
        return await self.act(handle, "pay", Role.customer)
