"""Metrics and structured logs for the worker and the API.

- :mod:`telemetry.api`: the API's request counters and latency histogram (``GET /metrics``).
- :mod:`telemetry.orders`: orderclock's own worker counters, counted from the read model.
- :mod:`telemetry.worker`: the Temporal SDK runtime's Prometheus endpoint and the counters'.
- :mod:`telemetry.logs`: one JSON object per log line, with order and workflow ids.
"""
