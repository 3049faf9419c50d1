"""The API's Prometheus metrics and access log: requests by route template and status.

A pure ASGI middleware (not ``BaseHTTPMiddleware``, which runs the app in another task)
reads the matched route from the ASGI scope after the app answered: FastAPI writes
``scope["route"]`` while routing, so the label is ``/orders/{order_id}``, never a raw
path, and the number of label values stays bounded by the number of routes.

The same middleware writes one access line per request (``orderclock.access``: method,
path, route, status, duration, client), so the line and the metrics agree; inside
``telemetry.logs.RequestContextMiddleware`` it carries the request's order id.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("orderclock.access")

UNMATCHED = "unmatched"
"""The route label of a request no route matched (a 404 for an unknown path)."""

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ApiMetrics:
    """The API's metrics, on a registry of their own (one per app, so tests never share)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "orderclock_api_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "orderclock_api_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )


def route_template(scope: Scope) -> str:
    """The path template of the route that handled ``scope``, or ``unmatched``."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class MetricsMiddleware:
    """Counts every HTTP request and times it, labelled by route template and status."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # an exception that escapes the app is answered 500 by Starlette

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = route_template(scope)
            method = str(scope.get("method", ""))
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            _log_access(scope, method, route, status, elapsed)


def _log_access(scope: Scope, method: str, route: str, status: int, elapsed: float) -> None:
    path = str(scope.get("path", ""))
    client = scope.get("client")
    duration_ms = round(elapsed * 1000, 2)
    access_log.info(
        "%s %s %d %.2f ms",
        method,
        path,
        status,
        duration_ms,
        extra={
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
            "client": client[0] if client else None,
        },
    )
