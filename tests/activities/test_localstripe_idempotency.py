"""The local Stripe server honours ``Idempotency-Key`` as Stripe documents it.

Against the real wrapper (``python -m devstack.localstripe_server``): the same key and
parameters replay the first answer, other parameters are Stripe's 400
``idempotency_error``, the kept answers survive a restart, and a duplicate that arrives while
the first request still runs is Stripe's 409 ``idempotency_key_in_use`` (the layer itself,
in front of a handler slow enough to catch it in the act).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from devstack.localstripe_server import REPLAYED_HEADER, IdempotencyLayer
from tests.fixtures.stripe import (
    TEST_API_KEY,
    LocalStripe,
    intents_for_order,
    start_localstripe,
    stop_localstripe,
)

AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}


def _intent(order_id: str, amount: int = 1_000) -> dict[str, Any]:
    return {
        "amount": str(amount),
        "currency": "eur",
        "payment_method": "pm_card_visa",
        "confirm": "true",
        "metadata[order_id]": order_id,
    }


async def _post(base_url: str, key: str, data: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        return await http.post(
            "/v1/payment_intents", data=data, headers=AUTH | {"Idempotency-Key": key}
        )


async def test_same_key_and_parameters_replay_the_first_answer(localstripe: LocalStripe) -> None:
    order_id, key = f"idem-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    first = await _post(localstripe.base_url, key, _intent(order_id))
    assert first.status_code == 200, first.text
    assert REPLAYED_HEADER not in first.headers
    # The same parameters in another order are the same parameters.
    reordered = dict(reversed(list(_intent(order_id).items())))
    again = await _post(localstripe.base_url, key, reordered)
    assert again.status_code == 200
    assert again.headers[REPLAYED_HEADER] == "true"
    assert again.json() == first.json()
    assert await intents_for_order(localstripe.stripe_client(), order_id) == [first.json()["id"]]
    # Keys are per API key, as Stripe's are per account: another key executes anew.
    async with httpx.AsyncClient(base_url=localstripe.base_url, timeout=10) as http:
        other = await http.post(
            "/v1/payment_intents",
            data=_intent(order_id),
            headers={"Authorization": "Bearer sk_test_other", "Idempotency-Key": key},
        )
    assert other.status_code == 200 and other.json()["id"] != first.json()["id"]


async def test_same_key_with_other_parameters_is_an_idempotency_error(
    localstripe: LocalStripe,
) -> None:
    order_id, key = f"idem-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    assert (await _post(localstripe.base_url, key, _intent(order_id))).status_code == 200
    other = await _post(localstripe.base_url, key, _intent(order_id, amount=2_000))
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"
    assert key in other.json()["error"]["message"]
    # The SDK sees Stripe's own error class.
    client = localstripe.stripe_client()
    with pytest.raises(stripe.IdempotencyError):
        await client.v1.payment_intents.create_async(
            {"amount": 3_000, "currency": "eur", "payment_method": "pm_card_visa"},
            {"idempotency_key": key},
        )
    assert len(await intents_for_order(client, order_id)) == 1


async def test_concurrent_duplicates_execute_once(localstripe: LocalStripe) -> None:
    order_id, key = f"idem-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    answers = await asyncio.gather(
        *(_post(localstripe.base_url, key, _intent(order_id)) for _ in range(8))
    )
    ok = [a for a in answers if a.status_code == 200]
    busy = [a for a in answers if a.status_code == 409]
    assert len(ok) + len(busy) == len(answers), [a.text for a in answers]
    assert len({a.json()["id"] for a in ok}) == 1
    assert all(a.json()["error"]["code"] == "idempotency_key_in_use" for a in busy)
    assert await intents_for_order(localstripe.stripe_client(), order_id) == [ok[0].json()["id"]]


async def test_a_duplicate_while_the_first_runs_is_409_in_use_and_keeps_nothing() -> None:
    release, running = asyncio.Event(), asyncio.Event()
    calls: list[str] = []

    async def slow(request: web.Request) -> web.Response:
        calls.append((await request.post())["n"])  # type: ignore[arg-type]
        running.set()
        await release.wait()
        return web.json_response({"id": f"obj_{len(calls)}"})

    layer = IdempotencyLayer(None)
    app = web.Application(middlewares=[layer.middleware()])
    app.router.add_post("/v1/things", slow)
    async with TestClient(TestServer(app)) as client:
        headers = AUTH | {"Idempotency-Key": "k1"}
        first = asyncio.create_task(client.post("/v1/things", data={"n": "1"}, headers=headers))
        await asyncio.wait_for(running.wait(), 10)
        busy = await client.post("/v1/things", data={"n": "1"}, headers=headers)
        assert busy.status == 409
        error = (await busy.json())["error"]
        assert (error["type"], error["code"]) == ("idempotency_error", "idempotency_key_in_use")
        release.set()
        assert (await (await first).json()) == {"id": "obj_1"}
        replay = await client.post("/v1/things", data={"n": "1"}, headers=headers)
        assert replay.headers[REPLAYED_HEADER] == "true"
        assert await replay.json() == {"id": "obj_1"}
    assert calls == ["1"]


async def test_kept_answers_survive_a_restart_and_go_with_from_scratch(tmp_path: Path) -> None:
    order_id, key = f"idem-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    server = start_localstripe(tmp_path)
    try:
        first = await _post(server.base_url, key, _intent(order_id))
    finally:
        stop_localstripe(server.process)
    again = start_localstripe(tmp_path, from_scratch=False)
    try:
        replay = await _post(again.base_url, key, _intent(order_id))
        assert replay.headers[REPLAYED_HEADER] == "true"
        assert replay.json()["id"] == first.json()["id"]
    finally:
        stop_localstripe(again.process)
    fresh = start_localstripe(tmp_path, from_scratch=True)
    try:
        anew = await _post(fresh.base_url, key, _intent(order_id))
        assert anew.status_code == 200 and REPLAYED_HEADER not in anew.headers
    finally:
        stop_localstripe(fresh.process)
