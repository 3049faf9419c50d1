"""Orders over HTTP: create (idempotently), act, read live and from the read model."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from api.gateway import request_fingerprint
from config.settings import Settings
from flows.prepaid_service.models import PrepaidServiceRequest
from models import search
from models.ids import order_workflow_id
from tests.support.api import actor, api_client, eventually, make_key, order_body, workflow_status
from tests.support.fakes import NEEDS_3DS

pytestmark = pytest.mark.usefixtures("worker")


async def create(api: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post("/orders", json=body)
    assert response.status_code == 201, response.text
    view: dict[str, Any] = response.json()
    return view


async def act(
    api: httpx.AsyncClient, order_id: str, action: str, who: dict[str, Any], **payload: Any
) -> httpx.Response:
    return await api.post(
        f"/orders/{order_id}/actions/{action}", json={"actor": who, "payload": payload}
    )


async def test_create_returns_201_with_the_view(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await order_body(time_env)
    view = await create(api, body)
    assert view["order_id"] == body["order_id"]
    assert view["status"] == "confirmation"
    assert view["awaiting"] == "provider"
    assert view["amount_total"] == 12000
    assert view["next_deadline"]["name"] == "confirmation"
    assert view["allowed_actions"]["provider"] == ["confirm", "edit", "cancel"]
    creator = view["history"][0]["actor"]
    assert (creator["role"], creator["id"]) == ("system", "api")
    assert creator["key_name"].startswith("admin-")  # the key the order was created with
    expected = request_fingerprint(PrepaidServiceRequest.model_validate(body))
    assert view["request_fingerprint"] == expected


async def test_create_starts_the_workflow_with_search_attributes(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await order_body(time_env)
    await create(api, body)
    handle = time_env.client.get_workflow_handle(order_workflow_id(body["order_id"]))
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(search.ORDER_STATUS) == "confirmation"
    assert attributes.get(search.ORDER_FLOW) == "prepaid_service"
    assert attributes.get(search.ORDER_CUSTOMER) == body["customer"]["id"]
    assert attributes.get(search.ORDER_NEEDS_ATTENTION) is False


async def test_create_without_an_id_generates_one(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await order_body(time_env)
    del body["order_id"]
    first = await create(api, body)
    second = await create(api, body)
    assert len(first["order_id"]) == 20
    assert first["order_id"] != second["order_id"]


async def test_repeating_the_same_body_returns_200_and_the_same_order(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await order_body(time_env)
    first = await create(api, body)
    again = await api.post("/orders", json=body)
    assert again.status_code == 200
    repeat = again.json()
    assert repeat["order_id"] == first["order_id"]
    assert repeat["created_at"] == first["created_at"]
    assert repeat["history"] == first["history"]
    assert repeat["request_fingerprint"] == first["request_fingerprint"]


async def test_same_id_with_another_body_is_409(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await order_body(time_env)
    await create(api, body)
    changed = copy.deepcopy(body)
    changed["items"][0]["unit_amount"] = 9900
    response = await api.post("/orders", json=changed)
    assert response.status_code == 409
    assert response.json() == {
        "code": "conflict",
        "detail": f"order {body['order_id']} already exists with a different body",
    }


# The body is a union of the flows' requests, chosen by "flow": errors are located in the
# chosen flow's request ("body", "<flow>", ...). Each case sets one field (None removes it).
@pytest.mark.parametrize(
    ("location", "value"),
    [
        (["body", "customer"], None),
        (["body", "appointment", "start"], "2030-05-01T10:00:00"),  # naive
        # Dates whose deadlines would overflow inside the workflow, and Unix seconds.
        (["body", "appointment", "start"], "0001-01-01T00:00:00Z"),
        (["body", "appointment", "start"], "9999-12-31T23:00:00+00:00"),
        (["body", "appointment", "start"], 1_900_000_000),
        (["body", "appointment", "duration_minutes"], "60"),
        (["body", "appointment", "time_zone"], "Mars/Olympus_Mons"),
        (["body", "currency"], "EURO"),
        (["body", "items", 0, "unit_amount"], -1),
        (["body", "items", 0, "quantity"], True),
        (["body", "items", 0, "name"], " \u3000\u0085"),  # blank
        (["body", "colour"], "blue"),
        (["body", "order_id"], "../etc/passwd"),
        (["body", "items"], []),
        (["body", "provider", "email"], "not-an-email"),
        (["body", "provider", "email"], "Piet <piet@example.com>"),
        (["body", "provider", "email"], "piet@example.local"),
    ],
)
async def test_malformed_orders_are_422(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment, location: list[Any], value: Any
) -> None:
    body = await order_body(time_env)
    *parents, last = location[1:]
    target = body
    for key in parents:
        target = target[key]
    if value is None:
        del target[last]
    else:
        target[last] = value
    response = await api.post("/orders", json=body)
    assert response.status_code == 422, response.text
    in_flow = [*location[:1], "prepaid_service", *location[1:]]
    assert in_flow in [error["loc"] for error in response.json()["detail"]]
    if last != "order_id":
        # Rejected before Temporal: no workflow was started.
        missing = await api.get(f"/orders/{body['order_id']}")
        assert missing.status_code == 404


async def test_non_json_body_is_422(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/orders", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


async def test_allowed_actions_move_the_order(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await order_body(time_env)
    order_id = (await create(api, body))["order_id"]
    confirmed = await act(api, order_id, "confirm", actor(body, "provider"))
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "payment"
    paid = await act(api, order_id, "pay", actor(body, "customer"), payment_method="pm_card_visa")
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "execution"
    assert paid.json()["amount_paid"] == 12000
    live = await api.get(f"/orders/{order_id}")
    assert live.status_code == 200
    assert live.json()["status"] == "execution"
    assert [t["action"] for t in live.json()["history"]] == ["create", "confirm", "pay"]


async def test_action_not_allowed_now_is_409_with_the_reason(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await order_body(time_env)
    order_id = (await create(api, body))["order_id"]
    response = await act(api, order_id, "confirm", actor(body, "customer"))
    assert response.status_code == 409
    assert response.json() == {
        "code": "not_allowed",
        "detail": "waiting for the provider to confirm or edit",
    }
    wrong_role = await act(api, order_id, "pay", actor(body, "provider"), payment_method="pm_x")
    assert wrong_role.status_code == 409
    assert wrong_role.json()["detail"] == "provider may not pay an order in confirmation"


async def test_another_customer_may_not_act(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await order_body(time_env)
    order_id = (await create(api, body))["order_id"]
    response = await act(api, order_id, "cancel", {"role": "customer", "id": "eve"}, reason="x")
    assert response.status_code == 403
    assert response.json()["detail"] == "customer eve is not this order's customer"


async def test_declined_payment_is_409(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await order_body(time_env)
    order_id = (await create(api, body))["order_id"]
    await act(api, order_id, "confirm", actor(body, "provider"))
    response = await act(
        api, order_id, "pay", actor(body, "customer"), payment_method="pm_card_chargeDeclined"
    )
    assert response.status_code == 409
    assert response.json()["detail"] == "payment declined: Your card was declined."


async def test_unknown_action_is_404(api: httpx.AsyncClient, time_env: WorkflowEnvironment) -> None:
    body = await order_body(time_env)
    order_id = (await create(api, body))["order_id"]
    response = await act(api, order_id, "teleport", actor(body, "customer"))
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "detail": "prepaid_service has no action 'teleport'",
    }


async def test_invalid_payload_is_422_with_the_reason(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await order_body(time_env)
    order_id = (await create(api, body))["order_id"]
    response = await act(api, order_id, "cancel", actor(body, "customer"))
    assert response.status_code == 422
    assert response.json()["detail"].startswith("invalid cancel request: reason")


@pytest.mark.parametrize(
    "start", ["0001-01-01T00:00:00Z", "9999-12-31T23:00:00+00:00", 1_900_000_000]
)
async def test_an_edit_to_an_impossible_date_is_422_and_the_order_carries_on(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment, start: Any
) -> None:
    # A date whose deadlines overflow would fail the workflow's task on every retry.
    body = await order_body(time_env)
    order_id = (await create(api, body))["order_id"]
    response = await act(api, order_id, "edit", actor(body, "provider"), start=start)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("invalid edit request: start")
    confirmed = await act(api, order_id, "confirm", actor(body, "provider"))
    assert confirmed.status_code == 200, confirmed.text
    assert [t["action"] for t in confirmed.json()["history"]] == ["create", "confirm"]


async def test_system_role_is_422(api: httpx.AsyncClient, time_env: WorkflowEnvironment) -> None:
    body = await order_body(time_env)
    order_id = (await create(api, body))["order_id"]
    response = await act(api, order_id, "cancel", {"role": "system", "id": "x"}, reason="because")
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "actor"]
    assert problem["msg"] == (
        "Input tag 'system' found using 'role' does not match any of the expected tags: "
        "'customer', 'provider', 'support'"
    )
    assert (await api.get(f"/orders/{order_id}")).json()["status"] == "confirmation"


@pytest.mark.parametrize(
    "request_body",
    [
        {"actor": {"role": "customer"}, "payload": {}},
        {"actor": {"role": "wizard", "id": "x"}},
        {"payload": {}},
        {"actor": {"role": "support"}, "payload": [], "extra": 1},
    ],
)
async def test_malformed_action_requests_are_422(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment, request_body: dict[str, Any]
) -> None:
    body = await order_body(time_env)
    order_id = (await create(api, body))["order_id"]
    response = await api.post(f"/orders/{order_id}/actions/cancel", json=request_body)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


async def test_get_lists_what_temporal_still_runs_for_the_order(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await order_body(time_env)
    await create(api, body)

    async def detail() -> dict[str, Any]:
        found: dict[str, Any] = (await api.get(f"/orders/{body['order_id']}")).json()
        return found

    # Nothing left running once the order's emails and records are done.
    idle = await eventually(detail, lambda d: d["pending"] == [])
    assert idle["pending"] == []
    assert idle["status"] == "confirmation"


async def test_unknown_order_is_404(api: httpx.AsyncClient) -> None:
    response = await act(api, "no-such-order", "confirm", {"role": "support", "id": "agent"})
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "order no-such-order not found"}
    read = await api.get("/orders/no-such-order")
    assert read.status_code == 404
    assert read.json() == {"code": "not_found", "detail": "order no-such-order not found"}


@pytest.mark.parametrize("order_id", ["bad%20id", "-leading-dash", "x" * 65])
async def test_ids_no_order_can_have_are_404(api: httpx.AsyncClient, order_id: str) -> None:
    assert (await api.get(f"/orders/{order_id}")).status_code == 404
    response = await act(api, order_id, "confirm", {"role": "support", "id": "agent"})
    assert response.status_code == 404


async def test_actions_on_a_closed_order_are_409(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await order_body(time_env)
    order_id = (await create(api, body))["order_id"]
    cancelled = await act(api, order_id, "cancel", actor(body, "customer"), reason="plans changed")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"

    async def status() -> WorkflowExecutionStatus:
        return await workflow_status(time_env.client, order_id)

    final = await eventually(status, lambda s: s == WorkflowExecutionStatus.COMPLETED)
    assert final == WorkflowExecutionStatus.COMPLETED
    response = await act(api, order_id, "confirm", actor(body, "provider"))
    assert response.status_code == 409
    refused = response.json()
    assert refused["code"] == "not_allowed"
    # Never "closed" alone: how and when it closed.
    closed = f"order {order_id} is closed: the order is cancelled: cancel by the customer at "
    assert refused["detail"].startswith(closed)
    assert refused["detail"].endswith("(plans changed); it is read-only now")
    # Reading and repeating the creation still work on a closed order.
    read = await api.get(f"/orders/{order_id}")
    assert read.status_code == 200
    assert read.json()["status"] == "cancelled"
    again = await api.post("/orders", json=body)
    assert again.status_code == 200
    assert again.json()["status"] == "cancelled"


async def test_three_d_secure_payment_shows_the_client_secret_to_service_keys_only(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment, settings: Settings, api_engine: Engine
) -> None:
    body = await order_body(time_env)
    order_id = (await create(api, body))["order_id"]
    await act(api, order_id, "confirm", actor(body, "provider"))
    service_key = make_key(api_engine, "service")[1]
    async with api_client(settings, time_env.client, api_engine, api_key=service_key) as service:
        response = await act(
            service, order_id, "pay", actor(body, "customer"), payment_method=NEEDS_3DS
        )
        assert response.status_code == 200
        assert response.json()["status"] == "payment"
        assert response.json()["payment_client_secret"].endswith("_secret_x")
        read = await service.get(f"/orders/{order_id}")
        assert read.json()["payment_client_secret"].endswith("_secret_x")
    # The same order read with an admin or a support key: everything but the secret.
    support_key = make_key(api_engine, "support")[1]
    async with api_client(settings, time_env.client, api_engine, api_key=support_key) as support:
        for reader in (api, support):
            view = (await reader.get(f"/orders/{order_id}")).json()
            assert view["status"] == "payment"
            assert view["payment_client_secret"] is None


async def test_list_orders_reads_the_read_model(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await order_body(time_env)
    customer = body["customer"]["id"]
    first = await create(api, body)
    second = await create(api, {**body, "order_id": body["order_id"] + "-2"})

    async def page() -> dict[str, Any]:
        response = await api.get("/orders", params={"customer_id": customer})
        assert response.status_code == 200
        result: dict[str, Any] = response.json()
        return result

    listed = await eventually(page, lambda p: p["total"] == 2)
    assert listed["total"] == 2
    assert listed["limit"] == 50
    assert listed["offset"] == 0
    assert {item["order_id"] for item in listed["items"]} == {
        first["order_id"],
        second["order_id"],
    }
    item = listed["items"][0]
    assert item["status"] == "confirmation"
    assert item["flow"] == "prepaid_service"
    assert item["customer_id"] == customer
    assert item["amount_total"] == 12000
    assert "view_json" not in item

    one = await api.get("/orders", params={"customer_id": customer, "limit": 1, "offset": 1})
    assert one.json()["total"] == 2
    assert len(one.json()["items"]) == 1
    none = await api.get("/orders", params={"customer_id": customer, "status": "payment"})
    assert none.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
    flow = await api.get("/orders", params={"customer_id": customer, "flow": "prepaid_service"})
    assert flow.json()["total"] == 2
    empty_filters = await api.get(f"/orders?customer_id={customer}&status=&flow=")
    assert empty_filters.json()["total"] == 2


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 201}, {"offset": -1}, {"limit": "many"}, {"status": "x" * 129}],
)
async def test_list_orders_rejects_bad_paging(
    api: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    response = await api.get("/orders", params=params)
    assert response.status_code == 422


async def test_list_orders_accepts_the_largest_page(api: httpx.AsyncClient) -> None:
    response = await api.get("/orders", params={"limit": 200, "customer_id": "nobody"})
    assert response.status_code == 200
    assert response.json() == {"items": [], "total": 0, "limit": 200, "offset": 0}


@pytest.mark.parametrize("flow", [None, "no_such_flow", 7])
async def test_an_unknown_or_missing_flow_is_422_naming_the_flows(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment, flow: Any
) -> None:
    body = await order_body(time_env)
    if flow is None:
        del body["flow"]
    else:
        body["flow"] = flow
    response = await api.post("/orders", json=body)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body"]
    assert "prepaid_service" in error["msg"] or "flow" in error["msg"]
