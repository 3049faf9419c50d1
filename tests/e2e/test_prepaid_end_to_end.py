"""One prepaid order from creation to closed over HTTP, on the real local stack.

``orderclock dev`` runs the Temporal dev server, the worker, the API, localstripe and the
SMTP sink as separate processes; this test only speaks HTTP to the API, then checks the
side effects where they land: the payment at localstripe, the mail in the Maildir, the
rows in the order database and the search attributes in Temporal's visibility store.
"""

from __future__ import annotations

import asyncio
import email
import mailbox
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
import stripe
from temporalio.client import Client

from codec import data_converter_for
from db.engine import make_engine
from tests.fixtures.devstack import DevStack
from tests.support.prepaid_service import prepaid_body

APPOINTMENT_IN = timedelta(seconds=8)


def order_body(order_id: str, start: datetime) -> dict[str, Any]:
    return prepaid_body(
        order_id,
        start,
        customer_id="cus-e2e",
        provider_id="pro-e2e",
        amount=8500,
        duration_minutes=1,
    )


async def act(
    api: httpx.AsyncClient,
    order_id: str,
    action: str,
    role: str,
    actor_id: str | None,
    **payload: Any,
) -> dict[str, Any]:
    response = await api.post(
        f"/orders/{order_id}/actions/{action}",
        json={"actor": {"role": role, "id": actor_id}, "payload": payload},
    )
    assert response.status_code == 200, (action, response.status_code, response.text)
    body: dict[str, Any] = response.json()
    return body


async def wait_for(predicate: Any, what: str, seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def plain_text(message: email.message.Message) -> str:
    """The email's plain-text alternative as a client shows it (format=flowed joined)."""
    [part] = [p for p in message.walk() if p.get_content_type() == "text/plain"]
    body = part.get_payload(decode=True)
    assert isinstance(body, bytes)
    return body.decode().replace("\r\n", "\n").replace(" \n", " ")


def mails_for(maildir: str, order_id: str) -> list[email.message.Message]:
    box = mailbox.Maildir(maildir, create=False)
    return [m for m in box if m.get("X-Orderclock-Order") == order_id]


async def test_prepaid_order_from_creation_to_closed(devstack: DevStack) -> None:
    order_id = f"e2e-{uuid.uuid4().hex[:10]}"
    start = datetime.now(UTC) + APPOINTMENT_IN
    async with httpx.AsyncClient(
        base_url=devstack.api_base_url, timeout=30, headers=devstack.auth_headers
    ) as api:
        created = await api.post("/orders", json=order_body(order_id, start))
        assert created.status_code == 201, created.text
        view = created.json()
        assert view["status"] == "confirmation"
        assert view["next_deadline"]["name"] == "confirmation"

        # The same request again is the same order; a different body is a conflict.
        again = await api.post("/orders", json=order_body(order_id, start))
        assert again.status_code == 200
        assert again.json()["order_id"] == order_id
        other = order_body(order_id, start)
        other["items"][0]["unit_amount"] = 1
        assert (await api.post("/orders", json=other)).status_code == 409

        # Not the provider's turn to be confirmed by the customer: a clear 409.
        refused = await api.post(
            f"/orders/{order_id}/actions/confirm",
            json={"actor": {"role": "customer", "id": "cus-e2e"}, "payload": {}},
        )
        assert refused.status_code == 409
        assert "waiting for the provider" in refused.json()["detail"]

        view = await act(api, order_id, "confirm", "provider", "pro-e2e")
        assert view["status"] == "payment"

        # While the order is open, Temporal's visibility store answers the operators'
        # filters on its search attributes (what the Web UI shows).
        client = await Client.connect(
            devstack.temporal_address,
            namespace=devstack.temporal_namespace,
            data_converter=data_converter_for(devstack.payload_keys),
        )
        due_soon = (datetime.now(UTC) + timedelta(hours=13)).strftime("%Y-%m-%dT%H:%M:%SZ")

        async def listed() -> list[str]:
            query = (
                f"OrderStatus = 'payment' AND OrderFlow = 'prepaid_service' "
                f"AND OrderCustomer = 'cus-e2e' AND OrderDeadline < '{due_soon}'"
            )
            return [wf.id async for wf in client.list_workflows(query)]

        assert f"order-{order_id}" in await wait_for(listed, "the order in visibility")

        # What the Web UI shows beside the attributes: a fixed summary and details, and a
        # current-details line that follows the order.
        handle = client.get_workflow_handle(f"order-{order_id}")
        description = await handle.describe()
        assert await description.static_summary() == (
            "prepaid_service · Cleo Customer (cus-e2e) · 85.00 EUR"
        )
        details = await description.static_details()
        assert details is not None and "**Provider** Piet Provider (pro-e2e)" in details
        metadata = await handle.query("__temporal_workflow_metadata")
        assert metadata.current_details.startswith("**Payment** · next: payment at ")

        # Personal data is stored encrypted: a client without the keys sees no name or
        # email in the order's history, and the Web UI decrypts through the API's codec.
        raw = await Client.connect(devstack.temporal_address, namespace=devstack.temporal_namespace)
        history = await raw.get_workflow_handle(f"order-{order_id}").fetch_history()
        stored = history.to_json()
        assert "Cleo Customer" not in stored and "cleo@example.com" not in stored
        assert "binary/encrypted" in stored or "YmluYXJ5L2VuY3J5cHRlZA" in stored
        preflight = await api.options(
            "/codec/decode",
            headers={
                "Origin": devstack.web_ui_url,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == devstack.web_ui_url

        view = await act(api, order_id, "pay", "customer", "cus-e2e", payment_method="pm_card_visa")
        assert view["status"] == "execution"
        assert view["amount_paid"] == 8500
        charge = view["payments"][0]
        assert charge["outcome"] == "succeeded"
        assert charge["idempotency_key"] == f"{order_id}:charge:1"

        # The charge exists at the payment server, with the order's id on it.
        stripe_client = stripe.StripeClient(
            devstack.stripe_api_key, base_addresses={"api": devstack.stripe_base_url}
        )
        intent = await stripe_client.payment_intents.retrieve_async(charge["provider_id"])
        assert intent.status == "succeeded"
        assert intent.amount == 8500
        assert intent.metadata["order_id"] == order_id

        await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 1)
        view = await act(api, order_id, "mark_done", "provider", "pro-e2e")
        assert view["status"] == "execution_confirmation"
        view = await act(api, order_id, "confirm_execution", "customer", "cus-e2e")
        assert view["status"] == "closed"
        assert view["next_deadline"]["name"] == "payout"
        actions = [(t["action"], t["to_status"]) for t in view["history"]]
        assert actions == [
            ("create", "confirmation"),
            ("confirm", "payment"),
            ("pay", "execution"),
            ("mark_done", "execution_confirmation"),
            ("confirm_execution", "closed"),
        ]

        # Every transition's mail arrived at the SMTP sink, and the order records it.
        expected_mails = {
            ("created", "cleo@example.com"),
            ("created", "piet@example.com"),
            ("confirmed", "cleo@example.com"),
            ("confirmed", "piet@example.com"),
            ("paid", "cleo@example.com"),
            ("paid", "piet@example.com"),
            ("done", "cleo@example.com"),
            ("closed", "cleo@example.com"),
            ("closed", "piet@example.com"),
        }

        async def all_mail() -> set[tuple[str, str]] | None:
            got = {
                (
                    str(m["X-Orderclock-Event"]).removeprefix("prepaid_service/"),
                    str(m["To"]).split("<")[-1].rstrip(">"),
                )
                for m in mails_for(devstack.maildir, order_id)
            }
            return got if expected_mails <= got else None

        await wait_for(all_mail, "all emails in the Maildir")

        async def recorded() -> dict[str, Any] | None:
            current = (await api.get(f"/orders/{order_id}")).json()
            sent = {
                (n["event"], n["to"]) for n in current["notifications"] if n["status"] == "sent"
            }
            return current if expected_mails <= sent else None

        await wait_for(recorded, "notifications recorded on the order")

        # The read model: the list endpoint and the database rows agree with the workflow.
        async def listed_closed() -> dict[str, Any] | None:
            page = (await api.get("/orders", params={"customer_id": "cus-e2e"})).json()
            rows = [row for row in page["items"] if row["order_id"] == order_id]
            return rows[0] if rows and rows[0]["status"] == "closed" else None

        row = await wait_for(listed_closed, "the closed order in GET /orders")
        assert row["flow"] == "prepaid_service"

    engine = make_engine(devstack.database_url)
    try:
        with engine.connect() as db:
            status = db.execute(
                sa.text("select status, amount_paid from orders where order_id = :o"),
                {"o": order_id},
            ).one()
            transitions = db.execute(
                sa.text("select count(*) from transitions where order_id = :o"), {"o": order_id}
            ).scalar_one()
            payments = db.execute(
                sa.text("select outcome from payments where order_id = :o"), {"o": order_id}
            ).all()
            notifications = db.execute(
                sa.text(
                    "select count(*) from notifications where order_id = :o and status = 'sent'"
                ),
                {"o": order_id},
            ).scalar_one()
    finally:
        engine.dispose()
    assert tuple(status) == ("closed", 8500)
    assert transitions == 5
    assert [p[0] for p in payments] == ["succeeded"]
    assert notifications >= len(expected_mails)
