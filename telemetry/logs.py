"""Structured logs: one JSON object per line, with the order and workflow ids when known.

The ids come from where the line was written:

- in an activity, from ``temporalio.activity.info()`` (the workflow id, and the order id
  derived from it by :func:`models.ids.order_id_from_workflow_id`);
- in the API, from the request being served: :class:`RequestContextMiddleware` keeps the
  ASGI scope in a context variable, and since routing fills ``scope["path_params"]`` in
  that same dict, a line logged by a route of ``/orders/{order_id}`` carries its id; a
  route whose order id is not in its path (``POST /orders``) names it with
  :func:`bind_order_id`.

Every process logs through :func:`logging_config` (``orderclock api`` hands it to uvicorn
as its ``log_config``), so uvicorn's own startup and error lines are JSON too; the access
lines (method, path, status, duration) are written by ``telemetry.api.MetricsMiddleware``.

:class:`ContextFilter` adds both as record attributes (``order_id``, ``workflow_id``), so
any formatter can use them; :class:`JsonFormatter` writes them when they are set.
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio import activity

from models.ids import order_id_from_workflow_id, order_workflow_id

_request_scope: ContextVar[Scope | None] = ContextVar("orderclock_request_scope", default=None)
# Where bind_order_id leaves the id in the request's scope (the dict routing also fills).
_SCOPE_ORDER_ID = "orderclock.order_id"

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is written
# (but uvicorn's ``color_message``, the message again with terminal colour codes).
_STANDARD_ATTRS = frozenset(
    set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__)
    | {"message", "asctime", "order_id", "workflow_id", "taskName", "color_message"}
)


def _order_id_of(workflow_id: str) -> str | None:
    try:
        return order_id_from_workflow_id(workflow_id)
    except ValueError:
        return None


def current_ids() -> tuple[str | None, str | None]:
    """The (order id, workflow id) of the activity or API request running now, if any."""
    if activity.in_activity():
        workflow_id = activity.info().workflow_id
        if workflow_id:
            return _order_id_of(workflow_id), workflow_id
        return None, None
    scope = _request_scope.get()
    if scope is not None:
        params: dict[str, Any] = scope.get("path_params") or {}
        order_id = scope.get(_SCOPE_ORDER_ID) or params.get("order_id")
        if isinstance(order_id, str):
            try:
                return order_id, order_workflow_id(order_id)
            except ValueError:
                # Not a valid id: the route answers 404/422; still say which id was asked.
                return order_id, None
    return None, None


def bind_order_id(order_id: str) -> None:
    """Name the order the API request being served is about, for its remaining log lines."""
    scope = _request_scope.get()
    if scope is not None:
        scope[_SCOPE_ORDER_ID] = order_id


class ContextFilter(logging.Filter):
    """Adds ``order_id`` and ``workflow_id`` to every record (None when unknown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            getattr(record, "order_id", None) is None
            and getattr(record, "workflow_id", None) is None
        ):
            order_id, workflow_id = current_ids()
            record.order_id = order_id
            record.workflow_id = workflow_id
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("order_id", "workflow_id"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in entry and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: an ``extra`` value JSON cannot hold is written as its text, not lost.
        return json.dumps(entry, default=str, ensure_ascii=False)


def json_handler(stream: IO[str] | None = None) -> logging.Handler:
    """A stream handler (stderr by default) writing JSON lines with the context ids."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    # On the handler, not a logger: a handler filter sees records of every logger.
    handler.addFilter(ContextFilter())
    return handler


def logging_config(level: int | str = logging.INFO) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` sending every record of the process to one JSON handler.

    Also uvicorn's ``log_config``: its loggers keep no handlers of their own and propagate
    to the root's, so its startup and error lines are JSON like everything else.
    """
    name = logging.getLevelName(level) if isinstance(level, int) else level
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"json": {"()": json_handler}},
        "root": {"handlers": ["json"], "level": name},
        "loggers": {
            logger: {"handlers": [], "propagate": True, "level": name}
            for logger in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def configure_json_logging(level: int = logging.INFO, stream: IO[str] | None = None) -> None:
    """Send every log record of the process to one JSON-lines handler (replacing others)."""
    config = logging_config(level)
    if stream is not None:
        config["handlers"]["json"]["stream"] = stream
    logging.config.dictConfig(config)
    # The ids are fields of every line now; the SDK's "({'activity_id': ...})" suffix on
    # activity messages would only repeat them.
    activity.logger.activity_info_on_message = False


class RequestContextMiddleware:
    """Keeps the request's ASGI scope in a context variable for :class:`ContextFilter`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _request_scope.set(scope)
        try:
            await self.app(scope, receive, send)
        finally:
            _request_scope.reset(token)
