"""Dealer orders over HTTP on the real local stack: card held at placement, captured when
shipped, refunded, archived; another cancelled, its hold released at the payment server.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import stripe

from tests.e2e.test_prepaid_end_to_end import act, mails_for, plain_text, wait_for
from tests.fixtures.devstack import DevStack
from tests.support.dealer_order import dealer_body

DEALER = "dealer-e2e"


async def placed(api: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    created = await api.post("/orders", json=dealer_body(order_id, dealer_id=DEALER, amount=9000))
    assert created.status_code == 201, created.text

    async def held() -> dict[str, Any] | None:
        view: dict[str, Any] = (await api.get(f"/orders/{order_id}")).json()
        return view if view["dealer"]["review_step"] != "authorising" else None

    view: dict[str, Any] = await wait_for(held, "the card's pre-authorisation")
    assert view["amount_held"] == 9000, view
    return view


async def test_dealer_orders_on_the_local_stack(devstack: DevStack) -> None:
    shipped_id = f"e2e-d-{uuid.uuid4().hex[:10]}"
    cancelled_id = f"e2e-d-{uuid.uuid4().hex[:10]}"
    payments = stripe.StripeClient(
        devstack.stripe_api_key, base_addresses={"api": devstack.stripe_base_url}
    )
    async with httpx.AsyncClient(
        base_url=devstack.api_base_url, timeout=30, headers=devstack.auth_headers
    ) as api:
        view = await placed(api, shipped_id)
        assert view["next_deadline"]["name"] == "confirmation"
        hold = view["payments"][0]
        assert hold["kind"] == "authorisation"
        intent = await payments.payment_intents.retrieve_async(hold["provider_id"])
        assert (intent.status, intent.amount) == ("requires_capture", 9000)

        await act(api, shipped_id, "accept", "provider", DEALER)
        await act(api, shipped_id, "confirm", "provider", DEALER, note="in stock")
        view = await act(
            api, shipped_id, "mark_shipped", "provider", DEALER, tracking_numbers=["1Z1", "1Z2"]
        )
        assert view["status"] == "shipped"
        assert view["amount_paid"] == 9000
        intent = await payments.payment_intents.retrieve_async(hold["provider_id"])
        assert intent.status == "succeeded"

        view = await act(api, shipped_id, "refund", "support", "agent-1", reason="returned")
        assert view["status"] == "refunded"
        refund = view["payments"][-1]
        assert (refund["kind"], refund["outcome"], refund["amount"]) == (
            "refund",
            "succeeded",
            9000,
        )
        stored_refund = await payments.refunds.retrieve_async(refund["provider_id"])
        assert (stored_refund.amount, stored_refund.payment_intent) == (9000, hold["provider_id"])
        await act(api, shipped_id, "archive", "provider", DEALER)

        # Cancelling a new order releases its hold at the payment server.
        view = await placed(api, cancelled_id)
        other_hold = view["payments"][0]["provider_id"]
        view = await act(api, cancelled_id, "cancel", "provider", DEALER, reason="out of stock")
        assert view["status"] == "cancelled"
        intent = await payments.payment_intents.retrieve_async(other_hold)
        assert intent.status == "canceled"

        # The tabs: the refunded order is archived (hidden), the cancelled one is not.
        async def tabs() -> tuple[list[str], list[str]] | None:
            query = {"flow": "dealer_order", "provider_id": DEALER}
            default = (await api.get("/orders", params=query)).json()["items"]
            archived = (await api.get("/orders", params={**query, "archived": "true"})).json()
            listed = ([r["order_id"] for r in default], [r["order_id"] for r in archived["items"]])
            return listed if shipped_id in listed[1] and cancelled_id in listed[0] else None

        default, archived = await wait_for(tabs, "the tabs in GET /orders")
        assert shipped_id not in default and cancelled_id not in archived

        expected = {
            ("placed", "dora@example.com"),
            ("confirmed", "cleo@example.com"),
            ("shipped", "cleo@example.com"),
            ("refunded", "cleo@example.com"),
        }

        async def mail() -> set[tuple[str, str]] | None:
            got = {
                (
                    str(m["X-Orderclock-Event"]).removeprefix("dealer_order/"),
                    str(m["To"]).split("<")[-1].rstrip(">"),
                )
                for m in mails_for(str(devstack.maildir), shipped_id)
            }
            return got if expected <= got else None

        await wait_for(mail, "the dealer order's emails in the Maildir")
        shipped_mail = [
            m
            for m in mails_for(str(devstack.maildir), shipped_id)
            if m["X-Orderclock-Event"] == "dealer_order/shipped"
        ]
        assert "1Z1, 1Z2" in plain_text(shipped_mail[0])
