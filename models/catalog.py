"""Every flow orderclock runs, by name: its request, policy, spec and email context.

This is the one list the API, the worker's telemetry, the email templates and the
settings consult; a new flow adds one entry here (and its workflow class to
``workflows/registry.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from models.account import CONTEXT_KEYS as ACCOUNT_CONTEXT_KEYS
from models.account import AccountOrderRequest, AccountPolicy, account_order_spec
from models.common import OrderRequest
from models.flows import FlowSpec, prepaid_service_spec
from models.orders import PrepaidServiceRequest
from models.policy import PrepaidPolicy


@dataclass(frozen=True)
class FlowEntry:
    """One flow: what starts it, what configures it, what describes it."""

    name: str
    request: type[OrderRequest]
    policy: type[BaseModel]
    spec: Callable[[Any], FlowSpec]
    # The ``Settings`` field holding this deployment's policy (``ORDERCLOCK_<FIELD>__...``).
    settings_field: str
    # Every key the workflow passes to its email templates (checked at worker start).
    context_keys: frozenset[str]


PREPAID_CONTEXT_KEYS = frozenset(
    {
        "order_id",
        "customer_name",
        "provider_name",
        "status",
        "stage",
        "amount_total",
        "appointment_local",
        "deadline_name",
        "deadline_local",
        "reason",
        "refund_amount",
        "comment",
        "rating",
    }
)

FLOWS: dict[str, FlowEntry] = {
    entry.name: entry
    for entry in (
        FlowEntry(
            name="prepaid_service",
            request=PrepaidServiceRequest,
            policy=PrepaidPolicy,
            spec=prepaid_service_spec,
            settings_field="prepaid",
            context_keys=PREPAID_CONTEXT_KEYS,
        ),
        FlowEntry(
            name="account_order",
            request=AccountOrderRequest,
            policy=AccountPolicy,
            spec=account_order_spec,
            settings_field="account",
            context_keys=ACCOUNT_CONTEXT_KEYS,
        ),
    )
}
FLOW_NAMES = tuple(FLOWS)


def flow_spec(name: str, policy: BaseModel | None = None) -> FlowSpec | None:
    """The spec of a flow by name under ``policy`` (the flow's defaults when None), or None."""
    entry = FLOWS.get(name)
    if entry is None:
        return None
    return entry.spec(policy if policy is not None else entry.policy())
