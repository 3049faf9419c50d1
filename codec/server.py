"""Temporal's remote codec protocol over HTTP, so the Web UI and CLI can show decrypted payloads.

Decoding reveals customers' personal data, so every call needs the codec token, in one of
two ways: ``Authorization: Bearer <token>`` (the temporal CLI's ``--codec-auth``), or as
a path segment, ``<prefix>/<token>/decode``, for the Temporal Web UI, which can be given
an endpoint URL but no header to send. Without a token configured every call is refused.
CORS answers only the configured Web UI origins, and bodies are bounded.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from api.bodies import BodyLimitMiddleware, loads
from api.errors import install_error_handlers
from codec.aesgcm import PayloadDecryptionError

Transform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]

CODEC_PATH = "/codec"
"""Where the API mounts the codec (and where ``orderclock codec-server`` serves it)."""
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
_PATH_TOKEN = "orderclock.codec_path_token"
_OPERATIONS = "encode|decode"


def _payloads_from(body: bytes) -> Payloads:
    # loads' own refusals (non-finite numbers, deep nesting) answer as they are.
    try:
        return json_format.ParseDict(loads(body), Payloads())
    except (ValueError, json_format.ParseError) as exc:
        raise HTTPException(400, f"body is not a Payloads JSON object: {exc}") from None


def _payloads_json(payloads: Sequence[Payload]) -> dict[str, Any]:
    # Built by hand: MessageToDict drops the "payloads" key of an empty list.
    return {"payloads": [json_format.MessageToDict(payload) for payload in payloads]}


class _TokenInPath:
    """Takes a token out of ``<prefix>/<token>/<operation>`` before routing and logging.

    The scope's path becomes ``<prefix>/<operation>`` in place (the access log, written
    from the same scope, never shows the token) and the token waits in the scope for the
    route's check.
    """

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix
        self.pattern = re.compile(f"^{re.escape(prefix)}/([^/]+)/({_OPERATIONS})$")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # Mounted, the path is the whole one and root_path the mount's.
            root = str(scope.get("root_path", ""))
            path = str(scope.get("path", ""))
            found = self.pattern.match(path.removeprefix(root))
            if found:
                token, operation = found.groups()
                scope[_PATH_TOKEN] = token
                scope["path"] = f"{root}{self.prefix}/{operation}"
                scope["raw_path"] = scope["path"].encode()
        await self.app(scope, receive, send)


def create_codec_app(
    codec: PayloadCodec,
    *,
    allowed_origins: list[str],
    token: str | None,
    prefix: str = CODEC_PATH,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> ASGIApp:
    """The codec server: POST <prefix>/encode and /decode, CORS for the Web UI."""

    def authorised(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
        if token is None:
            raise HTTPException(
                503, "the codec is switched off: set ORDERCLOCK_CODEC_TOKEN to use it"
            )
        given: str | None = request.scope.get(_PATH_TOKEN)
        if given is None:
            scheme, _, given = (authorization or "").partition(" ")
            given = given if scheme.lower() == "bearer" else ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(
                401,
                "a valid codec token is required: 'Authorization: Bearer <token>' or "
                "the endpoint <codec URL>/<token>",
                headers={"WWW-Authenticate": "Bearer"},
            )

    app = FastAPI(
        title="orderclock codec server",
        summary="Encrypts and decrypts Temporal payloads for the Web UI and the temporal CLI.",
        dependencies=[Depends(authorised)],
    )
    # The API's error body (code and detail) here too: mounted, the codec is part of it.
    install_error_handlers(app)

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
        # Exact origins only (config.settings checks them): with credentials allowed, a
        # wildcard would let any site's page decrypt through an operator's browser.
        allow_origins=allowed_origins,
        # The Web UI can send the operator's credentials along ("include credentials").
        allow_credentials=True,
        allow_methods=["POST", "OPTIONS"],
        allow_headers=["content-type", "authorization", "x-namespace"],
    )
    bounded = BodyLimitMiddleware(_TokenInPath(app, prefix), default=max_body_bytes, limits={})
    return bounded
