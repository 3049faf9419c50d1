"""Charge box installations over HTTP on the real local stack (``orderclock dev``).

A card order is scheduled, moved, and fulfils itself at its time on the real Temporal dev
server: the charge is checked at localstripe, the mail in the Maildir and the rows in the
order database. An invoice order is fulfilled now by support without a Stripe call.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
import stripe

from db.engine import make_engine
from tests.e2e.test_prepaid_end_to_end import act, mails_for, plain_text, wait_for
from tests.fixtures.devstack import DevStack

FLOW = "charge_box_installation"


def installation_body(order_id: str, payment: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "flow": FLOW,
        "customer": {"id": "cus-cbi", "name": "Cleo Customer", "email": "cleo@example.com"},
        "installation_partner": {
            "id": "ins-cbi",
            "name": "Ivo Installer",
            "email": "ivo@installer.example",
        },
        "items": [{"name": "Charge box 11 kW", "quantity": 1, "unit_amount": 129900}],
        "currency": "EUR",
        "time_zone": "Europe/Copenhagen",
        "installation_address": "Vesterbrogade 1, Copenhagen",
        "payment": payment,
    }


async def test_scheduled_installation_fulfils_itself_and_charges_the_card(
    devstack: DevStack,
) -> None:
    order_id = f"e2ecbi-{uuid.uuid4().hex[:10]}"
    card = {"method": "card", "payment_method": "pm_card_visa"}
    async with httpx.AsyncClient(
        base_url=devstack.api_base_url, timeout=30, headers=devstack.auth_headers
    ) as api:
        unknown = await api.post(
            "/orders", json={**installation_body(order_id, card), "onboarding_flow": "b2c"}
        )
        assert unknown.status_code == 422
        assert unknown.json()["detail"] == (
            "unknown onboarding flow 'b2c'; known onboarding flows: standard"
        )

        created = await api.post("/orders", json=installation_body(order_id, card))
        assert created.status_code == 201, created.text
        assert created.json()["status"] == "pending"

        past = datetime.now(UTC) - timedelta(minutes=1)
        began = time.monotonic()
        refused = await api.post(
            f"/orders/{order_id}/actions/schedule",
            json={
                "actor": {"role": "customer", "id": "cus-cbi"},
                "payload": {"at": past.isoformat()},
            },
        )
        assert refused.status_code == 409
        assert "is in the past" in refused.json()["detail"]

        # The customer picks a time, support moves it: only the second one fires. Support
        # must act before the first time comes: the gap is derived from what an action
        # took just now (at least 3 s), so a busy machine gets a longer one.
        one_action = time.monotonic() - began
        gap = timedelta(seconds=max(3.0, 5 * one_action))
        first = datetime.now(UTC) + gap
        view = await act(api, order_id, "schedule", "customer", "cus-cbi", at=first.isoformat())
        assert view["status"] == "scheduled"
        at = datetime.now(UTC) + 2 * gap
        view = await act(api, order_id, "schedule", "support", "agent-1", at=at.isoformat())
        assert view["next_deadline"]["name"] == "scheduled_fulfilment"
        assert datetime.fromisoformat(view["next_deadline"]["due_at"]) == at

        await asyncio.sleep(max(0.0, (first - datetime.now(UTC)).total_seconds()) + 1)
        assert (await api.get(f"/orders/{order_id}")).json()["status"] == "scheduled"

        async def fulfilled() -> dict[str, Any] | None:
            current: dict[str, Any] = (await api.get(f"/orders/{order_id}")).json()
            return current if current["status"] == "fulfilled" else None

        view = await wait_for(
            fulfilled, "the scheduled fulfilment", seconds=30 + gap.total_seconds()
        )
        assert datetime.fromisoformat(view["installation"]["fulfilled_at"]) >= at
        assert [(t["action"], t["to_status"]) for t in view["history"]] == [
            ("create", "pending"),
            ("schedule", "scheduled"),
            ("schedule", "scheduled"),
            ("fulfil", "fulfilled"),
        ]
        assert view["history"][-1]["actor"]["role"] == "system"
        [charge] = view["payments"]
        assert (charge["kind"], charge["outcome"]) == ("charge", "succeeded")
        assert charge["idempotency_key"] == f"{order_id}:charge:1"
        assert view["amount_paid"] == 129900

        stripe_client = stripe.StripeClient(
            devstack.stripe_api_key, base_addresses={"api": devstack.stripe_base_url}
        )
        intent = await stripe_client.payment_intents.retrieve_async(charge["provider_id"])
        assert (intent.status, intent.amount, intent.currency) == ("succeeded", 129900, "eur")
        assert intent.metadata["order_id"] == order_id

        expected = {
            ("order_confirmation", "cleo@example.com"),
            ("installation_request", "ivo@installer.example"),
            ("scheduled", "cleo@example.com"),
            ("scheduled", "ivo@installer.example"),
            ("rescheduled", "cleo@example.com"),
            ("rescheduled", "ivo@installer.example"),
            ("fulfilled", "cleo@example.com"),
            ("fulfilled", "ivo@installer.example"),
        }

        async def all_mail() -> set[tuple[str, str]] | None:
            got = {
                (
                    str(m["X-Orderclock-Event"]).removeprefix(f"{FLOW}/"),
                    str(m["To"]).split("<")[-1].rstrip(">"),
                )
                for m in mails_for(str(devstack.maildir), order_id)
            }
            return got if expected <= got else None

        await wait_for(all_mail, "every email in the Maildir")
        receipt = next(
            m
            for m in mails_for(str(devstack.maildir), order_id)
            if m["X-Orderclock-Event"] == f"{FLOW}/fulfilled" and "cleo" in str(m["To"])
        )
        assert "1299.00 EUR charged to your card" in plain_text(receipt)

        async def all_recorded() -> bool:
            current = (await api.get(f"/orders/{order_id}")).json()
            sent = {
                (n["event"], n["to"]) for n in current["notifications"] if n["status"] == "sent"
            }
            return expected <= sent

        await wait_for(all_recorded, "every email recorded on the order")

        async def recorded() -> dict[str, Any] | None:
            page = (await api.get("/orders", params={"provider_id": "ins-cbi"})).json()
            rows = [r for r in page["items"] if r["order_id"] == order_id]
            return rows[0] if rows and rows[0]["status"] == "fulfilled" else None

        row = await wait_for(recorded, "the fulfilled order in GET /orders")
        assert (row["flow"], row["amount_paid"]) == (FLOW, 129900)

    # The read model is written after the workflow's last step: wait for its last version.
    engine = make_engine(devstack.database_url)
    try:

        async def stored() -> list[tuple[str, str, int]] | None:
            with engine.connect() as db:
                sent = db.execute(
                    sa.text(
                        "select count(*) from notifications where order_id = :o and status = 'sent'"
                    ),
                    {"o": order_id},
                ).scalar_one()
                payments = db.execute(
                    sa.text("select kind, outcome, amount from payments where order_id = :o"),
                    {"o": order_id},
                ).all()
            rows = [(p.kind, p.outcome, p.amount) for p in payments]
            return rows if sent == len(expected) else None

        payments = await wait_for(stored, "every email in the order database")
    finally:
        engine.dispose()
    assert payments == [("charge", "succeeded", 129900)]


async def test_invoice_installation_is_fulfilled_now_without_stripe(devstack: DevStack) -> None:
    order_id = f"e2ecbi-{uuid.uuid4().hex[:10]}"
    invoice = {"method": "invoice", "reference": "PO-4711"}
    async with httpx.AsyncClient(
        base_url=devstack.api_base_url, timeout=30, headers=devstack.auth_headers
    ) as api:
        created = await api.post("/orders", json=installation_body(order_id, invoice))
        assert created.status_code == 201, created.text
        view = await act(api, order_id, "fulfil", "support", "agent-1", note="box active")
        assert view["status"] == "fulfilled"
        [record] = view["payments"]
        assert (record["kind"], record["amount"], record["provider_id"]) == (
            "invoice",
            129900,
            None,
        )
        assert view["amount_paid"] == 0
        assert view["installation"]["amount_invoiced"] == 129900
        assert view["history"][-1]["reason"] == "box active"
