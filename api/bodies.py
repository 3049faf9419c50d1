"""Request bodies: bounded in size before they are read, parsed as strict JSON.

Every route's body passes :class:`BodyLimitMiddleware` (a declared ``Content-Length`` over
the limit is a 413 before a byte is read; a body streamed without one is cut off at the
limit). Every JSON body is parsed by :func:`loads`: ``NaN``, ``Infinity`` and numbers that
overflow a float (``1e999``) are a 422, nesting deeper than :data:`MAX_JSON_DEPTH` a 400.
Python's own parser takes all of them, and they broke things further in (the 422 handler
could not encode an infinity; a thousand levels exhausted the recursion limit).
"""

from __future__ import annotations

import email.message
import json
import math
from collections.abc import Callable, Coroutine, Mapping
from contextlib import suppress
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import BodyTooLarge, body_too_large_response, json_too_deep, non_finite_number

MAX_JSON_DEPTH = 32
"""Arrays and objects inside each other: orderclock's own bodies need 6, Stripe's events
about 10; far more is an attack on whatever walks the value recursively."""


class _NonFinite(ValueError):
    pass


def _no_constant(name: str) -> float:
    raise _NonFinite(name)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NonFinite(text)
    return number


def _too_deep(value: Any) -> bool:
    # Iterative, so the check itself cannot exhaust the recursion limit.
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def loads(body: bytes | str) -> Any:
    """``json.loads``, refusing non-finite numbers (422) and deep nesting (400).

    Malformed JSON raises ``json.JSONDecodeError`` as ``json.loads`` does.
    """
    try:
        value = json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    except _NonFinite as err:
        raise non_finite_number(str(err)) from None
    except RecursionError:
        raise json_too_deep(MAX_JSON_DEPTH) from None
    except json.JSONDecodeError:
        raise
    except ValueError as err:  # an integer of more than 4300 digits
        raise non_finite_number(str(err)[:80]) from None
    if _too_deep(value):
        raise json_too_deep(MAX_JSON_DEPTH)
    return value


def is_json(content_type: str | None) -> bool:
    """True for the content types FastAPI reads as JSON (``application/json``, ``...+json``)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class StrictJsonRequest(Request):
    """A request whose ``json()`` is :func:`loads`."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    """A route whose JSON body is parsed by :func:`loads` before FastAPI validates it.

    Parsed here, not inside FastAPI's handler: that one turns any exception of the
    parser but malformed JSON into a bare 400.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def strict(request: Request) -> Response:
            request = StrictJsonRequest(request.scope, request.receive)
            if is_json(request.headers.get("content-type")) and await request.body():
                # Malformed JSON: FastAPI's own 422 then says where.
                with suppress(json.JSONDecodeError):
                    await request.json()
            return await handler(request)

        return strict


class BodyLimitMiddleware:
    """Refuse a request body over its path's limit (413), before or while it is read."""

    def __init__(self, app: ASGIApp, *, default: int, limits: Mapping[str, int]) -> None:
        self.app = app
        self.default = default
        # Longest prefix first, so /webhooks/stripe is not taken for a shorter one.
        self.limits = sorted(limits.items(), key=lambda item: -len(item[0]))

    def limit_for(self, path: str) -> int:
        """The limit of the route at ``path``."""
        for prefix, limit in self.limits:
            if path == prefix or path.startswith(prefix + "/"):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(str(scope.get("path", "")))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await body_too_large_response(limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, tracked)
        except BodyTooLarge:
            # Raised where no exception handler turned it into the answer.
            if started:
                raise
            await body_too_large_response(limit)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
