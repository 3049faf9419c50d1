"""The payment server is down for a while: the charge retries with backoff, support sees
the wait in ``GET /orders/{id}``, and once the server is back the order is paid once.

localstripe is stopped (SIGTERM) while the customer pays and started again on the same
port and state file. The pay action keeps waiting in the API; meanwhile the order's
``pending`` list shows what Temporal knows: the charge, its attempt, why the last one
failed and when the next one runs.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime, timedelta
from typing import Any

from models.orders import PaymentKind, PaymentOutcome
from tests.faults.prepaid import AMOUNT, CUSTOMER, PROVIDER, actor_json, order_id, prepaid_body
from tests.fixtures.stack import FaultStack, until
from tests.fixtures.stripe import intents_for_order


async def test_stripe_down_payment_waits_visibly_and_charges_once(
    fault_stack: FaultStack,
) -> None:
    stack = fault_stack
    _, stripe_server, _ = await asyncio.gather(
        stack.start_temporal(), stack.start_stripe(), stack.start_smtp()
    )
    await asyncio.gather(stack.start_worker(), stack.start_api())
    oid = order_id("stripe-down")

    async with stack.api(timeout=120) as http:
        assert (await http.post("/orders", json=prepaid_body(oid))).status_code == 201
        confirm = {"actor": actor_json(PROVIDER), "payload": {}}
        assert (await http.post(f"/orders/{oid}/actions/confirm", json=confirm)).status_code == 200

        stripe_server.kill(signal.SIGTERM)
        pay_body = {"actor": actor_json(CUSTOMER), "payload": {"payment_method": "pm_card_visa"}}
        pay = asyncio.create_task(http.post(f"/orders/{oid}/actions/pay", json=pay_body))

        seen: dict[int, dict[str, Any]] = {}

        async def charge_retrying(attempt: int) -> dict[str, Any] | None:
            detail = (await http.get(f"/orders/{oid}")).json()
            for entry in detail["pending"]:
                # Between two attempts: the last one failed, the next one is due.
                if entry["activity_type"] == "charge_payment" and entry["next_attempt_at"]:
                    seen[entry["attempt"]] = entry
            return seen.get(attempt)

        # Attempts 1 and 2 failed; the pause before the 3rd is longer than before the 2nd.
        waiting = await until(lambda: charge_retrying(3), "the charge's 3rd attempt", within=60)
        assert waiting["activity"] == "charge 85.00 EUR"
        assert waiting["state"] == "scheduled"
        assert waiting["maximum_attempts"] is None
        assert "APIConnectionError" in waiting["last_failure"]
        gaps = {
            n: datetime.fromisoformat(e["next_attempt_at"])
            - datetime.fromisoformat(e["last_attempt_at"])
            for n, e in seen.items()
        }
        assert gaps[3] >= timedelta(seconds=2)  # PAYMENT_RETRY: 1 s, doubling
        assert all(gaps[n] < gaps[3] for n in gaps if n < 3)

        await stack.start_stripe(from_scratch=False)  # same port, same state file
        paid = await asyncio.wait_for(pay, timeout=60)
        assert paid.status_code == 200, paid.text
        view = paid.json()
        assert view["status"] == "execution"
        assert view["amount_paid"] == AMOUNT

        async def charge_done() -> bool:
            detail = (await http.get(f"/orders/{oid}")).json()
            return not any(p["activity_type"] == "charge_payment" for p in detail["pending"])

        await until(charge_done, "the charge to leave the pending list")

    charges = [p for p in view["payments"] if p["kind"] == PaymentKind.charge]
    assert [(c["outcome"], c["idempotency_key"]) for c in charges] == [
        (PaymentOutcome.succeeded, f"{oid}:charge:1")
    ]
    assert await intents_for_order(stack.stripe_client(), oid) == [charges[0]["provider_id"]]
