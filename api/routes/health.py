"""Liveness, readiness and the API's Prometheus metrics."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import Engine, text
from temporalio.client import Client

from api.schemas import Health
from telemetry.api import ApiMetrics

router = APIRouter(tags=["health"])

# A readiness probe answers within a load balancer's timeout, whatever is down.
PROBE_TIMEOUT = timedelta(seconds=2)

Probe = Literal["ok", "unavailable"]


class Readiness(BaseModel):
    """Readiness answer: each dependency ``ok`` or ``unavailable``, with the reasons."""

    temporal: Probe
    database: Probe
    problems: dict[str, str] | None = None


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The API process is up (it does not probe Temporal or the database)."""
    return Health()


def _reason(exc: BaseException) -> str:
    # The first line only: database errors append the SQL and a link to SQLAlchemy's docs.
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


async def _probe_temporal(client: Client | None) -> str | None:
    if client is None:
        return "the API is not connected to Temporal"
    try:
        # The server's own health service: cheap, and it needs a working connection.
        await asyncio.wait_for(
            client.service_client.check_health(timeout=PROBE_TIMEOUT),
            PROBE_TIMEOUT.total_seconds() + 1,
        )
    except Exception as exc:  # any failure means not ready; the reason is reported
        return _reason(exc)
    return None


def _select_one(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


async def _probe_database(engine: Engine | None) -> str | None:
    if engine is None:
        return "the API has no order database"
    try:
        await asyncio.wait_for(
            asyncio.to_thread(_select_one, engine), PROBE_TIMEOUT.total_seconds() + 1
        )
    except Exception as exc:  # any failure means not ready; the reason is reported
        return _reason(exc)
    return None


@router.get(
    "/readyz",
    response_model=Readiness,
    response_model_exclude_none=True,
    responses={503: {"model": Readiness}},
    # A probe for orchestrators and load balancers, like /metrics: not part of the API's
    # client surface (tests/api/test_flows.py counts that surface's operations).
    include_in_schema=False,
)
async def readyz(request: Request) -> JSONResponse:
    """Temporal and the order database are reachable (200), or which is not (503)."""
    state = request.app.state
    temporal, database = await asyncio.gather(
        _probe_temporal(getattr(state, "temporal_client", None)),
        _probe_database(getattr(state, "engine", None)),
    )
    problems = {
        name: reason
        for name, reason in (("temporal", temporal), ("database", database))
        if reason is not None
    }
    body = Readiness(
        temporal="unavailable" if temporal else "ok",
        database="unavailable" if database else "ok",
        problems=problems or None,
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=503 if problems else 200)


@router.get("/metrics", response_class=Response, include_in_schema=False)
async def metrics(request: Request) -> Response:
    """The API's metrics in Prometheus text format."""
    api_metrics: ApiMetrics = request.app.state.metrics
    return Response(generate_latest(api_metrics.registry), media_type=CONTENT_TYPE_LATEST)
