"""Over HTTP on the real stack: a payment sent after its window closed, while the worker was
down, is refused when the worker comes back; the order is cancelled and nothing is charged.

Without the engine's rule the worker would get the timer and the payment in one workflow
task and run the payment first (issue "Deadlines win").
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from flows.prepaid_service.policy import PrepaidPolicy
from tests.faults.prepaid import CUSTOMER, PROVIDER, actor_json, order_id, prepaid_body
from tests.fixtures.stack import FaultStack
from tests.fixtures.stripe import intents_for_order

WINDOW = timedelta(seconds=6)


async def test_pay_after_the_window_with_the_worker_down_is_refused(
    fault_stack: FaultStack,
) -> None:
    stack = fault_stack
    stack.prepaid = PrepaidPolicy(payment_window=WINDOW)
    await asyncio.gather(stack.start_temporal(), stack.start_stripe(), stack.start_smtp())
    worker = await stack.start_worker()
    await stack.start_api()
    oid = order_id("race")
    async with stack.api(timeout=90) as api:
        created = await api.post("/orders", json=prepaid_body(oid))
        assert created.status_code == 201, created.text
        confirm = {"actor": actor_json(PROVIDER), "payload": {}}
        confirmed = await api.post(f"/orders/{oid}/actions/confirm", json=confirm)
        assert confirmed.status_code == 200, confirmed.text
        due = datetime.fromisoformat(confirmed.json()["next_deadline"]["due_at"])

        await worker.stop_now()
        left = (due - datetime.now(UTC)).total_seconds()
        assert left > 0, f"the worker stopped {-left:.1f} s after the deadline: too slow"
        await asyncio.sleep(left + 1)
        pay = {"actor": actor_json(CUSTOMER), "payload": {"payment_method": "pm_card_visa"}}
        paying = asyncio.create_task(api.post(f"/orders/{oid}/actions/pay", json=pay))
        await asyncio.sleep(1)
        assert not paying.done(), "the payment was answered without a worker"
        await stack.start_worker()
        refused = await asyncio.wait_for(paying, timeout=60)

        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"].startswith("the payment deadline passed at ")
        for _ in range(100):
            view = (await api.get(f"/orders/{oid}")).json()
            if view["status"] == "cancelled":
                break
            await asyncio.sleep(0.1)
        assert view["status"] == "cancelled"
        assert [d["name"] for d in view["deadlines_fired"]] == ["payment"]
        assert view["payments"] == []
    assert await intents_for_order(stack.stripe_client(), oid) == []
