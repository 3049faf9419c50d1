"""The API's own error tree and the handlers that turn every failure into ``{"detail": ...}``.

Routes and the gateway raise :class:`ApiError` subclasses; library exceptions that
escape (a Temporal server that is down, a database that is missing) are mapped here so
no client ever sees an HTML page or a bare 500 for something that is not a bug.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from temporalio.service import RPCError, RPCStatusCode

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with an HTTP status and a message meant for the client."""

    status_code = 500

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class BadRequest(ApiError):
    """The request cannot be processed as sent (400)."""

    status_code = 400


class Unauthorized(ApiError):
    """No valid credentials came with the request (401, with ``WWW-Authenticate``).

    ``scheme`` is what the client must send: ``Bearer`` (an API key) or a Stripe signature.
    """

    status_code = 401

    def __init__(self, detail: str, *, scheme: str = "Bearer") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": scheme})


class Forbidden(ApiError):
    """The caller's key does not allow this (403)."""

    status_code = 403


class NotFound(ApiError):
    """No such order, action or flow (404)."""

    status_code = 404


class Conflict(ApiError):
    """The request clashes with the order's state (409)."""

    status_code = 409


class PayloadTooLarge(ApiError):
    """The body exceeds the route's limit (413)."""

    status_code = 413


class Unprocessable(ApiError):
    """The body is well-formed but not acceptable (422)."""

    status_code = 422


class TooManyRequests(ApiError):
    """Retry later: the order is busy (429, with ``Retry-After``)."""

    status_code = 429

    def __init__(self, detail: str, *, retry_after_seconds: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_seconds)})


class ActionFailed(ApiError):
    """The workflow failed an action for a reason it did not classify (500)."""

    status_code = 500


class Unavailable(ApiError):
    """A backing service (Temporal, the database) cannot answer now (503)."""

    status_code = 503


class GatewayTimeout(ApiError):
    """Temporal did not answer in time; the operation may still complete (504)."""

    status_code = 504


# RPC statuses that mean "Temporal is not reachable or overloaded", not "your request is bad".
_UNAVAILABLE_STATUSES = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.UNKNOWN,
    RPCStatusCode.INTERNAL,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.UNAUTHENTICATED,
    RPCStatusCode.PERMISSION_DENIED,
}


def is_connect_failure(exc: BaseException) -> bool:
    """True for the SDK's error when a (lazy) client cannot reach the Temporal server."""
    return isinstance(exc, RuntimeError) and str(exc).startswith("Failed client connect")


def _body(status_code: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status_code, headers=headers)


def _too_large_message(limit: int) -> str:
    return f"request body larger than {limit} bytes, this route's limit"


class BodyTooLarge(StarletteHTTPException):
    """A body grew past its limit while it was read (413).

    An HTTPException, not an :class:`ApiError`: FastAPI passes those on from its body
    parsing, and turns any other exception raised there into a bare 400.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large_message(limit))


def body_too_large_response(limit: int) -> JSONResponse:
    """The 413 for a body over ``limit`` bytes, sent before any route runs."""
    return _body(PayloadTooLarge.status_code, _too_large_message(limit))


def non_finite_number(text: str) -> Unprocessable:
    """422 for a number JSON cannot carry (``NaN``, ``Infinity``, ``1e999``)."""
    return Unprocessable(
        f"the body holds a number that is not finite or too long ({text[:40]}): "
        "send amounts as integers in minor units"
    )


def json_too_deep(max_depth: int) -> BadRequest:
    """400 for JSON nested deeper than ``max_depth`` arrays and objects."""
    return BadRequest(f"the body's JSON is nested deeper than {max_depth} levels")


# What a 422 shows of each rejected value: enough to recognise it, never the whole of a
# large input sent back to its sender (or into a log).
MAX_ECHO_CHARS = 200


def _echo(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= MAX_ECHO_CHARS else value[:MAX_ECHO_CHARS] + "..."
    if isinstance(value, int | float | bool) or value is None:
        return value
    try:
        size = len(json.dumps(jsonable_encoder(value)))
    except (TypeError, ValueError):
        return None
    return value if size <= MAX_ECHO_CHARS else None


def _problem(problem: Mapping[str, Any]) -> dict[str, Any]:
    trimmed = dict(problem)
    if "input" in trimmed:
        trimmed["input"] = _echo(trimmed["input"])
    msg = str(trimmed.get("msg", ""))
    if len(msg) > 2 * MAX_ECHO_CHARS:  # a union's message names the tag it was sent
        trimmed["msg"] = msg[: 2 * MAX_ECHO_CHARS] + "..."
    return trimmed


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [_problem(problem) for problem in exc.errors()]
    return JSONResponse({"detail": jsonable_encoder(problems)}, status_code=422)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _body(exc.status_code, exc.detail, exc.headers)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path, for a 405's ``Allow`` header."""
    # Starlette names only the methods of the first route whose path matched
    # (``Allow: POST`` for ``/orders``, which also serves GET).
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    ]
    return ", ".join(allowed)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return _body(exc.status_code, detail, headers or None)


async def _rpc_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RPCError)
    log.warning("unexpected Temporal RPC error: %s (%s)", exc.message, exc.status.name)
    if exc.status in _UNAVAILABLE_STATUSES:
        return _body(503, f"Temporal is unavailable: {exc.message}", {"Retry-After": "5"})
    return _body(502, f"Temporal rejected the request: {exc.message}")


async def _runtime_error(_: Request, exc: Exception) -> JSONResponse:
    if is_connect_failure(exc):
        log.warning("cannot reach Temporal: %s", exc)
        return _body(503, "Temporal is unavailable: cannot connect", {"Retry-After": "5"})
    log.exception("unexpected error", exc_info=exc)
    return _body(500, "internal error")


async def _database_error(_: Request, exc: Exception) -> JSONResponse:
    log.warning("order database error: %s", exc)
    return _body(503, "the order database is unavailable", {"Retry-After": "5"})


def install_error_handlers(app: FastAPI) -> None:
    """Make every error a JSON ``{"detail": ...}`` with a fitting status."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RPCError, _rpc_error)
    app.add_exception_handler(RuntimeError, _runtime_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
