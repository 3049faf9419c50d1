"""Every flow orderclock runs, by name: its request, policy, spec and email context.

This is the one list the API, the worker's telemetry, the email templates and the
settings consult; a new flow adds one entry here (and its workflow class to
``workflows/registry.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel, create_model

from flows.account_order.declaration import CONTEXT_KEYS as ACCOUNT_CONTEXT_KEYS
from flows.account_order.declaration import account_order_spec
from flows.account_order.models import ACCOUNT_ACTION_PAYLOADS, AccountOrderRequest
from flows.account_order.policy import AccountPolicy
from flows.charge_box_installation.declaration import CONTEXT_KEYS as INSTALLATION_CONTEXT_KEYS
from flows.charge_box_installation.declaration import charge_box_installation_spec
from flows.charge_box_installation.models import (
    INSTALLATION_ACTION_PAYLOADS,
    ChargeBoxInstallationRequest,
)
from flows.charge_box_installation.policy import InstallationPolicy
from flows.dealer_order.declaration import CONTEXT_KEYS as DEALER_CONTEXT_KEYS
from flows.dealer_order.declaration import dealer_order_spec
from flows.dealer_order.models import DEALER_ACTION_PAYLOADS, DealerOrderRequest
from flows.dealer_order.policy import DealerPolicy
from flows.prepaid_service.declaration import PREPAID_CONTEXT_KEYS, prepaid_service_spec
from flows.prepaid_service.models import PREPAID_ACTION_PAYLOADS, PrepaidServiceRequest
from flows.prepaid_service.policy import PrepaidPolicy
from flows.shop_order.declaration import CONTEXT_KEYS as SHOP_CONTEXT_KEYS
from flows.shop_order.declaration import shop_order_spec
from flows.shop_order.models import SHOP_ACTION_PAYLOADS, ShopOrderRequest
from flows.shop_order.policy import ShopPolicy
from flows.spec import FlowSpec
from models.actions import ENGINE_ACTION_PAYLOADS
from models.common import OrderRequest


@dataclass(frozen=True)
class FlowEntry:
    """One flow: what starts it, what configures it, what describes it."""

    name: str
    request: type[OrderRequest]
    policy: type[BaseModel]
    spec: Callable[[Any], FlowSpec]
    # The payload model of each of the flow's own actions (the engine's are every flow's).
    payloads: dict[str, type[BaseModel]]
    # The ``Settings`` field holding this deployment's policy (``ORDERCLOCK_<FIELD>__...``).
    settings_field: str
    # Every key the workflow passes to its email templates (checked at worker start).
    context_keys: frozenset[str]


FLOWS: dict[str, FlowEntry] = {
    entry.name: entry
    for entry in (
        FlowEntry(
            name="prepaid_service",
            request=PrepaidServiceRequest,
            policy=PrepaidPolicy,
            spec=prepaid_service_spec,
            payloads=PREPAID_ACTION_PAYLOADS,
            settings_field="prepaid",
            context_keys=PREPAID_CONTEXT_KEYS,
        ),
        FlowEntry(
            name="account_order",
            request=AccountOrderRequest,
            policy=AccountPolicy,
            spec=account_order_spec,
            payloads=ACCOUNT_ACTION_PAYLOADS,
            settings_field="account",
            context_keys=ACCOUNT_CONTEXT_KEYS,
        ),
        FlowEntry(
            name="charge_box_installation",
            request=ChargeBoxInstallationRequest,
            policy=InstallationPolicy,
            spec=charge_box_installation_spec,
            payloads=INSTALLATION_ACTION_PAYLOADS,
            settings_field="installation",
            context_keys=INSTALLATION_CONTEXT_KEYS,
        ),
        FlowEntry(
            name="shop_order",
            request=ShopOrderRequest,
            policy=ShopPolicy,
            spec=shop_order_spec,
            payloads=SHOP_ACTION_PAYLOADS,
            settings_field="shop",
            context_keys=SHOP_CONTEXT_KEYS,
        ),
        FlowEntry(
            name="dealer_order",
            request=DealerOrderRequest,
            policy=DealerPolicy,
            spec=dealer_order_spec,
            payloads=DEALER_ACTION_PAYLOADS,
            settings_field="dealer",
            context_keys=DEALER_CONTEXT_KEYS,
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


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


@cache
def action_payload_models() -> dict[tuple[str, str], type[BaseModel]]:
    """Every (flow, action) pair's payload model, named for the pair: ``DealerOrderConfirmPayload``.

    Each is its action's payload model under the pair's own name, so a client generated
    from the OpenAPI document picks an action's payload by name; the actions come from
    each flow's spec, the models from its payload table (or the engine's).
    """
    models: dict[tuple[str, str], type[BaseModel]] = {}
    for entry in FLOWS.values():
        for action in entry.spec(None).actions:
            model = entry.payloads.get(action.name) or ENGINE_ACTION_PAYLOADS[action.name]
            name = f"{_camel(entry.name)}{_camel(action.name)}Payload"
            models[entry.name, action.name] = create_model(
                name,
                __base__=model,
                __module__=__name__,
                __doc__=f"The payload of `{action.name}` on a `{entry.name}` order: "
                f"{model.__doc__ or action.description}",
            )
    return models
