"""The API's own error tree, its one error body, and the handlers that answer every failure.

Routes and the gateway raise :class:`ApiError` subclasses; library exceptions that
escape (a Temporal server that is down, a database that is missing) are mapped here so
no client ever sees an HTML page or a bare 500 for something that is not a bug. Every
error answer, whoever makes it (a handler here, a middleware), is built by
:func:`error_response`: ``{"code": ..., "detail": ...}`` (:class:`ErrorBody`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from temporalio.service import RPCError, RPCStatusCode

log = logging.getLogger(__name__)


class ErrorCode(StrEnum):
    """What went wrong, for a program: stable across releases, unlike the message."""

    bad_request = "bad_request"  # 400: the body cannot be read as sent
    unauthenticated = "unauthenticated"  # 401: no valid credentials
    forbidden = "forbidden"  # 403: the key (or the actor) may not do this
    not_found = "not_found"  # 404: no such order, action, flow, account or route
    method_not_allowed = "method_not_allowed"  # 405
    conflict = "conflict"  # 409: the id or email exists with other data
    not_allowed = "not_allowed"  # 409: the action is not allowed now or for this actor
    payment_declined = "payment_declined"  # 409: the card was declined; nothing changed
    too_deep = "too_deep"  # 400: the body's JSON is nested deeper than the API reads
    too_large = "too_large"  # 413: the body exceeds the route's limit
    invalid = "invalid"  # 422: malformed, or refused by the flow's rules
    rate_limited = "rate_limited"  # 429: retry after ``Retry-After`` seconds
    internal = "internal"  # 500: a bug; the message says what failed
    upstream = "upstream"  # 502: Temporal refused the request
    unavailable = "unavailable"  # 503: Temporal, the database or the payment provider is down
    timeout = "timeout"  # 504: no answer in time; the operation may still complete


# The code of an answer whose maker names none: by its status (any other 4xx is a bad
# request, any other 5xx internal).
CODE_BY_STATUS: dict[int, ErrorCode] = {
    400: ErrorCode.bad_request,
    401: ErrorCode.unauthenticated,
    403: ErrorCode.forbidden,
    404: ErrorCode.not_found,
    405: ErrorCode.method_not_allowed,
    409: ErrorCode.conflict,
    413: ErrorCode.too_large,
    422: ErrorCode.invalid,
    429: ErrorCode.rate_limited,
    500: ErrorCode.internal,
    502: ErrorCode.upstream,
    503: ErrorCode.unavailable,
    504: ErrorCode.timeout,
}


# Every 429 and 503 says when to retry (seconds); the maker may name its own time.
RETRY_AFTER = {429: "1", 503: "5"}


def code_for(status_code: int) -> ErrorCode:
    """The default code of an error answer with ``status_code``."""
    fallback = ErrorCode.bad_request if status_code < 500 else ErrorCode.internal
    return CODE_BY_STATUS.get(status_code, fallback)


class FieldProblem(BaseModel):
    """One problem found in a request: where (``loc``) and what (``msg``)."""

    loc: list[str | int]
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] = Field(
        default_factory=dict, description="The rule's parameters (a limit, a pattern)."
    )


class ErrorBody(BaseModel):
    """Every error answer (4xx and 5xx): a stable ``code`` and a readable ``detail``.

    ``detail`` is one message, or for a malformed request (``code`` ``invalid``) the list
    of problems found in it.
    """

    code: ErrorCode
    detail: str | list[FieldProblem] = Field(
        description="One message, or the problems found in a malformed request."
    )


def error_response(
    status_code: int,
    detail: str | list[Any],
    *,
    code: ErrorCode | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The answer to every error: :class:`ErrorBody` as JSON with ``status_code``."""
    body = {"code": code or code_for(status_code), "detail": detail}
    retry_after = RETRY_AFTER.get(status_code)
    if retry_after is not None and "retry-after" not in {k.lower() for k in headers or {}}:
        headers = {**(headers or {}), "Retry-After": retry_after}
    return JSONResponse(body, status_code=status_code, headers=headers)


class ApiError(Exception):
    """An error with an HTTP status and a message meant for the client.

    ``code`` overrides the status's default (:func:`code_for`).
    """

    status_code = 500

    def __init__(
        self,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        code: ErrorCode | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers
        self.code = code


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
    return error_response(PayloadTooLarge.status_code, _too_large_message(limit))


def non_finite_number(text: str) -> Unprocessable:
    """422 for a number JSON cannot carry (``NaN``, ``Infinity``, ``1e999``)."""
    return Unprocessable(
        f"the body holds a number that is not finite or too long ({text[:40]}): "
        "send amounts as integers in minor units"
    )


def json_too_deep(max_depth: int) -> BadRequest:
    """400 for JSON nested deeper than ``max_depth`` arrays and objects."""
    return BadRequest(
        f"the body's JSON is nested deeper than {max_depth} levels", code=ErrorCode.too_deep
    )


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
    trimmed["ctx"] = trimmed.get("ctx") or {}
    return trimmed


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.detail, code=exc.code, headers=exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Trimmed, then through the model, so every problem has every field the document
    # says it has and none echoes a large input.
    trimmed = jsonable_encoder([_problem(problem) for problem in exc.errors()])
    problems = [FieldProblem.model_validate(problem) for problem in trimmed]
    return error_response(422, [problem.model_dump(mode="json") for problem in problems])


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
    return error_response(exc.status_code, detail, headers=headers or None)


async def _rpc_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RPCError)
    log.warning("unexpected Temporal RPC error: %s (%s)", exc.message, exc.status.name)
    if exc.status in _UNAVAILABLE_STATUSES:
        return error_response(
            503, f"Temporal is unavailable: {exc.message}", headers={"Retry-After": "5"}
        )
    return error_response(502, f"Temporal rejected the request: {exc.message}")


async def _runtime_error(_: Request, exc: Exception) -> JSONResponse:
    if is_connect_failure(exc):
        log.warning("cannot reach Temporal: %s", exc)
        return error_response(
            503, "Temporal is unavailable: cannot connect", headers={"Retry-After": "5"}
        )
    log.exception("unexpected error", exc_info=exc)
    return error_response(500, "internal error")


async def _database_error(_: Request, exc: Exception) -> JSONResponse:
    log.warning("order database error: %s", exc)
    return error_response(503, "the order database is unavailable", headers={"Retry-After": "5"})


def install_error_handlers(app: FastAPI) -> None:
    """Make every error an :class:`ErrorBody` with a fitting status."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RPCError, _rpc_error)
    app.add_exception_handler(RuntimeError, _runtime_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
