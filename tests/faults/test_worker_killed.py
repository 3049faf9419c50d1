"""The worker is SIGKILLed while a charge is in flight: one charge, and the order goes on.

The charge request reaches the payment server and is carried out, but the answer is held
back (a slow network) and the worker process is killed before it arrives. Temporal notices
once the attempt's start-to-close timeout passes (the deployment's
``ORDERCLOCK_ACTIVITIES__PAYMENT_ATTEMPT_TIMEOUT``, 3 s here instead of 30 s) and gives the
retry to a new worker process, which sends the same request under the same idempotency key.

:class:`~tests.fixtures.stripe.StripeProxy` only holds the answer back; both requests
reach the local Stripe server, whose own ``Idempotency-Key`` handling (as Stripe's) answers
the repeat with the first answer. What this test proves is that orderclock sends the same
key after a worker died mid-request, and that the payment server holds exactly one
PaymentIntent and one capture for the order, which completes with it.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta

from models.policy import ActivityPolicy
from tests.faults.prepaid import (
    CUSTOMER,
    PROVIDER,
    assert_charged_once,
    order_id,
    prepaid_request,
)
from tests.fixtures.stack import FaultStack
from tests.fixtures.stripe import (
    ProxiedRequest,
    StripeProxy,
)

CHARGE_PATH = "/v1/payment_intents"


async def test_worker_killed_mid_charge_charges_once(fault_stack: FaultStack) -> None:
    stack = fault_stack
    stack.activities = ActivityPolicy(payment_attempt_timeout=timedelta(seconds=3))
    await asyncio.gather(stack.start_temporal(), stack.start_stripe(), stack.start_smtp())

    in_flight, release = asyncio.Event(), asyncio.Event()

    async def slow_first_charge(request: ProxiedRequest) -> None:
        if request.path == CHARGE_PATH and not in_flight.is_set():
            in_flight.set()
            await release.wait()

    proxy = StripeProxy(stack.stripe_base_url, hold=slow_first_charge)
    stack.stripe_api_base = await proxy.start()
    try:
        worker = await stack.start_worker()
        oid = order_id("killed-worker")
        await stack.start_order(prepaid_request(oid))
        await stack.act(oid, "confirm", PROVIDER)
        pay = asyncio.create_task(
            stack.act(oid, "pay", CUSTOMER, {"payment_method": "pm_card_visa"})
        )
        await asyncio.wait_for(in_flight.wait(), timeout=30)
        worker.kill(signal.SIGKILL)  # the charge is made, its answer not yet delivered
        release.set()  # the held answer now goes to a dead connection
        await stack.start_worker()
        view = await asyncio.wait_for(pay, timeout=90)
    finally:
        release.set()
        await proxy.close()

    # The payment server holds exactly one PaymentIntent and one capture for the order.
    await assert_charged_once(view, oid, stack.stripe_client())

    # The request reached the server twice under one key: carried out once, the retry
    # answered by the server with the first answer.
    posts = [r for r in proxy.requests if r.method == "POST" and r.path == CHARGE_PATH]
    assert [(r.forwarded, r.replayed) for r in posts] == [(True, False), (True, True)]
    assert {r.idempotency_key for r in posts} == {f"{oid}:charge:1"}
