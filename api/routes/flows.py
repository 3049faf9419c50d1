"""What each flow is: states, actions by role, deadlines and its diagram."""

from __future__ import annotations

from api.auth import EVERY_KEY, key_roles_doc
from api.deps import SettingsDep, key_protected_router
from api.errors import ErrorBody, NotFound
from api.schemas import FlowDescription
from flows.catalog import FLOW_NAMES, flow_spec

router = key_protected_router(prefix="/flows", tags=["flows"])


def _describe(name: str, settings: SettingsDep) -> FlowDescription:
    # Deadlines shown are this deployment's policy: the ones new orders get pinned.
    if name not in FLOW_NAMES:
        raise NotFound(f"unknown flow {name!r}; known flows: {', '.join(FLOW_NAMES)}")
    spec = flow_spec(name, settings.policy_for(name))
    assert spec is not None
    return FlowDescription.of(spec)


@router.get("", response_model=list[FlowDescription], openapi_extra=key_roles_doc(EVERY_KEY))
async def list_flows(settings: SettingsDep) -> list[FlowDescription]:
    """Every flow with its states, actions, deadlines and Mermaid diagram."""
    return [_describe(name, settings) for name in FLOW_NAMES]


@router.get(
    "/{flow}",
    response_model=FlowDescription,
    responses={404: {"model": ErrorBody}},
    openapi_extra=key_roles_doc(EVERY_KEY),
)
async def get_flow(flow: str, settings: SettingsDep) -> FlowDescription:
    """One flow with its states, actions, deadlines and Mermaid diagram."""
    return _describe(flow, settings)
