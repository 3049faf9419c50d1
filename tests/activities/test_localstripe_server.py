"""The localstripe wrapper: loopback only, state in the chosen file, health, webhooks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import stripe
from aiohttp import web
from temporalio.testing import ActivityEnvironment

from activities.payments import PaymentActivities
from devstack.localstripe_server import HEALTH_PATH
from models.activities import ChargeInput
from models.orders import PaymentOutcome
from tests.fixtures.smtp import free_port
from tests.fixtures.stripe import (
    LocalStripe,
    create_test_payment_method,
    start_localstripe,
    stop_localstripe,
)


def test_listens_on_loopback_with_a_health_check(localstripe: LocalStripe) -> None:
    assert localstripe.base_url.startswith("http://127.0.0.1:")

    response = httpx.get(localstripe.base_url + HEALTH_PATH, timeout=5)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    unauthenticated = httpx.get(localstripe.base_url + "/v1/payment_intents", timeout=5)
    assert unauthenticated.status_code == 401


async def test_state_survives_a_restart_in_the_chosen_file(tmp_path: Path) -> None:
    server = start_localstripe(tmp_path)
    try:
        method_id = await create_test_payment_method(server.stripe_client())
    finally:
        stop_localstripe(server.process)
    assert (tmp_path / "localstripe.pickle").stat().st_size > 0

    again = start_localstripe(tmp_path, from_scratch=False)
    try:
        method = await again.stripe_client().v1.payment_methods.retrieve_async(method_id)
        assert method.id == method_id
    finally:
        stop_localstripe(again.process)

    fresh = start_localstripe(tmp_path, from_scratch=True)
    try:
        client = fresh.stripe_client()
        try:
            await client.v1.payment_methods.retrieve_async(method_id)
        except stripe.InvalidRequestError as exc:
            assert exc.http_status == 404
        else:
            raise AssertionError("--from-scratch kept the old state")
    finally:
        stop_localstripe(fresh.process)
    assert fresh.process.returncode == 0


async def test_registered_webhook_receives_signed_events(localstripe: LocalStripe) -> None:
    secret = "whsec_test_orderclock"
    received: asyncio.Queue[stripe.Event] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        payload = await request.read()
        event = stripe.Webhook.construct_event(payload, request.headers["Stripe-Signature"], secret)
        await received.put(event)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/stripe", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        localstripe.register_webhook("test-hook", f"http://127.0.0.1:{port}/stripe", secret)
        payments = PaymentActivities(localstripe.stripe_client())
        method = await create_test_payment_method(localstripe.stripe_client())
        result = await ActivityEnvironment().run(
            payments.charge_payment,
            ChargeInput(
                idempotency_key="hook-1:charge:1",
                order_id="hook-1",
                amount=999,
                currency="EUR",
                payment_method=method,
            ),
        )
        assert result.outcome is PaymentOutcome.succeeded

        while True:
            event = await asyncio.wait_for(received.get(), timeout=10)
            intent = event.data.object
            if intent["id"] == result.payment_intent_id:
                break
        assert event.type == "payment_intent.succeeded"
        assert intent["metadata"]["order_id"] == "hook-1"
    finally:
        await runner.cleanup()
