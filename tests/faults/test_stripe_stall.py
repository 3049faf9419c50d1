"""The payment server stalls mid-payment (SIGSTOP) for longer than a charge attempt may
take: the attempts time out and are retried under the same ``Idempotency-Key`` while the
first request is still queued at the server. When it resumes, every queued request is
carried out, and the server's own idempotency (``devstack/localstripe_server.py``, as Stripe's)
makes them one PaymentIntent and one capture; the order records that one charge.
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta

from api import gateway
from models.policy import ActivityPolicy
from tests.faults.prepaid import (
    CUSTOMER,
    PROVIDER,
    assert_charged_once,
    order_id,
    prepaid_request,
)
from tests.fixtures.stack import FaultStack, until

CHARGE_REQUEST = '"POST /v1/payment_intents HTTP'


async def test_stripe_stall_charges_once(fault_stack: FaultStack) -> None:
    stack = fault_stack
    stack.activities = ActivityPolicy(payment_attempt_timeout=timedelta(seconds=3))
    _, stripe_server, _ = await asyncio.gather(
        stack.start_temporal(), stack.start_stripe(), stack.start_smtp()
    )
    await stack.start_worker()
    oid = order_id("stripe-stall")
    await stack.start_order(prepaid_request(oid))
    await stack.act(oid, "confirm", PROVIDER)
    client = await stack.client()

    async def charge_attempt(n: int) -> bool:
        pending = await gateway.pending_activities(client, oid, timeouts=gateway.Timeouts())
        return any(p.activity_type == "charge_payment" and p.attempt >= n for p in pending or [])

    assert stripe_server.process is not None
    os.killpg(stripe_server.process.pid, signal.SIGSTOP)
    try:
        pay = asyncio.create_task(
            stack.act(oid, "pay", CUSTOMER, {"payment_method": "pm_card_visa"})
        )
        # Two attempts timed out against the stalled server; the third is on its way.
        await until(lambda: charge_attempt(3), "the charge's 3rd attempt", within=60)
    finally:
        os.killpg(stripe_server.process.pid, signal.SIGCONT)
    view = await asyncio.wait_for(pay, timeout=90)

    await assert_charged_once(view, oid, stack.stripe_client())
    # More than one charge request reached the server: the one PaymentIntent is its doing.
    assert stripe_server.log_text().count(CHARGE_REQUEST) >= 2
