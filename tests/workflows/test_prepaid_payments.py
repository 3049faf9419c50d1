"""How the prepaid flow treats payment outcomes: declines, provider errors, 3-D Secure."""

from __future__ import annotations

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

from models import errors, search
from models.common import Role
from models.orders import PaymentOutcome, StripeEvent
from tests.support.fakes import DECLINE, FLAKY, NEEDS_3DS
from tests.support.harness import Rejected
from tests.support.prepaid_service import PrepaidHarness
from workflows.prepaid_service import PrepaidServiceWorkflow

C = Role.customer


async def test_declined_card_keeps_the_order_in_payment(harness: PrepaidHarness) -> None:
    order = await harness.start()
    await harness.to_payment(order)
    with pytest.raises(Rejected) as rejected:
        await harness.act(order, "pay", C, {"payment_method": DECLINE})
    assert rejected.value.kind == errors.PAYMENT_DECLINED
    assert "Your card was declined." in rejected.value.message
    view = await harness.view(order)
    assert view.status == "payment"
    assert view.last_payment_error == "Your card was declined."
    assert [p.outcome for p in view.payments] == [PaymentOutcome.declined]
    # A new attempt is a new PaymentIntent with a new key; success moves on.
    view = await harness.act(order, "pay", C)
    assert view.status == "execution"
    keys = [c.idempotency_key for c in harness.fakes.charges]
    assert keys == [f"{view.order_id}:charge:1", f"{view.order_id}:charge:2"]
    assert view.last_payment_error is None
    assert await harness.mail(view.order_id, "payment_failed")


async def test_provider_error_flags_the_order_and_keeps_the_key(harness: PrepaidHarness) -> None:
    order = await harness.start()
    await harness.to_payment(order)
    with pytest.raises(Rejected) as rejected:
        await harness.act(order, "pay", C, {"payment_method": FLAKY})
    assert rejected.value.kind == errors.PAYMENT_UNAVAILABLE
    view = await harness.view(order)
    assert view.status == "payment"
    assert view.needs_attention
    assert view.attention_reason is not None and "bad key" in view.attention_reason
    # The key is kept, and Stripe replays a key only with the same request: another card
    # must wait until a retry with this one settles the unknown outcome.
    with pytest.raises(Rejected) as other_card:
        await harness.act(order, "pay", C, {"payment_method": "pm_card_visa"})
    assert other_card.value.kind == errors.NOT_ALLOWED
    assert f"the last payment with {FLAKY} is not known" in other_card.value.message
    view = await harness.act(order, "pay", C, {"payment_method": FLAKY})
    assert view.status == "execution"
    assert not view.needs_attention
    # The outcome of the failed attempt was unknown: the retry reused its key and card.
    sent = [(c.idempotency_key, c.payment_method) for c in harness.fakes.charges]
    assert sent == [(f"{view.order_id}:charge:1", FLAKY)] * 2


async def test_three_d_secure_completes_from_the_webhook(harness: PrepaidHarness) -> None:
    order = await harness.start()
    await harness.to_payment(order)
    view = await harness.act(order, "pay", C, {"payment_method": NEEDS_3DS})
    assert view.status == "payment"
    assert view.payment_client_secret == "pi_1_secret_x"
    assert view.payments[-1].outcome == PaymentOutcome.requires_action
    # The customer authenticates with the client secret; Stripe's webhook settles it.
    event = StripeEvent(
        event_id="evt_1", type="payment_intent.succeeded", payment_intent_id="pi_1", amount=12000
    )
    await order.signal(PrepaidServiceWorkflow.stripe_event, event)
    await order.signal(PrepaidServiceWorkflow.stripe_event, event)  # duplicate delivery
    view = await harness.view(order)
    assert view.status == "execution"
    assert view.amount_paid == 12000
    assert view.payment_client_secret is None
    assert [t.action for t in view.history].count("pay") == 1


async def test_webhook_for_another_intent_changes_nothing(harness: PrepaidHarness) -> None:
    order = await harness.start()
    await harness.to_payment(order)
    await harness.act(order, "pay", C, {"payment_method": NEEDS_3DS})
    before = await harness.view(order)
    await order.signal(
        PrepaidServiceWorkflow.stripe_event,
        StripeEvent(event_id="evt_x", type="payment_intent.succeeded", payment_intent_id="pi_9"),
    )
    after = await harness.view(order)
    assert after.status == "payment"
    assert after.version == before.version


async def test_failed_authentication_is_a_decline(harness: PrepaidHarness) -> None:
    order = await harness.start()
    await harness.to_payment(order)
    await harness.act(order, "pay", C, {"payment_method": NEEDS_3DS})
    await order.signal(
        PrepaidServiceWorkflow.stripe_event,
        StripeEvent(
            event_id="evt_2",
            type="payment_intent.payment_failed",
            payment_intent_id="pi_1",
            failure_message="authentication failed",
        ),
    )
    view = await harness.view(order)
    assert view.status == "payment"
    assert view.payments[-1].outcome == PaymentOutcome.declined
    assert view.last_payment_error == "authentication failed"


async def test_attention_clears_when_the_flagged_order_is_cancelled(
    harness: PrepaidHarness,
) -> None:
    order = await harness.start()
    await harness.to_payment(order)
    with pytest.raises(Rejected):
        await harness.act(order, "pay", C, {"payment_method": FLAKY})
    assert (await harness.view(order)).needs_attention
    final = await harness.act(order, "cancel", C)
    assert final.status == "cancelled"
    assert not final.needs_attention and final.attention_reason is None
    # What the flag said stays in the history, after the cancellation.
    cleared = final.history[-1]
    assert (cleared.action, cleared.actor.role) == ("attention_cleared", Role.system)
    assert cleared.reason is not None and "bad key" in cleared.reason
    # The raw RPC: the SDK cannot decode the unset datetime attribute this server reports.
    client = harness.env.client
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=order.id)
        )
    )
    fields = described.workflow_execution_info.search_attributes.indexed_fields
    assert fields[search.ORDER_NEEDS_ATTENTION.name].data == b"false"
