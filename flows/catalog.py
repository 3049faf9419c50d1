"""Every flow orderclock runs, by name: its request, policy, spec and email context.

This is the one list the API, the workers, the email templates and the settings consult:
a new flow is a package ``flows/<flow>/`` whose ``declaration.ENTRY`` is listed here, and
a workflow module ``workflows/<flow>.py`` (found by the flow's name).
"""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, create_model

from flows.account_order.declaration import ENTRY as ACCOUNT_ORDER
from flows.charge_box_installation.declaration import ENTRY as CHARGE_BOX_INSTALLATION
from flows.dealer_order.declaration import ENTRY as DEALER_ORDER
from flows.prepaid_service.declaration import ENTRY as PREPAID_SERVICE
from flows.shop_order.declaration import ENTRY as SHOP_ORDER
from flows.spec import FlowEntry, FlowSpec

__all__ = ["FLOWS", "FLOW_NAMES", "FlowEntry", "action_payload_models", "flow_spec"]

FLOWS: dict[str, FlowEntry] = {
    entry.name: entry
    for entry in (
        PREPAID_SERVICE,
        ACCOUNT_ORDER,
        CHARGE_BOX_INSTALLATION,
        SHOP_ORDER,
        DEALER_ORDER,
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
    each flow's declaration, with their payload models.
    """
    models: dict[tuple[str, str], type[BaseModel]] = {}
    for entry in FLOWS.values():
        for action in entry.spec(None).actions:
            model = action.payload
            name = f"{_camel(entry.name)}{_camel(action.name)}Payload"
            models[entry.name, action.name] = create_model(
                name,
                __base__=model,
                __module__=__name__,
                __doc__=f"The payload of `{action.name}` on a `{entry.name}` order: "
                f"{model.__doc__ or action.description}",
            )
    return models
