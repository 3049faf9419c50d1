"""Identifiers derived in exactly one place."""

from __future__ import annotations

import re

ORDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_ORDER_ID = re.compile(ORDER_ID_PATTERN)
WORKFLOW_ID_PREFIX = "order-"


def order_workflow_id(order_id: str) -> str:
    """The Temporal workflow id of an order: ``order-<order id>``."""
    # fullmatch: ``$`` alone would let a trailing newline through.
    if not _ORDER_ID.fullmatch(order_id):
        raise ValueError(f"invalid order id {order_id!r}")
    return f"{WORKFLOW_ID_PREFIX}{order_id}"


def order_id_from_workflow_id(workflow_id: str) -> str:
    """The order id inside a workflow id made by :func:`order_workflow_id`."""
    if not workflow_id.startswith(WORKFLOW_ID_PREFIX):
        raise ValueError(f"not an order workflow id: {workflow_id!r}")
    return workflow_id[len(WORKFLOW_ID_PREFIX) :]


def idempotency_key(order_id: str, operation: str, seq: int) -> str:
    """Key for a side effect: the same order, operation and sequence give the same key."""
    return f"{order_id}:{operation}:{seq}"
