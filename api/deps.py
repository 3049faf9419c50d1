"""Typed dependencies of every route, in one place.

The app's lifespan (or the caller of ``create_app``) puts the settings, the Temporal
client and the database engine on ``app.state``; routes receive them through these
aliases, so a test can hand in its own without patching anything.

The dependencies that only read ``app.state`` are ``async``: FastAPI runs a plain function
in its thread pool, and a thread hop for each of them cost every action measurable time
(bench/latency.py). Those that block on the database stay plain functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from api.auth import Caller
from api.errors import Unauthorized, Unavailable
from api.gateway import Timeouts
from config.settings import Settings
from db.keys import KeyRole, lookup


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


async def get_engine(request: Request) -> Engine:
    """The read model's database engine."""
    engine: Engine | None = getattr(request.app.state, "engine", None)
    if engine is None:
        raise Unavailable("the API has no order database")
    return engine


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


def get_current_caller(
    engine: Annotated[Engine, Depends(get_engine)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The caller named by the request's bearer key; 401 if it is missing, unknown or revoked."""
    # A plain function: FastAPI runs it in a thread, off the event loop.
    if credentials is None or not credentials.credentials:
        raise Unauthorized("missing API key: send the header 'Authorization: Bearer <key>'")
    with Session(engine) as session:
        row = lookup(session, credentials.credentials)
    if row is None:
        raise Unauthorized("the API key is unknown or has been revoked")
    return Caller(name=row.name, role=KeyRole(row.role))


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
TemporalClientDep = Annotated[Client, Depends(get_temporal_client)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
TimeoutsDep = Annotated[Timeouts, Depends(get_timeouts)]
CurrentCaller = Annotated[Caller, Depends(get_current_caller)]
