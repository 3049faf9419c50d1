"""Accounts and account orders over HTTP: accounts, order start, actions, receipt, invoices."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from db.billing import invoice_page
from db.engine import session_scope
from flows.account_order.policy import AccountPolicy
from models.billing import cycle_of
from tests.support.api import api_client, eventually, make_key, make_settings

pytestmark = pytest.mark.usefixtures("worker")


def unique_email() -> str:
    return f"Ada.{uuid.uuid4().hex[:8]}@Example.com"


async def new_account(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "Ada <Account> & Co", "email": unique_email(), **fields}
    response = await api.post("/accounts", json=body)
    assert response.status_code == 201, response.text
    account: dict[str, Any] = response.json()
    return account


def order_body(account_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": f"acct-{uuid.uuid4().hex[:10]}",
        "flow": "account_order",
        "account_id": account_id,
        "currency": "EUR",
        "items": [
            {
                "product": "broadband",
                "option": "monthly",
                "configuration": {"installation_address": "1 Main St"},
            },
            {"product": "router", "option": "purchase", "quantity": 2},
        ],
        "payment_method": "invoice",
    }
    body.update(changes)
    return body


async def act(
    api: httpx.AsyncClient, order_id: str, action: str, who: dict[str, Any], **payload: Any
) -> httpx.Response:
    return await api.post(
        f"/orders/{order_id}/actions/{action}", json={"actor": who, "payload": payload}
    )


SUPPORT = {"role": "support", "id": "agent-1"}


async def test_accounts_are_unique_by_email_in_any_case(api: httpx.AsyncClient) -> None:
    account = await new_account(api)
    assert account["id"].startswith("acc-")
    assert account["created_by"].startswith("admin-")
    duplicate = await api.post(
        "/accounts", json={"name": "Someone", "email": account["email"].upper()}
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["detail"] == (
        f"an account with this email already exists: {account['id']} "
        f"(Ada <Account> & Co, {account['email']})"
    )
    same_id = await api.post(
        "/accounts", json={"id": account["id"], "name": "X", "email": unique_email()}
    )
    assert same_id.status_code == 409
    found = await api.get("/accounts", params={"email": account["email"].lower()})
    assert [a["id"] for a in found.json()] == [account["id"]]
    assert (await api.get("/accounts", params={"email": "nobody@example.com"})).json() == []
    assert (await api.get(f"/accounts/{account['id']}")).json() == account
    missing = await api.get("/accounts/acc-missing")
    assert missing.status_code == 404
    assert missing.json() == {"code": "not_found", "detail": "account 'acc-missing' not found"}
    future = datetime.now(UTC) + timedelta(days=1)
    response = await api.post(
        "/accounts",
        json={"name": "X", "email": unique_email(), "created_at": future.isoformat()},
    )
    assert response.status_code == 422


async def test_support_finds_accounts_but_does_not_create_them(
    settings: Settings, time_env: WorkflowEnvironment, api_engine: Engine, api: httpx.AsyncClient
) -> None:
    account = await new_account(api)
    _, key = make_key(api_engine, "support")
    async with api_client(settings, time_env.client, api_engine, api_key=key) as support:
        refused = await support.post("/accounts", json={"name": "X", "email": unique_email()})
        assert refused.status_code == 403
        assert "may not create accounts" in refused.json()["detail"]
        found = await support.get("/accounts", params={"email": account["email"]})
        assert found.status_code == 200 and len(found.json()) == 1


async def test_an_order_needs_a_known_account_and_valid_terms(api: httpx.AsyncClient) -> None:
    unknown = await api.post("/orders", json=order_body("acc-nope"))
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == (
        "unknown account 'acc-nope': create it first (POST /accounts)"
    )
    opened = datetime.now(UTC) - timedelta(days=3)
    account = await new_account(api, created_at=opened.isoformat())
    too_early = (opened - timedelta(days=1)).date()
    bad = await api.post(
        "/orders",
        json=order_body(
            account["id"],
            order_date=too_early.isoformat(),
            currency="GBP",
            items=[{"product": "tv", "option": "monthly"}],
        ),
    )
    assert bad.status_code == 422
    assert bad.json()["detail"] == "; ".join(
        [
            "currency GBP is not configured (currencies: EUR, USD)",
            f"the order date {too_early} is before the account's creation date "
            f"{opened.date()} (an order may be backdated to the account's creation at the "
            "earliest)",
            "item 1: unknown product 'tv' (products: broadband, router, setup)",
        ]
    )


async def test_account_order_from_draft_to_receipt_and_invoice(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    account = await new_account(api)
    body = order_body(account["id"])
    created = await api.post("/orders", json=body)
    assert created.status_code == 201, created.text
    view = created.json()
    assert view["status"] == "draft"
    assert view["customer"] == {k: account[k] for k in ("id", "name", "email")}
    assert view["account"]["account"]["id"] == account["id"]
    assert view["amount_total"] == 2999 + 2 * 8900
    assert view["allowed_actions"]["customer"] == ["edit", "place", "cancel"]
    assert (await api.post("/orders", json=body)).status_code == 200

    order_id = body["order_id"]
    early = await api.get(f"/orders/{order_id}/receipt")
    assert early.status_code == 409
    assert early.json() == {
        "code": "conflict",
        "detail": f"order {order_id} is draft: its receipt exists once completed",
    }

    customer = {"role": "customer", "id": account["id"]}
    placed = await act(api, order_id, "place", customer)
    assert placed.status_code == 200, placed.text
    assert placed.json()["status"] == "completed"

    html = await api.get(f"/orders/{order_id}/receipt")
    assert html.status_code == 200
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert "Ada &lt;Account&gt; &amp; Co" in html.text and "<Account>" not in html.text
    assert "Broadband internet (Monthly)" in html.text
    assert "207.99 EUR" in html.text

    pdf = await api.get(f"/orders/{order_id}/receipt", params={"format": "pdf"})
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert f"Receipt for order {order_id}" in text
    assert "Wi-Fi router (Purchase)" in text and "178.00 EUR" in text
    assert "Total: 207.99 EUR" in text
    assert (
        await api.get(f"/orders/{order_id}/receipt", params={"format": "doc"})
    ).status_code == 422

    reprint = await act(api, order_id, "reprint_receipt", SUPPORT)
    assert reprint.json()["account"]["receipt_reprints"] == 1

    # The bill cycle of the completion month invoices it; the order lists its invoice.
    assert (await api.get(f"/orders/{order_id}/invoices")).json() == []
    cycle = cycle_of(datetime.fromisoformat(placed.json()["closed_at"]))
    # The cycle bills what the read model holds: wait for the order's completed row.
    listed = await eventually(
        lambda: api.get("/orders", params={"customer_id": account["id"]}),
        lambda r: [o["status"] for o in r.json()["items"]] == ["completed"],
    )
    assert [o["status"] for o in listed.json()["items"]] == ["completed"], listed.text
    with session_scope(api_engine) as session:
        invoice_page(session, cycle, None, 5000)
    invoices = (await api.get(f"/orders/{order_id}/invoices")).json()
    assert [(i["number"], i["amount"], i["account_id"]) for i in invoices] == [
        (f"INV-{cycle}-{order_id}", 20799, account["id"])
    ]


async def test_a_prepaid_order_has_no_receipt(
    api: httpx.AsyncClient, time_env: WorkflowEnvironment
) -> None:
    from tests.support.api import order_body as prepaid_body

    body = await prepaid_body(time_env)
    assert (await api.post("/orders", json=body)).status_code == 201
    response = await api.get(f"/orders/{body['order_id']}/receipt")
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "detail": f"order {body['order_id']} is a prepaid_service order: it has no receipt",
    }


@pytest.fixture
async def approving_api(
    time_env: WorkflowEnvironment, task_queue: str, api_engine: Engine
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(task_queue, account=AccountPolicy(approval_required=True))
    async with api_client(settings, time_env.client, api_engine) as client:
        yield client


async def test_approval_required_by_the_deployment(approving_api: httpx.AsyncClient) -> None:
    api = approving_api
    account = await new_account(api)
    body = order_body(account["id"])
    flow = (await api.get("/flows/account_order")).json()
    assert "Placing now leads to: in progress (approval)" in flow["description"]
    assert (await api.post("/orders", json=body)).status_code == 201
    customer = {"role": "customer", "id": account["id"]}
    placed = (await act(api, body["order_id"], "place", customer)).json()
    assert placed["status"] == "in_progress"
    assert placed["allowed_actions"] == {"customer": [], "support": ["approve", "return_to_draft"]}
    refused = await act(api, body["order_id"], "approve", customer)
    assert refused.status_code == 409
    assert refused.json() == {
        "code": "not_allowed",
        "detail": "customer may not approve an order in in_progress",
    }
    other = await act(api, body["order_id"], "edit", {"role": "customer", "id": "acc-x"}, notes="x")
    assert other.status_code == 403
    approved = (await act(api, body["order_id"], "approve", SUPPORT, note="ok")).json()
    assert approved["status"] == "approved"
    done = (await act(api, body["order_id"], "complete", SUPPORT)).json()
    assert done["status"] == "completed"
    assert [t["to_status"] for t in done["history"]] == [
        "draft",
        "in_progress",
        "approved",
        "completed",
    ]
