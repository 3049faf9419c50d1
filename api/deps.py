"""Typed dependencies of every route, in one place.

The app's lifespan (or the caller of ``create_app``) puts the settings, the Temporal
client and the database engine on ``app.state``; routes receive them through these
aliases, so a test can hand in its own without patching anything.

The dependencies that only read ``app.state`` are ``async``: FastAPI runs a plain function
in its thread pool, and a thread hop for each of them cost every action measurable time
(bench/latency.py). Those that block on the database stay plain functions.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client

from api.auth import Caller
from api.bodies import StrictJsonRoute
from api.errors import ErrorBody, Unauthorized, Unavailable, Unprocessable
from api.gateway import Timeouts
from api.keycache import KeyCache
from api.ratelimit import FailedKeyGuard, client_address
from config.settings import Settings
from db.keys import KEY_PREFIX, KeyRole, hash_key, lookup_hash


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_temporal_client(request: Request) -> Client:
    """The app's Temporal client."""
    client: Client | None = getattr(request.app.state, "temporal_client", None)
    if client is None:
        raise Unavailable("the API is not connected to Temporal")
    return client


def _engine_of(request: Request) -> Engine:
    engine: Engine | None = getattr(request.app.state, "engine", None)
    if engine is None:
        raise Unavailable("the API has no order database")
    return engine


async def get_engine(request: Request) -> Engine:
    """The read model's database engine."""
    return _engine_of(request)


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    """A read-only unit of work on the order database, closed after the request."""
    with Session(engine) as session:
        yield session


async def get_timeouts(request: Request) -> Timeouts:
    """How long the API waits on Temporal."""
    timeouts: Timeouts = request.app.state.timeouts
    return timeouts


# auto_error=False: the 401 and its message are ours, not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="An orderclock API key (ock_...).")


async def authenticate(request: Request) -> Caller:
    """The caller named by the request's bearer key; 401 if it is missing, unknown or revoked.

    A key this process found active less than ``api_key_cache_seconds`` ago is taken from
    the app's :class:`~api.keycache.KeyCache`; any other is read from the database (in a
    thread: the read blocks). Wrong keys are limited per client address
    (:class:`~api.ratelimit.FailedKeyGuard`: 429 once an address has sent too many).
    """
    scheme, key = get_authorization_scheme_param(request.headers.get("Authorization"))
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("missing API key: send the header 'Authorization: Bearer <key>'")
    if not key.startswith(KEY_PREFIX):
        raise Unauthorized(UNKNOWN_KEY)
    return await caller_of_key_hash(request, hash_key(key))


UNKNOWN_KEY = "the API key is unknown or has been revoked"


async def caller_of_key_hash(request: Request, key_hash: str) -> Caller:
    """The active key whose hash is ``key_hash``, through the key cache; 401 if there is none.

    The API's bearer keys and the console's sessions (which keep only the hash) both come
    here, so a revoked key stops working in both within the cache's time.
    """
    cache: KeyCache = request.app.state.key_cache
    caller = cache.get(key_hash)
    if caller is None:
        guard: FailedKeyGuard = request.app.state.key_guard
        address = client_address(request)
        guard.check(address, key_hash)
        try:
            caller = await run_in_threadpool(_read_key, _engine_of(request), key_hash)
        except Unauthorized:
            guard.failed(address, key_hash)
            raise
        guard.succeeded(key_hash)
        cache.put(key_hash, caller)
    return caller


def _read_key(engine: Engine, key_hash: str) -> Caller:
    with Session(engine) as session:
        row = lookup_hash(session, key_hash)
    if row is None:
        raise Unauthorized(UNKNOWN_KEY)
    return Caller(name=row.name, role=KeyRole(row.role), tenant=row.tenant)


class KeyProtectedRoute(StrictJsonRoute):
    """A route that needs an API key, checked before the request's body is read.

    FastAPI decodes and validates the body before it runs any dependency, so with the
    check in a dependency alone a request without a key but with a malformed body would
    get a 400 or 422 describing the body instead of its 401.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def authenticated(request: Request) -> Response:
            request.state.caller = await authenticate(request)
            return await handler(request)

        return authenticated


async def get_current_caller(
    request: Request,
    # Declares the Bearer scheme in the OpenAPI document; the key itself is read above.
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The caller :class:`KeyProtectedRoute` authenticated (or authenticated now)."""
    caller: Caller | None = getattr(request.state, "caller", None)
    return caller if caller is not None else await authenticate(request)


def key_protected_router(*, prefix: str, tags: list[str | Enum]) -> APIRouter:
    """A router whose every route needs an API key: 401 before anything else is looked at."""
    return APIRouter(
        prefix=prefix,
        tags=tags,
        route_class=KeyProtectedRoute,
        dependencies=[Depends(get_current_caller)],
        responses={401: {"model": ErrorBody, "description": "No valid API key"}},
    )


async def single_valued_query(request: Request) -> None:
    """422 for a query parameter given twice (``?status=a&status=b``): which one was meant?"""
    # FastAPI would silently keep the last value of a parameter that takes one.
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name in seen:
            raise Unprocessable(f"query parameter {name!r} is given more than once")
        seen.add(name)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
TemporalClientDep = Annotated[Client, Depends(get_temporal_client)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
TimeoutsDep = Annotated[Timeouts, Depends(get_timeouts)]
CurrentCaller = Annotated[Caller, Depends(get_current_caller)]
