"""The OpenAPI document is one a client generator can use as it stands (api/openapi.py).

The document is the app's own, built without Temporal or a database; the few requests go
to an app on the API tests' SQLite read model (``GET /orders`` needs nothing else).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from sqlalchemy import Engine

from api.app import create_app
from api.errors import ErrorCode, error_response
from flows.catalog import FLOW_NAMES, FLOWS
from models.money import CARD_CURRENCIES
from tests.support.api import BASE_URL, admin_key, bearer, make_settings

DOC: dict[str, Any] = create_app(make_settings("openapi-only")).openapi()
# The document's shape (descriptions left out), as released: a change of the HTTP API
# must be deliberate. Rewrite it with ``python -m tests.api.test_openapi``.
SHAPE_FILE = Path(__file__).with_name("openapi-shape.json")
SCHEMAS: dict[str, Any] = DOC["components"]["schemas"]
REF = "#/components/schemas/"


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def _operation(operation_id: str) -> dict[str, Any]:
    return next(op for _, _, op in _operations() if op["operationId"] == operation_id)


def test_schema_names_are_unique_and_meaningful() -> None:
    titles = [schema.get("title") for schema in SCHEMAS.values()]
    duplicates = {title for title in titles if titles.count(title) > 1}
    assert not duplicates
    for name, schema in SCHEMAS.items():
        # A generator names its class by the title; FastAPI's fallbacks are module paths
        # (models__dealer__CardPayment) and directions (LineItem-Input).
        assert schema["title"] == name
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", name), name
        assert not re.search(r"Type\d|\d$", name), name


def test_operation_ids_are_short_and_stable() -> None:
    ids = {(method, path): op["operationId"] for method, path, op in _operations()}
    assert ids == {
        ("post", "/orders"): "create_order",
        ("get", "/orders"): "list_orders",
        ("get", "/orders/{order_id}"): "get_order",
        ("post", "/orders/{order_id}/actions/{action}"): "act_on_order",
        ("get", "/orders/{order_id}/receipt"): "get_receipt",
        ("get", "/orders/{order_id}/invoices"): "list_invoices",
        ("get", "/notifications/issues"): "list_email_issues",
        ("get", "/flows"): "list_flows",
        ("get", "/flows/{flow}"): "get_flow",
        ("post", "/accounts"): "create_account",
        ("get", "/accounts"): "find_accounts",
        ("get", "/accounts/{account_id}"): "get_account",
        ("post", "/webhooks/stripe"): "stripe_webhook",
        ("post", "/callbacks/salesforce"): "salesforce_callback",
        ("get", "/healthz"): "healthz",
    }


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    return dict(model.model_json_schema().get("properties", {}))


def test_every_flow_action_has_its_payload_schema() -> None:
    body = SCHEMAS["ActionBody"]
    offered = [
        choice["$ref"].removeprefix(REF) for choice in body["properties"]["payload"]["anyOf"]
    ]
    expected = []
    for entry in FLOWS.values():
        for action in entry.spec(None).actions:
            name = f"{_camel(entry.name)}{_camel(action.name)}Payload"
            expected.append(name)
            model = action.payload
            schema = SCHEMAS[name]
            # The action's own model under the pair's name: the same fields, the same
            # required ones (nested models are components, so compare names and types).
            assert set(schema.get("properties", {})) == set(_fields(model)), name
            assert schema.get("required", []) == model.model_json_schema().get("required", [])
            assert schema.get("additionalProperties") is False, name
    assert offered == expected
    # Old clients send no payload (an action that takes none): still optional.
    assert "payload" not in body["required"]


def test_create_body_is_a_named_union_by_flow() -> None:
    body = _operation("create_order")["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": REF + "CreateOrderRequest"}
    union = SCHEMAS["CreateOrderRequest"]
    assert union["discriminator"]["propertyName"] == "flow"
    mapping = union["discriminator"]["mapping"]
    assert set(mapping) == set(FLOW_NAMES)
    for flow, target in mapping.items():
        assert target == REF + FLOWS[flow].request.__name__
        assert {"$ref": target} in union["oneOf"]


def test_flow_status_and_role_are_named_enums() -> None:
    assert SCHEMAS["FlowName"]["enum"] == list(FLOW_NAMES)
    states = {s.name for entry in FLOWS.values() for s in entry.spec(None).states}
    assert set(SCHEMAS["OrderStatus"]["enum"]) == states
    assert SCHEMAS["Role"]["enum"] == ["customer", "provider", "support", "system"]
    for schema in ("OrderView", "OrderSummary"):
        properties = SCHEMAS[schema]["properties"]
        assert properties["flow"] == {"$ref": REF + "FlowName"}
        assert properties["status"] == {"$ref": REF + "OrderStatus"}
    step = SCHEMAS["Transition"]["properties"]
    assert step["to_status"] == {"$ref": REF + "OrderStatus"}
    assert step["from_status"] == {"anyOf": [{"$ref": REF + "OrderStatus"}, {"type": "null"}]}
    parameters = {p["name"]: p for p in _operation("list_orders")["parameters"]}
    assert parameters["flow"]["schema"] == {"$ref": REF + "FlowName"}
    assert parameters["status"]["schema"] == {"$ref": REF + "OrderStatus"}


def test_currency_is_one_named_enum() -> None:
    # One type for every flow's request, not a copy per model a client cannot interchange.
    assert SCHEMAS["Currency"]["enum"] == sorted(CARD_CURRENCIES)
    for flow in FLOWS.values():
        name = flow.request.__name__
        assert SCHEMAS[name]["properties"]["currency"] == {"$ref": REF + "Currency"}
    assert not [name for name in SCHEMAS if name.endswith("Currency") and name != "Currency"]


def test_every_body_declares_its_refusals() -> None:
    # Every body passes api.bodies: too large (413), too deep (400), a non-finite number (422).
    for method, path, operation in _operations():
        if "requestBody" in operation or method == "post":
            declared = set(operation["responses"])
            assert {"400", "413", "422"} <= declared, (method, path, sorted(declared))


def test_list_filters_have_no_defaults_a_client_would_send() -> None:
    filters = ("flow", "status", "customer_id", "provider_id", "needs_attention")
    for parameter in _operation("list_orders")["parameters"]:
        schema = parameter["schema"]
        assert parameter["required"] is False
        if parameter["name"] in filters:
            assert "default" not in schema, parameter
        # A query string has no null.
        assert {"type": "null"} not in schema.get("anyOf", []), parameter


def test_every_error_is_the_one_error_body() -> None:
    assert SCHEMAS["ErrorBody"]["required"] == ["code", "detail"]
    assert SCHEMAS["ErrorBody"]["properties"]["code"] == {"$ref": REF + "ErrorCode"}
    assert SCHEMAS["ErrorCode"]["enum"] == [code.value for code in ErrorCode]
    assert not {"HTTPValidationError", "ValidationError", "InvalidRequest"} & set(SCHEMAS)
    statuses = set()
    for _, _, operation in _operations():
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            statuses.add(int(status))
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": REF + "ErrorBody"}, (operation["operationId"], status)
            headers = response.get("headers", {})
            assert ("Retry-After" in headers) == (int(status) in (429, 503)), status
    assert {404, 409, 422, 429, 503} <= statuses


def test_order_detail_is_the_view_plus_pending() -> None:
    detail = SCHEMAS["OrderDetail"]
    view, added = detail["allOf"]
    assert view == {"$ref": REF + "OrderView"}
    assert set(added["properties"]) == {"pending"}
    assert added["required"] == ["pending"]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"].removeprefix(REF)
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _closure(names: set[str]) -> set[str]:
    seen: set[str] = set()
    while names:
        name = names.pop()
        if name not in seen:
            seen.add(name)
            names |= set(_refs(SCHEMAS[name]))
    return seen


def test_response_fields_are_required() -> None:
    requests = set()
    responses = set()
    for _, _, operation in _operations():
        requests |= set(_refs([operation.get("requestBody"), operation.get("parameters")]))
        responses |= set(_refs(operation["responses"]))
    # The webhook's answer leaves out what is None (response_model_exclude_none).
    assert "required" not in SCHEMAS["WebhookResult"]
    read_only = _closure(responses) - _closure(requests | {"WebhookResult"})
    assert {"OrderView", "OrderSummary", "FlowDescription", "LineItemView"} <= read_only
    for name in read_only:
        for part in [SCHEMAS[name], *SCHEMAS[name].get("allOf", [])]:
            properties = set(part.get("properties", {}))
            assert properties <= set(part.get("required", [])), name


@pytest.fixture
async def api(api_engine: Engine) -> Any:
    app = create_app(make_settings("openapi-requests"), engine=api_engine)
    headers = bearer(admin_key(api_engine))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as client:
        yield client


@pytest.mark.parametrize("query", ["flow=nope", "status=nope", "flow=prepaid_service&status=x"])
async def test_unknown_flow_or_status_is_422(api: httpx.AsyncClient, query: str) -> None:
    response = await api.get(f"/orders?{query}")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid"
    assert body["detail"][0]["loc"][0] == "query"
    assert set(body["detail"][0]) == {"loc", "msg", "type", "input", "ctx"}


@pytest.mark.parametrize("query", ["", "flow=dealer_order&status=shipped", "flow=&status="])
async def test_known_or_empty_filters_list(api: httpx.AsyncClient, query: str) -> None:
    # An empty filter is no filter: clients generated from earlier documents send them.
    response = await api.get(f"/orders?{query}")
    assert response.status_code == 200, response.text


async def test_served_document_is_the_finished_one(api: httpx.AsyncClient) -> None:
    served = (await api.get("/openapi.json")).json()
    assert served == DOC


def test_every_error_answer_is_built_alike() -> None:
    # What the handlers and (at merge time) the body-limit middlewares answer with.
    busy = error_response(429, "busy")
    assert json.loads(busy.body) == {"code": "rate_limited", "detail": "busy"}
    assert busy.headers["retry-after"] == "1"
    down = error_response(503, "down", headers={"Retry-After": "30"})
    assert down.headers["retry-after"] == "30"
    assert error_response(503, "down").headers["retry-after"] == "5"
    refused = error_response(409, "not now", code=ErrorCode.not_allowed)
    assert json.loads(refused.body)["code"] == "not_allowed"
    assert "retry-after" not in refused.headers
    # A status without a code of its own still gets one of the enum.
    assert json.loads(error_response(418, "teapot").body)["code"] == "bad_request"
    assert json.loads(error_response(507, "full").body)["code"] == "internal"


def shape(node: Any) -> Any:
    """``node`` without its prose (descriptions, summaries): what clients build on.

    The alternatives of a ``oneOf`` or ``anyOf`` are a set (JSON Schema gives their order
    no meaning): sorted, so the flows' order in the catalog does not matter.
    """
    if isinstance(node, dict):
        return {
            key: sorted(map(shape, value), key=json.dumps)
            if key in ("oneOf", "anyOf")
            else shape(value)
            for key, value in node.items()
            if key not in ("description", "summary") or not isinstance(value, str)
        }
    if isinstance(node, list):
        return [shape(value) for value in node]
    return node


def test_the_api_keeps_its_released_shape() -> None:
    released = json.loads(SHAPE_FILE.read_text())
    assert shape(DOC) == released, (
        "the OpenAPI document changed beyond descriptions; if that is deliberate, rewrite "
        "tests/api/openapi-shape.json with: .venv/bin/python -m tests.api.test_openapi"
    )


if __name__ == "__main__":
    SHAPE_FILE.write_text(json.dumps(shape(DOC), indent=1, sort_keys=True) + "\n")
