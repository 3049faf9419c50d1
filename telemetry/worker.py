"""The worker's two metrics endpoints: the Temporal SDK runtime's and orderclock's own.

The SDK's core (Rust) serves its own Prometheus endpoint from a ``Runtime``; it cannot
take ``prometheus_client`` collectors, so orderclock's counters (:mod:`telemetry.orders`)
are served by ``prometheus_client`` on a second port. Where both listen is the worker's
settings (``worker_metrics_host``, ``worker_metrics_port``, ``worker_sdk_metrics_port``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

log = logging.getLogger("orderclock.telemetry")


def prometheus_runtime(host: str, port: int) -> Runtime:
    """A Temporal runtime whose metrics are served in Prometheus format at ``host:port``."""
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=f"{host}:{port}", durations_as_seconds=True)
        )
    )


@dataclass
class MetricsServer:
    """A running ``prometheus_client`` HTTP server."""

    server: WSGIServer
    thread: Thread

    @property
    def port(self) -> int:
        """The port it listens on (useful when started on port 0)."""
        return int(self.server.server_port)

    def close(self) -> None:
        """Stop serving and free the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> MetricsServer:
    """Serve ``registry`` at ``http://host:port/metrics`` from a daemon thread."""
    server, thread = start_http_server(port, addr=host, registry=registry)
    return MetricsServer(server, thread)


# Metrics are not worth losing orders over: a worker whose metrics port is taken (a second
# worker on the same host with the default ports) runs on and says so in its log.


def prometheus_runtime_or_none(host: str, port: int) -> Runtime | None:
    """:func:`prometheus_runtime`, or None (the SDK's default runtime) if it cannot bind."""
    try:
        return prometheus_runtime(host, port)
    except ValueError as exc:  # the SDK reports a failed bind as ValueError
        log.warning("Temporal SDK metrics disabled: cannot serve on %s:%d: %s", host, port, exc)
        return None


def serve_metrics_or_none(
    registry: CollectorRegistry, host: str, port: int
) -> MetricsServer | None:
    """:func:`serve_metrics`, or None if the port cannot be bound."""
    try:
        return serve_metrics(registry, host, port)
    except OSError as exc:
        log.warning("orderclock metrics disabled: cannot serve on %s:%d: %s", host, port, exc)
        return None
