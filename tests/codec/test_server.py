"""The codec server speaks Temporal's remote codec protocol, with CORS and a bearer token."""

from __future__ import annotations

import base64
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from codec import EncryptionCodec, new_key
from codec.server import create_codec_app
from models.orders import Party
from tests.fixtures.devstack import clean_environment, free_ports, orderclock_command

UI = "http://127.0.0.1:8233"
TOKEN = "operator-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CUSTOMER = Party(id="cus-1", name="Cleo Customer", email="cleo@example.com")
CODEC = EncryptionCodec.from_spec(f"k1:{new_key()}")


def body_of(payloads: list[Payload]) -> dict[str, Any]:
    return {"payloads": [json_format.MessageToDict(payload) for payload in payloads]}


def payloads_of(body: dict[str, Any]) -> list[Payload]:
    return [json_format.ParseDict(item, Payload()) for item in body["payloads"]]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_codec_app(CODEC, allowed_origins=[UI], token=TOKEN)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://codec") as http:
        yield http


async def test_encode_then_decode_round_trips(client: httpx.AsyncClient) -> None:
    plain = pydantic_data_converter.payload_converter.to_payloads([CUSTOMER])

    encoded = await client.post("/codec/encode", json=body_of(plain), headers=AUTH)
    assert encoded.status_code == 200
    [sealed] = payloads_of(encoded.json())
    assert sealed.metadata["encoding"] == b"binary/encrypted"
    assert b"Cleo" not in sealed.data
    assert (
        encoded.json()["payloads"][0]["metadata"]["encoding"]
        == base64.b64encode(b"binary/encrypted").decode()
    )

    decoded = await client.post("/codec/decode", json=encoded.json(), headers=AUTH)
    assert decoded.status_code == 200
    assert payloads_of(decoded.json()) == plain


async def test_decode_passes_plain_payloads_and_empty_lists(client: httpx.AsyncClient) -> None:
    plain = pydantic_data_converter.payload_converter.to_payloads(["hello"])
    decoded = await client.post("/codec/decode", json=body_of(plain), headers=AUTH)
    assert payloads_of(decoded.json()) == plain
    empty = await client.post("/codec/decode", json={"payloads": []}, headers=AUTH)
    assert empty.json() == {"payloads": []}


async def test_bad_bodies_and_foreign_keys_are_400(client: httpx.AsyncClient) -> None:
    bad = await client.post("/codec/decode", content=b"{not json", headers=AUTH)
    assert bad.status_code == 400
    [foreign] = await EncryptionCodec.from_spec(f"k9:{new_key()}").encode(
        pydantic_data_converter.payload_converter.to_payloads(["x"])
    )
    refused = await client.post("/codec/decode", json=body_of([foreign]), headers=AUTH)
    assert refused.status_code == 400
    assert "k9" in refused.json()["detail"]


async def test_preflight_answers_the_web_ui_origin(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/codec/decode",
        headers={
            "Origin": UI,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization,x-namespace",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == UI
    allowed = response.headers["access-control-allow-headers"].lower()
    for header in ("content-type", "authorization", "x-namespace"):
        assert header in allowed
    assert "POST" in response.headers["access-control-allow-methods"]

    elsewhere = await client.options(
        "/codec/decode",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert elsewhere.status_code == 400
    assert "access-control-allow-origin" not in elsewhere.headers


async def test_token_is_required(client: httpx.AsyncClient) -> None:
    body: dict[str, list[Any]] = {"payloads": []}
    missing = await client.post("/codec/decode", json=body, headers={"Origin": UI})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    # The UI sees the refusal rather than a CORS error.
    assert missing.headers["access-control-allow-origin"] == UI
    wrong = await client.post("/codec/encode", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


async def test_without_a_token_no_header_is_needed() -> None:
    app = create_codec_app(CODEC, allowed_origins=[UI], token=None)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://codec") as http:
        response = await http.post("/codec/decode", json={"payloads": []})
    assert response.status_code == 200


def test_command_without_keys_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [*orderclock_command(), "codec-server", "--keys-env", "NO_SUCH_KEYS_VAR"],
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "NO_SUCH_KEYS_VAR" in result.stderr
    assert "Traceback" not in result.stderr


def test_command_serves_the_codec(tmp_path: Path) -> None:
    [port] = free_ports(1)
    env = clean_environment() | {"TEST_PAYLOAD_KEYS": f"k1:{new_key()}", "TEST_TOKEN": TOKEN}
    process = subprocess.Popen(
        [
            *orderclock_command(),
            "codec-server",
            "--port",
            str(port),
            "--keys-env",
            "TEST_PAYLOAD_KEYS",
            "--token-env",
            "TEST_TOKEN",
            "--web-origin",
            UI,
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        plain = body_of(pydantic_data_converter.payload_converter.to_payloads(["hi"]))
        url = f"http://127.0.0.1:{port}/codec"
        # A bound for a server that never comes up, not a speed check: a busy 2-core
        # machine took more than 30 s to start the command.
        deadline = time.monotonic() + 120
        while True:
            try:
                encoded = httpx.post(f"{url}/encode", json=plain, headers=AUTH)
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        assert encoded.status_code == 200
        decoded = httpx.post(f"{url}/decode", json=encoded.json(), headers=AUTH)
        assert decoded.json() == plain
        assert httpx.post(f"{url}/decode", json=plain).status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=10)
