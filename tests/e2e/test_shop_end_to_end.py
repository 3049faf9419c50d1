"""Shop orders over HTTP on the real local stack, Salesforce included.

``orderclock dev`` runs the local Salesforce (the HTTPS stand-in) beside localstripe and
the SMTP sink; this test speaks HTTP to the API as the store and as Salesforce's callbacks,
then checks the side effects where they land: the records in the local Salesforce, the hold
and its capture at localstripe, the mail in the Maildir and the order database's rows.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import requests
import sqlalchemy as sa
import stripe
from simple_salesforce.api import Salesforce

from db.engine import make_engine
from tests.e2e.test_prepaid_end_to_end import mails_for, wait_for
from tests.fixtures.devstack import DevStack


def shop_body(order_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": order_id,
        "flow": "shop_order",
        "customer": {"id": "cus-shop-e2e", "name": "Sam Shopper", "email": "sam@example.com"},
        "items": [{"sku": "WID-1", "name": "Widget", "quantity": 2, "unit_amount": 2450}],
        "currency": "EUR",
        "payment": {"method": "card", "payment_method": "pm_card_visa"},
    }
    body.update(changes)
    return body


def local_salesforce(devstack: DevStack) -> Salesforce:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(devstack.salesforce_ca_bundle)
    return Salesforce(
        instance_url=devstack.salesforce_url, session_id=devstack.salesforce_token, session=session
    )


async def status_of(api: httpx.AsyncClient, order_id: str, status: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        view: dict[str, Any] = (await api.get(f"/orders/{order_id}")).json()
        return view if view.get("status") == status else None

    found: dict[str, Any] = await wait_for(reached, f"order {order_id} in {status}")
    return found


async def test_shop_orders_through_salesforce_to_completed(devstack: DevStack) -> None:
    order_id = f"shop-e2e-{uuid.uuid4().hex[:8]}"
    eval_id = f"eval-e2e-{uuid.uuid4().hex[:8]}"
    secret = {"X-Orderclock-Secret": devstack.salesforce_callback_secret}
    async with httpx.AsyncClient(
        base_url=devstack.api_base_url, timeout=30, headers=devstack.auth_headers
    ) as api:
        created = await api.post("/orders", json=shop_body(order_id))
        assert created.status_code == 201, created.text
        evaluation = shop_body(
            eval_id,
            kind="repair_eval",
            items=[{"sku": "EVAL-PUMP", "name": "Pump evaluation", "unit_amount": 0}],
        )
        assert (await api.post("/orders", json=evaluation)).status_code == 201

        view = await status_of(api, order_id, "in_process")
        assert view["amount_held"] == 4900
        sync = view["shop"]["salesforce"]
        assert (sync["state"], sync["record_type"]) == ("synced", "Order")

        # The records are in the local Salesforce, found by orderclock's external id.
        sf = local_salesforce(devstack)
        found = sf.query(
            f"SELECT Id, StageName FROM Opportunity WHERE Orderclock_Id__c = '{order_id}'"
        )
        assert [r["Id"] for r in found["records"]] == [sync["opportunity_id"]]
        assert found["records"][0]["StageName"] == "Closed Won"

        # Salesforce's callbacks: only with the shared secret.
        shipped = {"event_id": f"ship-{order_id}", "event": "shipped", "order_id": order_id}
        refused = await api.post("/callbacks/salesforce", json=shipped)
        assert refused.status_code == 401
        answer = await api.post("/callbacks/salesforce", json=shipped, headers=secret)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "completed"

        stripe_client = stripe.StripeClient(
            devstack.stripe_api_key, base_addresses={"api": devstack.stripe_base_url}
        )
        done = await status_of(api, order_id, "completed")
        capture = done["payments"][-1]
        assert (capture["kind"], capture["amount"]) == ("capture", 4900)
        intent = await stripe_client.payment_intents.retrieve_async(capture["provider_id"])
        assert (intent.status, intent.amount) == ("succeeded", 4900)

        # The EVAL: evaluated, approved, replaced by a priced order that holds the new price.
        await status_of(api, eval_id, "awaiting_evaluation")
        for name, extra in (
            ("evaluation_complete", {"repair_price": 12900}),
            ("quote_approved", {}),
        ):
            event = {"event_id": f"{name}-{eval_id}", "event": name, "order_id": eval_id, **extra}
            answer = await api.post("/callbacks/salesforce", json=event, headers=secret)
            assert answer.status_code == 200, answer.text
        old = await status_of(api, eval_id, "cancelled")
        assert old["history"][-1]["reason"] == "price changed"
        new_id = old["shop"]["replaced_by"]
        assert new_id == f"{eval_id}-r1"
        new = await status_of(api, new_id, "in_process")
        assert (new["shop"]["replaces"], new["amount_held"]) == (eval_id, 12900)

        expected = {
            (order_id, "placed"),
            (order_id, "shipped"),
            (eval_id, "placed"),
            (eval_id, "quote_ready"),
            (eval_id, "cancelled"),
            (new_id, "placed"),
        }

        async def all_mail() -> bool:
            got = {
                (oid, str(m["X-Orderclock-Event"]).removeprefix("shop_order/"))
                for oid in (order_id, eval_id, new_id)
                for m in mails_for(str(devstack.maildir), oid)
            }
            return expected <= got

        await wait_for(all_mail, "the shop orders' mail in the Maildir")

        async def recorded() -> bool:
            page = (await api.get("/orders", params={"customer_id": "cus-shop-e2e"})).json()
            rows = {row["order_id"]: row["status"] for row in page["items"]}
            return rows.get(order_id) == "completed" and rows.get(new_id) == "in_process"

        await wait_for(recorded, "the shop orders in GET /orders")

    engine = make_engine(devstack.database_url)
    try:
        with engine.connect() as db:
            statuses = dict(
                db.execute(
                    sa.text(
                        "select order_id, status from orders where flow = 'shop_order' "
                        "and order_id in (:a, :b, :c)"
                    ),
                    {"a": order_id, "b": eval_id, "c": new_id},
                ).all()
            )
    finally:
        engine.dispose()
    assert statuses == {order_id: "completed", eval_id: "cancelled", new_id: "in_process"}
