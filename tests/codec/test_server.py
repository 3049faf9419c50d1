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
from models.common import Party
from tests.fixtures.devstack import clean_environment, free_ports, orderclock_command

UI = "http://127.0.0.1:8233"
TOKEN = "operator-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CUSTOMER = Party(id="cus-1", name="Cleo Customer", email="cleo@example.com")
CODEC = EncryptionCodec.from_spec(f"k1:{new_key()}")


def body_of(payloads: list[Payload]) -> dict[str, Any]:
    return {"payloads": [json_format.MessageToDict(payload) for payload in payloads]}


def payloads_of(body: dict[str, Any]) -> list[Payload]:
    return [json_format.ParseDict(item, Payload()) for item in body["payloads"]]


@pytest.fixture
async def codec_client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_codec_app(CODEC, allowed_origins=[UI], token=TOKEN)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://codec") as http:
        yield http


async def test_encode_then_decode_round_trips(codec_client: httpx.AsyncClient) -> None:
    plain = pydantic_data_converter.payload_converter.to_payloads([CUSTOMER])

    encoded = await codec_client.post("/codec/encode", json=body_of(plain), headers=AUTH)
    assert encoded.status_code == 200
    [sealed] = payloads_of(encoded.json())
    assert sealed.metadata["encoding"] == b"binary/encrypted"
    assert b"Cleo" not in sealed.data
    assert (
        encoded.json()["payloads"][0]["metadata"]["encoding"]
        == base64.b64encode(b"binary/encrypted").decode()
    )

    decoded = await codec_client.post("/codec/decode", json=encoded.json(), headers=AUTH)
    assert decoded.status_code == 200
    assert payloads_of(decoded.json()) == plain


async def test_decode_passes_plain_payloads_and_empty_lists(
    codec_client: httpx.AsyncClient,
) -> None:
    plain = pydantic_data_converter.payload_converter.to_payloads(["hello"])
    decoded = await codec_client.post("/codec/decode", json=body_of(plain), headers=AUTH)
    assert payloads_of(decoded.json()) == plain
    empty = await codec_client.post("/codec/decode", json={"payloads": []}, headers=AUTH)
    assert empty.json() == {"payloads": []}


async def test_bad_bodies_and_foreign_keys_are_400(codec_client: httpx.AsyncClient) -> None:
    bad = await codec_client.post("/codec/decode", content=b"{not json", headers=AUTH)
    assert bad.status_code == 400
    [foreign] = await EncryptionCodec.from_spec(f"k9:{new_key()}").encode(
        pydantic_data_converter.payload_converter.to_payloads(["x"])
    )
    refused = await codec_client.post("/codec/decode", json=body_of([foreign]), headers=AUTH)
    assert refused.status_code == 400
    assert "k9" in refused.json()["detail"]


async def test_preflight_answers_the_web_ui_origin(codec_client: httpx.AsyncClient) -> None:
    response = await codec_client.options(
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

    elsewhere = await codec_client.options(
        "/codec/decode",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert elsewhere.status_code == 400
    assert "access-control-allow-origin" not in elsewhere.headers


async def test_token_is_required(codec_client: httpx.AsyncClient) -> None:
    body: dict[str, list[Any]] = {"payloads": []}
    missing = await codec_client.post("/codec/decode", json=body, headers={"Origin": UI})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    # The UI sees the refusal rather than a CORS error.
    assert missing.headers["access-control-allow-origin"] == UI
    wrong = await codec_client.post(
        "/codec/encode", json=body, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401


async def test_without_a_token_every_call_is_refused() -> None:
    # The attack: POST /codec/decode with no key returned a customer's name and email.
    sealed = await CODEC.encode(pydantic_data_converter.payload_converter.to_payloads([CUSTOMER]))
    app = create_codec_app(CODEC, allowed_origins=[UI], token=None)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://codec") as http:
        response = await http.post("/codec/decode", json=body_of(sealed))
        with_a_guess = await http.post("/codec/decode", json=body_of(sealed), headers=AUTH)
    for refused in (response, with_a_guess):
        assert refused.status_code == 503
        assert refused.json()["code"] == "unavailable"
        assert "ORDERCLOCK_CODEC_TOKEN" in refused.json()["detail"]
        assert "Cleo" not in refused.text


async def test_deep_nesting_is_400_and_non_finite_numbers_422(
    codec_client: httpx.AsyncClient,
) -> None:
    deep = await codec_client.post(
        "/codec/decode", content=b'{"payloads": ' + b"[" * 1000 + b"]" * 1000 + b"}", headers=AUTH
    )
    assert deep.status_code == 400
    assert deep.json()["code"] == "too_deep"
    assert "nested" in deep.json()["detail"]
    infinite = await codec_client.post(
        "/codec/decode", content=b'{"payloads": [1e999]}', headers=AUTH
    )
    assert infinite.status_code == 422
    assert infinite.json()["code"] == "invalid"


async def test_the_web_ui_sends_the_token_as_a_path_segment(
    codec_client: httpx.AsyncClient,
) -> None:
    plain = pydantic_data_converter.payload_converter.to_payloads([CUSTOMER])
    encoded = await codec_client.post(f"/codec/{TOKEN}/encode", json=body_of(plain))
    assert encoded.status_code == 200
    decoded = await codec_client.post(f"/codec/{TOKEN}/decode", json=encoded.json())
    assert payloads_of(decoded.json()) == plain
    wrong = await codec_client.post("/codec/not-the-token/decode", json=encoded.json())
    assert wrong.status_code == 401
    assert "Cleo" not in wrong.text


async def test_a_huge_body_is_413_before_it_is_read() -> None:
    # The attack: /codec/encode took 80 MiB without complaint.
    app = create_codec_app(CODEC, allowed_origins=[UI], token=TOKEN, max_body_bytes=1024 * 1024)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://codec") as http:
        declared = await http.post(
            "/codec/encode",
            content=b"x" * (80 * 1024 * 1024),
            headers={**AUTH, "Content-Type": "application/json"},
        )

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(2 * 1024):
                yield b"x" * 1024

        streamed = await http.post("/codec/encode", content=chunks(), headers=AUTH)
    for refused in (declared, streamed):
        assert refused.status_code == 413
        assert refused.json()["code"] == "too_large"
        assert str(1024 * 1024) in refused.json()["detail"]


def assert_refuses_to_start(tmp_path: Path, keys_env: str, env: dict[str, str], named: str) -> None:
    """``orderclock codec-server`` exits 2 with a message naming ``named``, no traceback."""
    result = subprocess.run(
        [*orderclock_command(), "codec-server", "--keys-env", keys_env],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_command_without_a_token_exits_2(tmp_path: Path) -> None:
    env = clean_environment() | {"TEST_PAYLOAD_KEYS": f"k1:{new_key()}"}
    assert_refuses_to_start(tmp_path, "TEST_PAYLOAD_KEYS", env, "ORDERCLOCK_CODEC_TOKEN")


def test_command_without_keys_exits_2(tmp_path: Path) -> None:
    assert_refuses_to_start(tmp_path, "NO_SUCH_KEYS_VAR", clean_environment(), "NO_SUCH_KEYS_VAR")


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
        assert httpx.post(f"{url}/{TOKEN}/decode", json=encoded.json()).json() == plain
    finally:
        process.terminate()
        process.wait(timeout=10)
