"""3-D Secure over the real stack: the order waits, the customer authenticates at the
payment server, and Stripe's signed webhook (verified by the API) moves the order on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import stripe

from db.engine import make_engine, session_scope
from db.keys import KeyRole, create_key
from tests.e2e.test_prepaid_end_to_end import act, order_body, wait_for
from tests.fixtures.devstack import DevStack
from tests.fixtures.stripe import (
    CARD_3DS,
    CARD_DECLINED,
    TEST_PUBLISHABLE_KEY,
    create_test_payment_method,
)


async def test_three_d_secure_payment_completes_through_the_webhook(devstack: DevStack) -> None:
    order_id = f"e2e3ds-{uuid.uuid4().hex[:10]}"
    stripe_client = stripe.StripeClient(
        devstack.stripe_api_key, base_addresses={"api": devstack.stripe_base_url}
    )
    async with httpx.AsyncClient(
        base_url=devstack.api_base_url, timeout=30, headers=devstack.auth_headers
    ) as api:
        start = datetime.now(UTC) + timedelta(days=3)
        assert (await api.post("/orders", json=order_body(order_id, start))).status_code == 201
        await act(api, order_id, "confirm", "provider", "pro-e2e")

        # A declined card: 409 with the reason, the order stays in payment.
        declined = await create_test_payment_method(stripe_client, CARD_DECLINED)
        response = await api.post(
            f"/orders/{order_id}/actions/pay",
            json={
                "actor": {"role": "customer", "id": "cus-e2e"},
                "payload": {"payment_method": declined},
            },
        )
        assert response.status_code == 409
        assert "declined" in response.json()["detail"]

        method = await create_test_payment_method(stripe_client, CARD_3DS)
        # The client secret is shown to service keys only (the backend that hands it to its
        # customer's browser): pay as one.
        api.headers["Authorization"] = f"Bearer {service_key(devstack)}"
        view = await act(api, order_id, "pay", "customer", "cus-e2e", payment_method=method)
        assert view["status"] == "payment"
        secret = view["payment_client_secret"]
        intent_id = view["payments"][-1]["provider_id"]
        assert secret and intent_id
        assert view["payments"][-1]["idempotency_key"] == f"{order_id}:charge:2"

        # The customer's browser completes 3-D Secure with the client secret.
        async with httpx.AsyncClient(timeout=10) as http:
            done = await http.post(
                f"{devstack.stripe_base_url}/v1/payment_intents/{intent_id}/_authenticate",
                params={"success": "true"},
                json={"key": TEST_PUBLISHABLE_KEY, "client_secret": secret},
            )
        assert done.status_code == 200, done.text

        async def paid() -> dict[str, object] | None:
            current: dict[str, object] = (await api.get(f"/orders/{order_id}")).json()
            return current if current["status"] == "execution" else None

        view = await wait_for(paid, "the webhook to move the order to execution")
        assert view["amount_paid"] == 8500
        assert view["payment_client_secret"] is None
        pays = [t for t in view["history"] if t["action"] == "pay"]
        assert len(pays) == 1
        assert pays[0]["actor"]["role"] == "customer"


def service_key(devstack: DevStack) -> str:
    """A new service key in the stack's order database."""
    engine = make_engine(f"sqlite:///{devstack.paths.orders_db}")
    try:
        with session_scope(engine) as session:
            return create_key(session, f"svc-{uuid.uuid4().hex[:8]}", KeyRole.service)
    finally:
        engine.dispose()
