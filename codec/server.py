"""Temporal's remote codec protocol over HTTP, so the Web UI and CLI can show decrypted payloads."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from codec.aesgcm import PayloadDecryptionError

Transform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


def _payloads_from(body: bytes) -> Payloads:
    try:
        return json_format.Parse(body, Payloads())
    except json_format.ParseError as exc:
        raise HTTPException(400, f"body is not a Payloads JSON object: {exc}") from None


def _payloads_json(payloads: Sequence[Payload]) -> dict[str, Any]:
    # Built by hand: MessageToDict drops the "payloads" key of an empty list.
    return {"payloads": [json_format.MessageToDict(payload) for payload in payloads]}


def create_codec_app(
    codec: PayloadCodec,
    *,
    allowed_origins: list[str],
    token: str | None,
    prefix: str = "/codec",
) -> FastAPI:
    """The codec server: POST /codec/encode and /codec/decode, CORS for the Web UI."""

    def authorised(authorization: Annotated[str | None, Header()] = None) -> None:
        # Decoding reveals personal data: only operators holding the token may ask.
        if token is None:
            return
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(
                401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )

    app = FastAPI(
        title="orderclock codec server",
        summary="Encrypts and decrypts Temporal payloads for the Web UI and the temporal CLI.",
        dependencies=[Depends(authorised)],
    )

    async def transform(request: Request, apply: Transform) -> JSONResponse:
        payloads = _payloads_from(await request.body())
        try:
            result = await apply(payloads.payloads)
        except PayloadDecryptionError as exc:
            raise HTTPException(400, str(exc)) from None
        return JSONResponse(_payloads_json(result))

    @app.post(f"{prefix}/encode")
    async def encode(request: Request) -> JSONResponse:
        """Encrypt payloads with the current key."""
        return await transform(request, codec.encode)

    @app.post(f"{prefix}/decode")
    async def decode(request: Request) -> JSONResponse:
        """Decrypt payloads; unencrypted ones come back unchanged."""
        return await transform(request, codec.decode)

    app.add_middleware(
        CORSMiddleware,
        allow_origins=allowed_origins,
        # The Web UI can send the operator's credentials along ("include credentials").
        allow_credentials=True,
        allow_methods=["POST", "OPTIONS"],
        allow_headers=["content-type", "authorization", "x-namespace"],
    )
    return app
