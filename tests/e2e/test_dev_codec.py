"""``orderclock dev`` gives the Web UI the codec token; the codec refuses anyone without it."""

from __future__ import annotations

import httpx
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from codec import EncryptionCodec
from models.common import Party
from tests.fixtures.devstack import DevStack

CUSTOMER = Party(id="cus-1", name="Cleo Customer", email="cleo@example.com")


async def test_the_web_ui_decodes_through_its_configured_endpoint(devstack: DevStack) -> None:
    codec = EncryptionCodec.from_spec(devstack.payload_keys)
    sealed = await codec.encode(pydantic_data_converter.payload_converter.to_payloads([CUSTOMER]))
    body = {"payloads": [json_format.MessageToDict(payload) for payload in sealed]}
    async with httpx.AsyncClient(timeout=30) as http:
        # What the Web UI's browser code is told to call (its settings API).
        settings = (await http.get(f"{devstack.web_ui_url}/api/v1/settings")).json()
        endpoint = settings["Codec"]["Endpoint"]
        assert endpoint.startswith(f"{devstack.api_base_url}/codec/")
        headers = {"Origin": devstack.web_ui_url}
        decoded = await http.post(f"{endpoint}/decode", json=body, headers=headers)
        assert decoded.status_code == 200, decoded.text
        assert decoded.headers["access-control-allow-origin"] == devstack.web_ui_url
        [plain] = [json_format.ParseDict(item, Payload()) for item in decoded.json()["payloads"]]
        assert b"Cleo Customer" in plain.data
        # Without the token (the API key is no codec token): refused, nothing decrypted.
        for refused in (
            await http.post(f"{devstack.api_base_url}/codec/decode", json=body),
            await http.post(
                f"{devstack.api_base_url}/codec/decode", json=body, headers=devstack.auth_headers
            ),
        ):
            assert refused.status_code == 401
            assert "Cleo" not in refused.text
