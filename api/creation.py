"""What a flow checks or adds when ``POST /orders`` creates one of its orders.

The route knows no flow: it calls :func:`prepare`, which runs the hook of the request's
flow, if that flow has one, before the workflow starts. A hook refuses the order by
raising an API error (422 for terms the flow refuses, 409 for a state that forbids it), or
answers the start fields it adds to the workflow's input (:func:`api.gateway.start_order`'s
``start_fields``), as the account an account order is pinned to. A new flow's check is one
function and one line in :data:`HOOKS`; the route stays as it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client

from api import gateway
from api.auth import Caller, may_see
from api.errors import Conflict, ErrorCode, NotFound, Unprocessable
from api.gateway import Timeouts
from config.settings import Settings
from db.accounts import get_account, snapshot
from flows.account_order.models import AccountOrderRequest, request_problems
from flows.account_order.policy import AccountPolicy
from flows.shop_order.models import ShopOrderRequest, replacement_refusal

StartFields = dict[str, Any]
Request = TypeVar("Request", bound=BaseModel)


@dataclass(frozen=True)
class Creation:
    """Who creates the order and what a hook may consult: the clients of the request."""

    caller: Caller
    client: Client
    engine: Engine
    settings: Settings
    timeouts: Timeouts


@dataclass(frozen=True)
class Hook(Generic[Request]):
    """A flow's check at creation, for requests of ``kind``."""

    kind: type[Request]
    run: Callable[[Request, Creation], Awaitable[StartFields | None]]


async def prepare(request: BaseModel, creation: Creation) -> StartFields | None:
    """Run the hook of the request's flow: its start fields (None: nothing to add)."""
    hook = HOOKS.get(type(request))
    if hook is None:
        return None
    return await hook.run(request, creation)


def _resolve_account(
    engine: Engine, request: AccountOrderRequest, caller: Caller, policy: AccountPolicy
) -> StartFields:
    with Session(engine) as session:
        row = get_account(session, request.account_id)
    if row is None or not may_see(caller, row.tenant):
        raise Unprocessable(
            f"unknown account {request.account_id!r}: create it first (POST /accounts)"
        )
    account = snapshot(row)
    problems = request_problems(request, account, policy, datetime.now(UTC).date())
    if problems:
        raise Unprocessable("; ".join(problems))
    return {"account": account}


async def account_order(request: AccountOrderRequest, creation: Creation) -> StartFields:
    """The account an account order starts with; 422 for an unknown account (or another
    tenant's: the same answer) or bad terms."""
    policy = creation.settings.policy_for(request.flow)
    assert isinstance(policy, AccountPolicy)
    return await run_in_threadpool(
        _resolve_account, creation.engine, request, creation.caller, policy
    )


async def shop_order(request: ShopOrderRequest, creation: Creation) -> None:
    """A repair that names the EVAL order it replaces: that order must allow it (409)."""
    if request.replaces is None:
        return
    try:
        replaced = await gateway.read_view(
            creation.client, creation.engine, request.replaces, timeouts=creation.timeouts
        )
    except NotFound:
        replaced = None
    if replaced is not None and not may_see(creation.caller, replaced.tenant):
        replaced = None  # another tenant's order is no order to this key
    refusal = replacement_refusal(
        request,
        replaced.flow if replaced else None,
        replaced.customer.id if replaced and replaced.customer else None,
        replaced.shop if replaced else None,
    )
    if refusal is not None:
        raise Conflict(refusal, code=ErrorCode.not_allowed)


HOOKS: Mapping[type[BaseModel], Hook[Any]] = {
    hook.kind: hook
    for hook in (
        Hook(AccountOrderRequest, account_order),
        Hook(ShopOrderRequest, shop_order),
    )
}
"""Each flow's hook by its request model (``models.orders.CreateOrderRequest``'s members)."""
