"""Hostile input (issue 14): each attack the issue lists, sent as it was, is a clear 4xx.

The API runs against the time-skipping Temporal server with every real workflow, so a
refusal is shown to leave nothing behind: no workflow, no row in the read model, and the
order an attack was aimed at carries on as before.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api.bodies import MAX_JSON_DEPTH
from codec import new_key
from config.settings import Settings
from models.money import MAX_CHARGE
from tests.support.api import (
    actor,
    api_client,
    make_settings,
    order_body,
    stripe_event,
    stripe_signature,
    workflow_status,
)

pytestmark = pytest.mark.usefixtures("worker")

CALLBACK_SECRET = "sf-hostile-secret"
CODEC_TOKEN = "hostile-codec-token-0123"
UI = "http://127.0.0.1:8233"


@pytest.fixture
def settings(task_queue: str) -> Settings:
    return make_settings(
        task_queue,
        salesforce_callback_secret=SecretStr(CALLBACK_SECRET),
        payload_keys=SecretStr(f"k1:{new_key()}"),
        codec_token=SecretStr(CODEC_TOKEN),
        codec_web_origins=[UI],
    )


async def act(
    api: httpx.AsyncClient, order_id: str, action: str, who: dict[str, Any], **payload: Any
) -> httpx.Response:
    return await api.post(
        f"/orders/{order_id}/actions/{action}", json={"actor": who, "payload": payload}
    )


async def assert_not_created(
    api: httpx.AsyncClient, env: WorkflowEnvironment, order_id: str
) -> None:
    """No trace of ``order_id``: not in the API, its list, nor Temporal."""
    assert (await api.get(f"/orders/{order_id}")).status_code == 404
    listed = (await api.get("/orders", params={"limit": 200})).json()["items"]
    assert order_id not in {item["order_id"] for item in listed}
    with pytest.raises(RPCError) as missing:
        await workflow_status(env.client, order_id)
    assert missing.value.status == RPCStatusCode.NOT_FOUND


async def refused_order(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    status: int,
    raw: bytes | None = None,
    **changes: Any,
) -> httpx.Response:
    """POST /orders with ``changes`` (or the bytes ``raw``): ``status``, nothing created."""
    body = await order_body(env, **changes)
    content = raw if raw is not None else json.dumps(body).encode()
    response = await api.post(
        "/orders", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/json"
    await assert_not_created(api, env, body["order_id"])
    return response


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# ----- 1. the codec ------------------------------------------------------------------


async def test_codec_decodes_only_for_the_token(api: httpx.AsyncClient) -> None:
    body = {"payloads": []}
    # The API key alone is no codec token.
    assert (await api.post("/codec/decode", json=body)).status_code == 401
    bearer = {"Authorization": f"Bearer {CODEC_TOKEN}"}
    assert (await api.post("/codec/decode", json=body, headers=bearer)).status_code == 200
    assert (await api.post(f"/codec/{CODEC_TOKEN}/decode", json=body)).status_code == 200


async def test_codec_without_a_token_refuses_everyone(
    task_queue: str, time_env: WorkflowEnvironment, api_engine: Engine
) -> None:
    settings = make_settings(task_queue, payload_keys=SecretStr(f"k1:{new_key()}"))
    async with api_client(settings, time_env.client, api_engine, api_key=None) as http:
        response = await http.post("/codec/decode", json={"payloads": []})
    assert response.status_code == 503
    assert "ORDERCLOCK_CODEC_TOKEN" in response.json()["detail"]


async def test_codec_answers_cors_only_for_the_web_ui(api: httpx.AsyncClient) -> None:
    def preflight(origin: str) -> dict[str, str]:
        return {"Origin": origin, "Access-Control-Request-Method": "POST"}

    ui = await api.options(f"/codec/{CODEC_TOKEN}/decode", headers=preflight(UI))
    assert ui.headers["access-control-allow-origin"] == UI
    evil = await api.options("/codec/decode", headers=preflight("http://evil.example"))
    assert "access-control-allow-origin" not in evil.headers
    # Nor does the rest of the API answer a browser on another origin.
    orders = await api.options("/orders", headers=preflight(UI))
    assert "access-control-allow-origin" not in orders.headers


@pytest.mark.parametrize("origin", ["*", "http://*.example", "null", "http://ui.example/path"])
def test_only_exact_origins_pass_the_settings(task_queue: str, origin: str) -> None:
    with pytest.raises(ValueError, match="not an origin"):
        make_settings(task_queue, codec_web_origins=[origin])


@pytest.mark.parametrize("token", ["short", "has/a-slash-0123456789", "has space 0123456789"])
def test_a_codec_token_must_be_long_and_fit_a_path_segment(task_queue: str, token: str) -> None:
    with pytest.raises(ValueError, match="16 or more"):
        make_settings(task_queue, codec_token=SecretStr(token))


async def test_codec_token_in_the_path_never_reaches_the_access_log(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="orderclock.access"):
        response = await api.post(f"/codec/{CODEC_TOKEN}/decode", json={"payloads": []})
    assert response.status_code == 200
    lines = [record.getMessage() for record in caplog.records]
    assert any("/codec/decode" in line for line in lines)
    assert not any(CODEC_TOKEN in line for line in lines)


async def test_codec_body_is_bounded(api: httpx.AsyncClient, settings: Settings) -> None:
    bearer = {"Authorization": f"Bearer {CODEC_TOKEN}", "Content-Type": "application/json"}
    response = await api.post("/codec/encode", content=b" " * (80 * 1024 * 1024), headers=bearer)
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert str(settings.codec_max_body_bytes) in response.json()["detail"]


# ----- 2. sizes -------------------------------------------------------------------------


async def test_a_100_mib_order_is_413_before_it_is_read(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment, settings: Settings
) -> None:
    body = await order_body(time_env, notes="x" * (100 * 1024 * 1024))
    response = await api.post(
        "/orders", content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {
        "code": "too_large",
        "detail": f"request body larger than {settings.max_body_bytes} bytes, this route's limit",
    }
    await assert_not_created(api, time_env, body["order_id"])


async def test_a_streamed_body_is_cut_off_at_the_limit(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b" " * 1024

    response = await api.post(
        "/orders", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert str(settings.max_body_bytes) in response.json()["detail"]


async def created_order(api: httpx.AsyncClient, env: WorkflowEnvironment) -> dict[str, Any]:
    body = await order_body(env)
    response = await api.post("/orders", json=body)
    assert response.status_code == 201, response.text
    return body


@pytest.mark.parametrize("size", [2_200_000, 5 * 1024 * 1024])
async def test_a_huge_action_is_413_and_the_order_carries_on(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment, size: int
) -> None:
    body = await created_order(api, time_env)
    order_id = body["order_id"]
    response = await act(api, order_id, "cancel", actor(body, "customer"), reason="x" * size)
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    # The order's next normal action and a read work at once.
    started = time.monotonic()
    confirmed = await act(api, order_id, "confirm", actor(body, "provider"))
    assert confirmed.status_code == 200, confirmed.text
    assert (await api.get(f"/orders/{order_id}")).json()["status"] == "payment"
    print(f"confirm and read after the refused action: {time.monotonic() - started:.2f} s")


async def test_the_largest_allowed_action_is_a_clean_422_in_the_workflow(
    task_queue: str, time_env: WorkflowEnvironment, api_engine: Engine
) -> None:
    # At the highest limit the settings allow, the Update still fits Temporal's payload
    # limit: the workflow's validator refuses the reason, and the order carries on.
    settings = make_settings(task_queue, max_body_bytes=1024 * 1024)
    async with api_client(settings, time_env.client, api_engine) as http:
        body = await created_order(http, time_env)
        order_id = body["order_id"]
        reason = "x" * (1024 * 1024 - 200)
        response = await act(http, order_id, "cancel", actor(body, "customer"), reason=reason)
        assert response.status_code == 422, response.text[:300]
        assert len(response.content) < 1000  # the reason is not sent back
        assert "at most 2000 characters" in response.json()["detail"]
        confirmed = await act(http, order_id, "confirm", actor(body, "provider"))
        assert confirmed.status_code == 200, confirmed.text


async def test_a_422_never_echoes_a_large_input(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    big = "y" * 200_000
    response = await refused_order(
        api,
        time_env,
        422,
        customer={"id": "cus-x", "name": big, "email": "cleo@example.com"},
    )
    assert len(response.content) < 2000
    [problem] = response.json()["detail"]
    assert problem["loc"][-1] == "name"
    assert problem["input"].endswith("...")


# ----- 3. numbers and shapes ----------------------------------------------------------------


@pytest.mark.parametrize("number", ["1e999", "NaN", "Infinity", "-Infinity"])
async def test_non_finite_numbers_are_422(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment, number: str
) -> None:
    body = await order_body(time_env)
    text = json.dumps(body).replace('"unit_amount": 12000', f'"unit_amount": {number}')
    response = await refused_order(api, time_env, 422, raw=text.encode(), order_id=body["order_id"])
    assert response.json()["code"] == "invalid"
    assert "not finite" in response.json()["detail"]
    # In an action's free-form payload, too (it would have reached the workflow).
    order = await created_order(api, time_env)
    acted = await cancel_with_raw_payload(api, order, f'{{"x": {number}}}')
    assert acted.status_code == 422
    assert acted.json()["code"] == "invalid"
    assert "not finite" in acted.json()["detail"]


async def cancel_with_raw_payload(
    api: httpx.AsyncClient, order: dict[str, Any], payload: str
) -> httpx.Response:
    """The customer's cancel action with ``payload`` as raw JSON text."""
    raw = f'{{"actor": {json.dumps(actor(order, "customer"))}, "payload": {payload}}}'
    return await api.post(
        f"/orders/{order['order_id']}/actions/cancel",
        content=raw.encode(),
        headers={"Content-Type": "application/json"},
    )


# 1000 levels exhaust Python's recursion limit while parsing; 100 parse and are refused after.
@pytest.mark.parametrize("depth", [100, 1000])
async def test_deep_nesting_is_400_on_the_key_protected_routes(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment, depth: int
) -> None:
    body = await order_body(time_env)
    text = json.dumps({**body, "notes": "PLACEHOLDER"}).replace('"PLACEHOLDER"', nested(depth))
    response = await refused_order(api, time_env, 400, raw=text.encode(), order_id=body["order_id"])
    assert response.json()["code"] == "too_deep"
    assert str(MAX_JSON_DEPTH) in response.json()["detail"]
    order = await created_order(api, time_env)
    acted = await cancel_with_raw_payload(api, order, nested(depth))
    assert acted.status_code == 400
    assert acted.json()["code"] == "too_deep"
    # Depth itself is fine up to the limit (a malformed payload, not a 400).
    deepest = nested(MAX_JSON_DEPTH - 2)
    acted = await cancel_with_raw_payload(api, order, f'{{"reason": {deepest}}}')
    assert acted.status_code == 422


async def test_a_signed_deeply_nested_webhook_is_400(api: httpx.AsyncClient) -> None:
    payload = stripe_event("payment_intent.succeeded", {"id": "pi_1"}).replace(
        b'{"id": "pi_1"}', nested(1000).encode()
    )
    response = await api.post(
        "/webhooks/stripe",
        content=payload,
        headers={"content-type": "application/json", "stripe-signature": stripe_signature(payload)},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "too_deep"
    assert str(MAX_JSON_DEPTH) in response.json()["detail"]


async def test_a_deeply_nested_salesforce_callback_with_the_secret_is_400(
    api: httpx.AsyncClient,
) -> None:
    response = await api.post(
        "/callbacks/salesforce",
        content=('{"event_id": "e1", "note": ' + nested(1000) + "}").encode(),
        headers={"X-Orderclock-Secret": CALLBACK_SECRET, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "too_deep"
    assert str(MAX_JSON_DEPTH) in response.json()["detail"]


async def test_a_non_finite_number_in_a_callback_is_422(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/callbacks/salesforce",
        content=b'{"event_id": "e1", "repair_price": 1e999}',
        headers={"X-Orderclock-Secret": CALLBACK_SECRET, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"
    assert "not finite" in response.json()["detail"]


# ----- 4. validation --------------------------------------------------------------------


@pytest.mark.parametrize("currency", ["XXX", "ZZZ", "XTS"])
async def test_currencies_outside_iso_4217_and_stripe_are_422(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment, currency: str
) -> None:
    response = await refused_order(api, time_env, 422, currency=currency)
    [problem] = response.json()["detail"]
    assert problem["loc"][-1] == "currency"
    assert currency in problem["msg"]


async def test_a_total_beyond_one_charge_is_422(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    # 10^16 minor units, as the issue sent it (10,000 x 10^12), and just past Stripe's limit.
    huge = [{"name": "Yacht", "quantity": 10_000, "unit_amount": 10**12}]
    await refused_order(api, time_env, 422, items=huge)
    over = [{"name": "Yacht", "quantity": 2, "unit_amount": MAX_CHARGE // 2 + 1}]
    response = await refused_order(api, time_env, 422, items=over)
    assert f"at most {MAX_CHARGE}" in response.text
    ok = [{"name": "Yacht", "quantity": 1, "unit_amount": MAX_CHARGE}]
    body = await order_body(time_env, items=ok)
    assert (await api.post("/orders", json=body)).status_code == 201


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Cleo\x00Customer"),
        ("name", "Cleo\r\nBcc: victim@example.com"),
        ("name", "Cleo \u202egnp.exe"),
        ("id", "cus-\u2066x"),
        ("id", "cus-1\nX-Injected: 1"),
    ],
)
async def test_control_and_bidi_characters_are_422_naming_the_field(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment, field: str, value: str
) -> None:
    customer = {"id": f"cus-{uuid.uuid4().hex[:8]}", "name": "Cleo", "email": "c@example.com"}
    response = await refused_order(api, time_env, 422, customer={**customer, field: value})
    [problem] = response.json()["detail"]
    assert problem["loc"][-2:] == ["customer", field]
    assert "must not contain" in problem["msg"]


async def test_a_reason_with_nul_or_bidi_is_422_and_a_multi_line_reason_is_fine(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await created_order(api, time_env)
    customer = actor(body, "customer")
    for reason in ("changed\x00my mind", "changed \u202emy mind"):
        response = await act(api, body["order_id"], "cancel", customer, reason=reason)
        assert response.status_code == 422
        assert "reason" in response.json()["detail"]
        assert "must not contain" in response.json()["detail"]
    response = await act(api, body["order_id"], "cancel", customer, reason="changed\nmy mind")
    assert response.status_code == 200, response.text


async def test_a_control_character_in_the_actor_id_is_422(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    body = await created_order(api, time_env)
    response = await act(api, body["order_id"], "confirm", {"role": "support", "id": "a\x00"})
    assert response.status_code == 422
    assert "must not contain" in response.text


async def test_a_nul_in_a_list_filter_is_422(api: httpx.AsyncClient) -> None:
    response = await api.get("/orders", params={"customer_id": "cus\x00"})
    assert response.status_code == 422


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules", "Europe/../etc"])
async def test_only_real_iana_zones(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment, zone: str
) -> None:
    body = await order_body(time_env)
    appointment = {**body["appointment"], "time_zone": zone}
    response = await refused_order(api, time_env, 422, appointment=appointment)
    [problem] = response.json()["detail"]
    assert problem["loc"][-1] == "time_zone"


@pytest.mark.parametrize("days", [30, -30])
async def test_webhook_timestamps_beyond_the_tolerance_are_401(
    api: httpx.AsyncClient, days: int
) -> None:
    payload = stripe_event("payment_intent.succeeded", {"id": "pi_1", "metadata": {}})
    at = int(time.time()) + days * 86_400
    response = await api.post(
        "/webhooks/stripe",
        content=payload,
        headers={
            "content-type": "application/json",
            "stripe-signature": stripe_signature(payload, at=at),
        },
    )
    assert response.status_code == 401
    assert "timestamp" in response.json()["detail"].lower()
