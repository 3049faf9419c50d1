"""Orders: create, act, read one (live) and list (read model)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api import gateway
from api.auth import (
    CREATING_ROLES,
    EVERY_KEY,
    key_roles_doc,
    require_actor,
    require_create,
    stamped,
)
from api.deps import (
    CurrentCaller,
    EngineDep,
    SessionDep,
    SettingsDep,
    TemporalClientDep,
    TimeoutsDep,
)
from api.routes.accounts import account_start_fields
from api.schemas import ErrorBody, OrderDetail, OrderPage
from db.queries import list_orders as query_orders
from models.account import AccountOrderRequest
from models.orders import ActionRequest, CreateOrderRequest, OrderView

router = APIRouter(prefix="/orders", tags=["orders"])


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


FilterText = Annotated[str | None, Query(max_length=128)]


@router.post(
    "",
    status_code=201,
    response_model=OrderView,
    responses={
        200: {"model": OrderView, "description": "The order existed with the same body"},
        **_errors(401, 403, 409, 422, 503),
    },
    openapi_extra=key_roles_doc(CREATING_ROLES),
)
async def create_order(
    body: CreateOrderRequest,
    response: Response,
    caller: CurrentCaller,
    client: TemporalClientDep,
    engine: EngineDep,
    settings: SettingsDep,
    timeouts: TimeoutsDep,
) -> OrderView:
    """Create an order (service and admin keys); the same id and body returns the same order."""
    require_create(caller)
    extra = None
    if isinstance(body, AccountOrderRequest):
        extra = await account_start_fields(body, engine, settings)
    view, created = await gateway.start_order(
        client,
        engine,
        settings,
        body,
        timeouts=timeouts,
        created_by=stamped(gateway.API_ACTOR, caller),
        start_fields=extra,
    )
    if not created:
        response.status_code = 200
    return view


@router.get("", response_model=OrderPage, openapi_extra=key_roles_doc(EVERY_KEY))
def list_orders(
    session: SessionDep,
    flow: FilterText = None,
    status: FilterText = None,
    customer_id: FilterText = None,
    provider_id: FilterText = None,
    needs_attention: bool | None = None,
    archived: Annotated[
        bool, Query(description="true lists only archived orders, which are otherwise hidden")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> OrderPage:
    """List orders from the read model, filtered by flow, status, customer, provider."""
    # A plain function: FastAPI runs it in a thread, so the blocking database
    # read does not stall the event loop.
    items, total = query_orders(
        session,
        flow=flow or None,  # an empty parameter (``?status=``) means no filter
        status=status or None,
        customer_id=customer_id or None,
        provider_id=provider_id or None,
        needs_attention=needs_attention,
        archived=archived,
        limit=limit,
        offset=offset,
    )
    return OrderPage(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/{order_id}",
    response_model=OrderDetail,
    responses=_errors(404, 503),
    openapi_extra=key_roles_doc(EVERY_KEY),
)
async def get_order(
    order_id: str, client: TemporalClientDep, engine: EngineDep, timeouts: TimeoutsDep
) -> OrderDetail:
    """The order's live view (the read model's copy when no worker can answer), with the
    side effects Temporal is still running or retrying for it (``pending``)."""
    return await gateway.read_order(client, engine, order_id, timeouts=timeouts)


@router.post(
    "/{order_id}/actions/{action}",
    response_model=OrderView,
    responses=_errors(401, 403, 404, 409, 429, 503, 504),
    # Every key may call it; which actor roles a key may act as is checked inside.
    openapi_extra=key_roles_doc(EVERY_KEY),
)
async def act_on_order(
    order_id: str,
    action: str,
    body: ActionRequest,
    caller: CurrentCaller,
    client: TemporalClientDep,
    timeouts: TimeoutsDep,
) -> OrderView:
    """Take an action (confirm, edit, pay, cancel, ...) as a customer, provider or support.

    Service keys act as customers and providers, support keys as support, admin keys as
    any of them; the key's name is recorded with the actor in the order's history.
    """
    require_actor(caller, body.actor)
    request = body.model_copy(update={"actor": stamped(body.actor, caller)})
    return await gateway.run_action(client, order_id, action, request, timeouts=timeouts)
