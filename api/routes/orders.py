"""Orders: create, act, read one (live) and list (read model)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Response

from api import gateway
from api.auth import (
    CREATING_ROLES,
    EVERY_KEY,
    key_roles_doc,
    require_actor,
    require_create,
    require_sees,
    shown_to,
    stamped,
)
from api.creation import Creation, prepare
from api.deps import (
    CurrentCaller,
    EngineDep,
    SessionDep,
    SettingsDep,
    TemporalClientDep,
    TimeoutsDep,
    key_protected_router,
    single_valued_query,
)
from api.errors import ErrorBody
from api.schemas import (
    UNREADABLE_BODY,
    EmailIssuePage,
    EmailIssueQuery,
    OrderDetail,
    OrderPage,
    OrderQuery,
)
from db.queries import email_issues
from db.queries import list_orders as query_orders
from models.orders import ActionBody, CreateOrderRequest, OrderView

router = key_protected_router(prefix="/orders", tags=["orders"])
notifications_router = key_protected_router(prefix="/notifications", tags=["orders"])


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


@router.post(
    "",
    status_code=201,
    response_model=OrderView,
    responses={
        200: {"model": OrderView, "description": "The order existed with the same body"},
        **UNREADABLE_BODY,
        **_errors(403, 409, 503),
        # FastAPI's field problems, or the flow's refusal of the order's terms.
        422: {"model": ErrorBody, "description": "Malformed or refused order"},
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
    creation = Creation(caller, client, engine, settings, timeouts)
    extra = await prepare(body, creation)
    view, created = await gateway.start_order(
        client,
        engine,
        settings,
        body,
        timeouts=timeouts,
        created_by=stamped(gateway.API_ACTOR, caller),
        start_fields=extra,
        tenant=caller.tenant,
    )
    if not created:
        response.status_code = 200
    return shown_to(caller, view)


@router.get(
    "",
    response_model=OrderPage,
    dependencies=[Depends(single_valued_query)],
    responses={422: {"model": ErrorBody, "description": "Invalid or repeated parameter"}},
    openapi_extra=key_roles_doc(EVERY_KEY),
)
def list_orders(
    session: SessionDep, caller: CurrentCaller, query: Annotated[OrderQuery, Query()]
) -> OrderPage:
    """List orders from the read model, filtered by flow, status, customer (id or email),
    provider, attention flag and next deadline (``due_before``); newest first or, with
    ``sort=next_deadline``, the soonest deadline first (a key with a tenant lists its
    tenant's orders only)."""
    # A plain function: FastAPI runs it in a thread, so the blocking database
    # read does not stall the event loop.
    items, total = query_orders(
        session,
        flow=query.flow,
        status=query.status,
        customer_id=query.customer_id,
        provider_id=query.provider_id,
        needs_attention=query.needs_attention,
        archived=query.archived,
        customer_email=query.customer_email,
        due_before=query.due_before,
        sort=query.sort,
        limit=query.limit,
        offset=query.offset,
        tenant=caller.tenant,
    )
    return OrderPage(items=items, total=total, limit=query.limit, offset=query.offset)


@router.get(
    "/{order_id}",
    response_model=OrderDetail,
    responses=_errors(404, 503),
    openapi_extra=key_roles_doc(EVERY_KEY),
)
async def get_order(
    order_id: str,
    caller: CurrentCaller,
    client: TemporalClientDep,
    engine: EngineDep,
    timeouts: TimeoutsDep,
) -> OrderDetail:
    """The order's live view (the read model's copy when no worker can answer), with the
    side effects Temporal is still running or retrying for it (``pending``)."""
    detail = await gateway.read_order(client, engine, order_id, timeouts=timeouts)
    require_sees(caller, detail.tenant, order_id)
    return shown_to(caller, detail)


@router.post(
    "/{order_id}/actions/{action}",
    response_model=OrderView,
    responses={
        **UNREADABLE_BODY,
        **_errors(403, 404, 409, 429, 503, 504),
        422: {"model": ErrorBody, "description": "Malformed request or payload"},
    },
    # Every key may call it; which actor roles a key may act as is checked inside.
    openapi_extra=key_roles_doc(EVERY_KEY),
)
async def act_on_order(
    order_id: str,
    action: str,
    body: ActionBody,
    caller: CurrentCaller,
    client: TemporalClientDep,
    engine: EngineDep,
    timeouts: TimeoutsDep,
) -> OrderView:
    """Take an action (confirm, edit, pay, cancel, ...) as a customer, provider or support.

    Service keys act as customers and providers, support keys as support, admin keys as
    any of them; the key's name is recorded with the actor in the order's history.
    """
    require_actor(caller, body.actor)
    await gateway.require_visible(caller, client, engine, order_id, timeouts=timeouts)
    request = body.request(key_name=caller.name)
    view = await gateway.run_action(client, order_id, action, request, timeouts=timeouts)
    return shown_to(caller, view)


@notifications_router.get(
    "/issues",
    response_model=EmailIssuePage,
    dependencies=[Depends(single_valued_query)],
    responses={422: {"model": ErrorBody, "description": "Invalid or repeated parameter"}},
    openapi_extra=key_roles_doc(EVERY_KEY),
)
def list_email_issues(
    session: SessionDep, caller: CurrentCaller, query: Annotated[EmailIssueQuery, Query()]
) -> EmailIssuePage:
    """Failed and skipped emails no later email of the same event to the same recipient
    settled, newest first (resend one with the ``resend_email`` action); a key with a
    tenant sees its tenant's orders' emails only."""
    items, total = email_issues(
        session,
        customer_id=query.customer_id,
        order_id=query.order_id,
        limit=query.limit,
        offset=query.offset,
        tenant=caller.tenant,
    )
    return EmailIssuePage(items=items, total=total, limit=query.limit, offset=query.offset)
