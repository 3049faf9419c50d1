"""Orders as the benchmarks start them: the API's start input, straight to Temporal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from api.gateway import API_ACTOR, initial_search_attributes
from flows.prepaid_service.models import Appointment, PrepaidServiceRequest
from flows.prepaid_service.policy import PrepaidPolicy
from models.common import Actor, LineItem, Party, Role, request_fingerprint
from models.ids import order_workflow_id
from models.orders import ActionRequest, OrderView, StartOrderInput

FLOW = "prepaid_service"
PAYLOADS = {"pay": {"payment_method": "pm_card_visa"}}


def order_request(order_id: str, start: datetime, customer: int = 1) -> PrepaidServiceRequest:
    """A realistic one-line order for customer ``cus-<customer>``."""
    return PrepaidServiceRequest(
        order_id=order_id,
        flow=FLOW,
        customer=Party(id=f"cus-{customer}", name="Cleo Customer", email="cleo@example.com"),
        provider=Party(id="pro-1", name="Piet Provider", email="piet@example.com"),
        items=[LineItem(name="Massage", quantity=1, unit_amount=8500)],
        currency="EUR",
        appointment=Appointment(start=start, duration_minutes=60, time_zone="Europe/Berlin"),
    )


async def start_order(
    client: Client,
    task_queue: str,
    order_id: str,
    *,
    policy: PrepaidPolicy,
    appointment: datetime,
    customer: int = 1,
) -> WorkflowHandle[object, OrderView]:
    """Start an order's workflow as ``api.gateway.start_order`` does (without its first query)."""
    request = order_request(order_id, appointment, customer)
    start = StartOrderInput(
        order_id=order_id,
        request=request,
        request_fingerprint=request_fingerprint(request),
        policy=policy.model_dump(mode="json"),
        created_by=API_ACTOR,
        received_at=datetime.now(UTC),
    )
    return await client.start_workflow(
        FLOW,
        start,
        id=order_workflow_id(order_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=initial_search_attributes(request, "confirmation"),
        static_summary=request.web_summary(),
        static_details="\n".join(request.web_details()),
        result_type=OrderView,
    )


def action(name: str, role: Role) -> ActionRequest:
    """The request of one action by this order's customer or provider."""
    actor = Actor(role=role, id="cus-1" if role == Role.customer else "pro-1")
    return ActionRequest(actor=actor, payload=PAYLOADS.get(name, {}))


def lifecycle_policy(execution_confirm: timedelta) -> PrepaidPolicy:
    """Deadlines shortened so an order closes by itself soon after it is marked done."""
    return PrepaidPolicy(execution_confirm_window=execution_confirm, payout_delay=timedelta(0))
