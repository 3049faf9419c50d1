"""Terms an order is refused for at creation, and how a closed order says it closed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from api import gateway
from flows.prepaid_service.models import PrepaidServiceRequest
from flows.prepaid_service.policy import PrepaidPolicy
from tests.support.api import actor, api_client, make_settings, order_body

pytestmark = pytest.mark.usefixtures("worker")


def starting(at: datetime) -> dict[str, Any]:
    return {"start": at.isoformat(), "duration_minutes": 60, "time_zone": "Europe/Berlin"}


async def test_an_appointment_in_the_past_is_refused_and_nothing_started(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await order_body(time_env)
    body["appointment"] = starting(datetime.now(UTC) - timedelta(minutes=1))
    response = await api.post("/orders", json=body)
    assert response.status_code == 422, response.text
    assert "starts in the past" in response.text
    assert (await api.get(f"/orders/{body['order_id']}")).status_code == 404


async def test_the_minimum_notice_is_kept_on_both_sides(
    time_env: WorkflowEnvironment, task_queue: str, api_engine: Engine
) -> None:
    settings = make_settings(task_queue, prepaid=PrepaidPolicy(minimum_notice=timedelta(hours=2)))
    async with api_client(settings, time_env.client, api_engine) as api:
        soon = await order_body(time_env)
        soon["appointment"] = starting(datetime.now(UTC) + timedelta(hours=2, minutes=-1))
        refused = await api.post("/orders", json=soon)
        assert refused.status_code == 422, refused.text
        assert "minimum notice" in refused.text
        later = await order_body(time_env)
        later["appointment"] = starting(datetime.now(UTC) + timedelta(hours=2, minutes=1))
        assert (await api.post("/orders", json=later)).status_code == 201


async def test_a_free_prepaid_booking_is_refused(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await order_body(time_env)
    body["items"] = [{"name": "Free trial", "quantity": 1, "unit_amount": 0}]
    response = await api.post("/orders", json=body)
    assert response.status_code == 422
    assert "total must be above zero" in response.text


async def test_repeating_an_accepted_order_answers_even_when_its_terms_now_fail(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment, task_queue: str, api_engine: Engine
) -> None:
    body = await order_body(time_env)
    assert (await api.post("/orders", json=body)).status_code == 201
    # The same body again, under a deployment whose notice it no longer meets.
    strict = make_settings(task_queue, prepaid=PrepaidPolicy(minimum_notice=timedelta(days=30)))
    view, created = await gateway.start_order(
        time_env.client,
        api_engine,
        strict,
        PrepaidServiceRequest.model_validate(body),
        timeouts=gateway.Timeouts(),
    )
    assert (view.order_id, created) == (body["order_id"], False)


async def test_a_closed_order_says_how_and_when_it_closed(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await order_body(time_env)
    assert (await api.post("/orders", json=body)).status_code == 201
    oid = body["order_id"]
    cancel = {"actor": actor(body, "customer"), "payload": {"reason": "plans changed"}}
    assert (await api.post(f"/orders/{oid}/actions/cancel", json=cancel)).status_code == 200
    handle = time_env.client.get_workflow_handle(f"order-{oid}")
    await handle.result()
    again = await api.post(f"/orders/{oid}/actions/cancel", json=cancel)
    assert again.status_code == 409
    message = again.json()["detail"]
    assert message.startswith(f"order {oid} is closed: the order is cancelled: cancel by ")
    assert "the customer" in message and "(plans changed)" in message and "UTC" in message


# ----- a shop repair may replace only an EVAL order that allows it ----------------------


def repair_body(customer_id: str, replaces: str) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:10]
    return {
        "order_id": f"rep-{suffix}",
        "flow": "shop_order",
        "kind": "repair",
        "customer": {"id": customer_id, "name": "Sam Shopper", "email": "sam@example.com"},
        "items": [{"sku": "EVAL-1", "name": "Repair", "quantity": 1, "unit_amount": 9900}],
        "currency": "EUR",
        "payment": {"method": "purchase_order", "po_number": "PO-9"},
        "replaces": replaces,
    }


async def test_a_repair_naming_no_order_is_refused(api: httpx.AsyncClient) -> None:
    body = repair_body("cus-x", "no-such-order")
    response = await api.post("/orders", json=body)
    assert response.status_code == 409, response.text
    assert "does not exist" in response.text
    assert (await api.get(f"/orders/{body['order_id']}")).status_code == 404


async def test_a_repair_naming_another_customers_or_a_plain_order_is_refused(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    prepaid = await order_body(time_env)
    assert (await api.post("/orders", json=prepaid)).status_code == 201
    other_flow = await api.post("/orders", json=repair_body("cus-x", prepaid["order_id"]))
    assert other_flow.status_code == 409
    assert "not a shop order" in other_flow.text

    product = repair_body("cus-owner", "x") | {"kind": "product", "replaces": None}
    assert (await api.post("/orders", json=product)).status_code == 201
    stranger = await api.post("/orders", json=repair_body("cus-other", product["order_id"]))
    assert stranger.status_code == 409
    assert "another customer" in stranger.text
    own = await api.post("/orders", json=repair_body("cus-owner", product["order_id"]))
    assert own.status_code == 409
    assert "not a zero-price EVAL repair" in own.text
