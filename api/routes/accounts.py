"""Customer accounts, and what account orders add to the order routes (receipt, invoices).

Accounts are created by service and admin keys (a duplicate email is a 409 naming the
account that has it) and read or found by email with any key, support included. An
account order's ``POST /orders`` names its account: :func:`api.creation.account_order`
resolves it and checks the order's terms before the workflow starts (422 with every problem).

An account belongs to the tenant of the key that created it: keys of another tenant do not
find it, read it or order on it (``api.auth.may_see``). Emails stay unique across tenants,
so a duplicate from another tenant is still a 409, without naming the account.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query, Response
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from activities.receipts import receipt_filename, receipt_html, receipt_pdf
from api import gateway
from api.auth import (
    CREATING_ROLES,
    EVERY_KEY,
    Caller,
    key_roles_doc,
    may_see,
    require_key_role,
    require_sees,
)
from api.deps import (
    CurrentCaller,
    EngineDep,
    SessionDep,
    TemporalClientDep,
    TimeoutsDep,
    key_protected_router,
)
from api.errors import Conflict, ErrorBody, NotFound, Unprocessable
from api.schemas import UNREADABLE_BODY
from db.accounts import AccountExists, create_account, find_by_email, get_account
from db.billing import invoices_of
from db.engine import session_scope
from flows.account_order.models import Receipt
from models.common import EmailAddress, PartyId, ShortText, Strict, Timestamp

router = key_protected_router(prefix="/accounts", tags=["accounts"])
order_router = key_protected_router(prefix="/orders", tags=["orders"])


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


class NewAccount(Strict):
    """Body of ``POST /accounts``."""

    id: PartyId | None = None
    name: ShortText
    email: EmailAddress
    created_at: Timestamp | None = None


class AccountOut(BaseModel):
    """An account as the API shows it."""

    id: str
    name: str
    email: str
    created_at: datetime
    created_by: str | None = None


class InvoiceOut(BaseModel):
    """One invoice of an order from a bill-cycle run."""

    number: str
    cycle: str
    account_id: str
    currency: str
    amount: int
    completed_at: datetime
    created_at: datetime


@router.post(
    "",
    status_code=201,
    response_model=AccountOut,
    responses={
        **UNREADABLE_BODY,
        **_errors(403, 409),
        422: {"model": ErrorBody, "description": "Malformed request, or created_at ahead"},
    },
    openapi_extra=key_roles_doc(CREATING_ROLES),
    name="create_account",
)
def create(body: NewAccount, caller: CurrentCaller, engine: EngineDep) -> AccountOut:
    """Create an account (service and admin keys); one account per email, any case."""
    require_key_role(caller, CREATING_ROLES, "create accounts")
    now = datetime.now(UTC)
    if body.created_at is not None and body.created_at > now:
        raise Unprocessable("created_at lies in the future")
    try:
        with session_scope(engine) as session:
            row = create_account(
                session,
                name=body.name,
                email=str(body.email),
                created_at=body.created_at or now,
                account_id=body.id,
                created_by=caller.name,
                tenant=caller.tenant,
            )
            return AccountOut.model_validate(row, from_attributes=True)
    except AccountExists as exists:
        if not may_see(caller, exists.tenant):
            raise Conflict("an account with this email or id already exists") from None
        raise Conflict(str(exists)) from None


@router.get(
    "",
    response_model=list[AccountOut],
    openapi_extra=key_roles_doc(EVERY_KEY),
    name="find_accounts",
)
def find(
    session: SessionDep,
    caller: CurrentCaller,
    email: Annotated[str, Query(min_length=3, max_length=320)],
) -> list[AccountOut]:
    """Find the account of an email address (any case): a list of one, or empty."""
    row = find_by_email(session, email)
    if row is None or not may_see(caller, row.tenant):
        return []
    return [AccountOut.model_validate(row, from_attributes=True)]


@router.get(
    "/{account_id}",
    response_model=AccountOut,
    responses=_errors(404),
    openapi_extra=key_roles_doc(EVERY_KEY),
    name="get_account",
)
def read(account_id: str, session: SessionDep, caller: CurrentCaller) -> AccountOut:
    """One account; its orders are ``GET /orders?customer_id=<account id>``."""
    row = get_account(session, account_id)
    if row is None or not may_see(caller, row.tenant):
        raise NotFound(f"account {account_id!r} not found")
    return AccountOut.model_validate(row, from_attributes=True)


async def _receipt(
    client: TemporalClientDep,
    engine: Engine,
    order_id: str,
    caller: Caller,
    timeouts: TimeoutsDep,
) -> Receipt:
    view = await gateway.read_view(client, engine, order_id, timeouts=timeouts)
    require_sees(caller, view.tenant, order_id)
    if view.account is None:
        raise NotFound(f"order {order_id} is a {view.flow} order: it has no receipt")
    if view.account.receipt is None:
        raise Conflict(f"order {order_id} is {view.status}: its receipt exists once completed")
    return view.account.receipt


@order_router.get(
    "/{order_id}/receipt",
    responses={
        200: {"content": {"text/html": {}, "application/pdf": {}}},
        **_errors(404, 409, 503),
    },
    response_class=Response,
    openapi_extra=key_roles_doc(EVERY_KEY),
    name="get_receipt",
)
async def receipt(
    order_id: str,
    caller: CurrentCaller,
    client: TemporalClientDep,
    engine: EngineDep,
    timeouts: TimeoutsDep,
    format: Annotated[str, Query(pattern="^(html|pdf)$")] = "html",
) -> Response:
    """A completed account order's receipt, as HTML or PDF (also after its workflow ended)."""
    document = await _receipt(client, engine, order_id, caller, timeouts)
    if format == "pdf":
        body = await run_in_threadpool(receipt_pdf, document)
        name = receipt_filename(document, "pdf")
        return Response(
            body,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{name}"'},
        )
    return Response(receipt_html(document), media_type="text/html; charset=utf-8")


@order_router.get(
    "/{order_id}/invoices",
    response_model=list[InvoiceOut],
    responses=_errors(404),
    openapi_extra=key_roles_doc(EVERY_KEY),
    name="list_invoices",
)
async def order_invoices(
    order_id: str,
    caller: CurrentCaller,
    client: TemporalClientDep,
    engine: EngineDep,
    timeouts: TimeoutsDep,
) -> list[InvoiceOut]:
    """The order's invoices from the bill-cycle runs (empty until its cycle has run; a key
    with a tenant gets 404 for an order of another tenant, or none)."""
    await gateway.require_visible(caller, client, engine, order_id, timeouts=timeouts)
    return await run_in_threadpool(_invoices, engine, order_id)


def _invoices(engine: Engine, order_id: str) -> list[InvoiceOut]:
    with Session(engine) as session:
        return [
            InvoiceOut.model_validate(row, from_attributes=True)
            for row in invoices_of(session, order_id)
        ]


__all__ = ["order_router", "router"]
