"""Flow descriptions, health and the OpenAPI document (no Temporal call involved)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from flows.catalog import FLOW_NAMES
from flows.prepaid_service.declaration import prepaid_service_spec
from flows.prepaid_service.policy import PrepaidPolicy
from tests.support.api import api_client, make_settings


async def test_list_flows(api: httpx.AsyncClient) -> None:
    response = await api.get("/flows")
    assert response.status_code == 200
    flows = response.json()
    assert [flow["name"] for flow in flows] == list(FLOW_NAMES)
    assert all(flow["mermaid"].startswith("stateDiagram-v2") for flow in flows)


async def test_get_prepaid_flow(api: httpx.AsyncClient) -> None:
    response = await api.get("/flows/prepaid_service")
    assert response.status_code == 200
    flow = response.json()
    spec = prepaid_service_spec()
    assert flow["mermaid"] == spec.mermaid()
    assert "    confirmation --> payment: confirm" in flow["mermaid"].splitlines()
    assert flow["initial"] == "confirmation"
    assert [state["name"] for state in flow["states"]] == [s.name for s in spec.states]
    actions = {action["name"]: action for action in flow["actions"]}
    assert actions["pay"]["states_by_role"] == {"customer": ["payment"]}
    assert actions["cancel"]["payload_schema"]["required"] == ["reason"]
    # The engine's own action, which no flow lists itself.
    every_state = [state["name"] for state in flow["states"]]
    assert actions["resend_email"]["states_by_role"] == {"support": every_state}


async def test_flow_deadlines_follow_the_deployment_policy(
    time_env: WorkflowEnvironment, api_engine: Engine
) -> None:
    policy = PrepaidPolicy(confirm_window=timedelta(hours=2), payment_window=timedelta(hours=1))
    settings = make_settings("unused", prepaid=policy)
    async with api_client(settings, time_env.client, api_engine) as api:
        flow = (await api.get("/flows/prepaid_service")).json()
    deadlines = {deadline["name"]: deadline["default"] for deadline in flow["deadlines"]}
    assert deadlines["confirmation"] == "PT2H"
    assert deadlines["payment"] == "PT1H"


async def test_unknown_flow_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/flows/teleport")
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "detail": f"unknown flow 'teleport'; known flows: {', '.join(FLOW_NAMES)}",
    }


async def test_healthz(api: httpx.AsyncClient) -> None:
    response = await api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_unknown_route_is_json_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/nope")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not Found"}


async def test_wrong_method_is_json_405(api: httpx.AsyncClient) -> None:
    response = await api.delete("/orders")
    assert response.status_code == 405
    assert response.json() == {"code": "method_not_allowed", "detail": "Method Not Allowed"}


async def test_every_operation_is_documented(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    operations = [op for path in document["paths"].values() for op in path.values()]
    # 8, plus the account orders' 5 (accounts: create, find, read; receipt, invoices), the
    # Salesforce callback and the console's list of email issues.
    assert len(operations) == 15
    for operation in operations:
        assert operation["description"], operation["operationId"]
        assert "200" in operation["responses"] or "201" in operation["responses"]
    create = document["paths"]["/orders"]["post"]["responses"]
    assert {"200", "201", "409", "422"} <= set(create)


async def test_each_flow_says_which_actions_its_deadlines_close(api: httpx.AsyncClient) -> None:
    gates = {}
    for flow in ("prepaid_service", "charge_box_installation", "shop_order", "account_order"):
        described = (await api.get(f"/flows/{flow}")).json()
        gates[flow] = {d["name"]: set(d["gates"]) for d in described["deadlines"]}
    assert gates["prepaid_service"]["payment"] == {"pay", "cancel"}
    assert gates["prepaid_service"]["appointment_start"] == {"edit"}
    assert gates["prepaid_service"]["payment_reminder"] == set()  # a reminder closes nothing
    assert "cancel" in gates["charge_box_installation"]["scheduled_fulfilment"]
    assert gates["shop_order"]["salesforce_sync"] == set()  # it only flags the order
    assert gates["account_order"]["draft_expiry"] == {"edit", "place", "cancel"}
