"""Every timer of the charge box installation flow, on the time-skipping server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment

from models.common import Role
from models.orders import PaymentKind, PaymentOutcome
from tests.fakes import DECLINE, NEEDS_3DS
from tests.workflows.conftest import Rejected
from tests.workflows.installation import (
    AMOUNT,
    ZONE,
    C,
    InstallationHarness,
    S,
    installation_harness,
)

H = timedelta(hours=1)
MIN = timedelta(minutes=1)
SCHEDULED_FULFILMENT = (
    "the order is fulfilled and its payment processed (a card is charged, another payment is "
    "recorded as due); a decline returns it to pending, flagged, and tells the customer"
)


@pytest.fixture
async def h(
    own_time_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[InstallationHarness]:
    async with installation_harness(own_time_env, task_queue) as harness:
        yield harness


async def test_scheduled_fulfilment_fires_at_its_time_and_charges_once(
    h: InstallationHarness,
) -> None:
    order = await h.start()
    at = await h.in_(timedelta(days=3))
    view = await h.schedule(order, at, role=C, note="partner on site Tuesday")
    assert view.status == "scheduled"
    assert view.next_deadline is not None
    assert view.next_deadline.name == "scheduled_fulfilment"
    assert view.next_deadline.due_at == at
    local = view.next_deadline.due_at_local
    assert local.utcoffset() == at.astimezone(ZoneInfo(ZONE)).utcoffset()
    # The declared text (flows/charge_box_installation/declaration.py), whatever the payment.
    assert view.next_deadline.on_expiry == SCHEDULED_FULFILMENT
    assert view.installation is not None and view.installation.scheduled_by == Role.customer
    assert len(await h.mails(view.order_id, "scheduled", 2)) == 2

    await h.sleep(timedelta(days=3) - MIN)
    assert (await h.view(order)).status == "scheduled"
    assert h.fakes.charges == []
    await h.sleep(2 * MIN)
    final = await order.result()
    assert final.status == "fulfilled"
    assert final.history[-1].actor.role == Role.system
    assert final.history[-1].reason is not None
    assert final.history[-1].reason.startswith("scheduled fulfilment at ")
    assert final.installation is not None and final.installation.fulfilled_at is not None
    assert final.installation.fulfilled_at >= at
    [charge] = h.fakes.charges
    assert (charge.amount, charge.currency) == (AMOUNT, "EUR")
    assert charge.idempotency_key == f"{final.order_id}:charge:1"
    assert final.amount_paid == AMOUNT
    [mail] = [
        m for m in await h.mail(final.order_id, "fulfilled") if m.recipient_role == "customer"
    ]
    assert mail.context["charged"] == "1299.00 EUR charged to your card"


async def test_schedule_moved_twice_fires_only_at_the_last_time(h: InstallationHarness) -> None:
    order = await h.start()
    first = await h.in_(timedelta(days=2))
    await h.schedule(order, first)
    # Moved later, then earlier than the first time: only the last timer may fire.
    later = await h.in_(timedelta(days=5))
    view = await h.schedule(order, later, role=C)
    assert view.next_deadline is not None and view.next_deadline.due_at == later
    await h.sleep(timedelta(days=1))
    last = await h.in_(timedelta(days=3))
    view = await h.schedule(order, last)
    assert view.next_deadline is not None and view.next_deadline.due_at == last
    assert [t.action for t in view.history] == ["create", "schedule", "schedule", "schedule"]
    [moved, moved_again] = [
        m for m in await h.mails(view.order_id, "rescheduled", 4) if m.recipient_role == "customer"
    ]
    assert moved.context["previous_local"].endswith(ZONE)
    assert moved_again.context["scheduled_local"] != moved.context["scheduled_local"]

    await h.sleep(timedelta(days=1, hours=1))  # past the first time: nothing fires
    assert (await h.view(order)).status == "scheduled"
    await h.sleep(timedelta(days=2) - 2 * H)  # an hour before the last time
    assert (await h.view(order)).status == "scheduled"
    assert h.fakes.charges == []
    await h.sleep(2 * H)
    final = await order.result()
    assert final.status == "fulfilled"
    assert final.installation is not None and final.installation.fulfilled_at is not None
    assert last <= final.installation.fulfilled_at < later
    assert len(h.fakes.charges) == 1


async def test_unscheduled_order_returns_to_pending_and_never_fires(
    h: InstallationHarness,
) -> None:
    order = await h.start()
    await h.schedule(order, await h.in_(timedelta(days=1)), role=C)
    view = await h.act(order, "unschedule", C, {"reason": "the installer is ill"})
    assert view.status == "pending"
    assert view.next_deadline is None
    assert view.installation is not None and view.installation.scheduled_for is None
    assert view.history[-1].reason == "the installer is ill"
    [mail, _] = await h.mails(view.order_id, "unscheduled", 2)
    assert mail.context["reason"] == "the installer is ill"

    await h.sleep(timedelta(days=2))
    assert (await h.view(order)).status == "pending"
    assert h.fakes.charges == []
    view = await h.act(order, "fulfil", S, {"note": "activated"})
    assert view.status == "fulfilled"
    assert len(h.fakes.charges) == 1


async def test_decline_at_the_scheduled_time_returns_to_pending_flagged(
    h: InstallationHarness,
) -> None:
    order = await h.start(card=DECLINE)
    await h.schedule(order, await h.in_(timedelta(days=1)))
    await h.sleep(timedelta(days=1, minutes=1))
    view = await h.view(order)
    assert view.status == "pending"
    assert view.next_deadline is None
    assert view.needs_attention
    assert view.attention_reason is not None
    assert "Your card was declined." in view.attention_reason
    assert view.history[-1].actor.role == Role.system
    assert view.history[-1].reason is not None
    assert "payment declined: Your card was declined." in view.history[-1].reason
    [told] = await h.mail(view.order_id, "payment_failed")
    assert (told.recipient_role, told.context["reason"]) == ("customer", "Your card was declined.")
    [declined] = view.payments
    assert declined.outcome == PaymentOutcome.declined

    # Nothing more fires; the customer gives a new card and support fulfils.
    await h.sleep(timedelta(days=2))
    assert len(h.fakes.charges) == 1
    view = await h.act(order, "update_payment_method", C, {"payment_method": "pm_card_visa"})
    assert view.needs_attention
    assert (
        view.attention_reason == "the customer gave a new card after a failed payment: fulfil again"
    )
    view = await h.act(order, "fulfil", S)
    assert view.status == "fulfilled"
    assert not view.needs_attention
    assert [p.outcome for p in view.payments] == [PaymentOutcome.declined, PaymentOutcome.succeeded]
    # A decline moves to a new key; the new card is charged under it.
    assert [c.idempotency_key for c in h.fakes.charges] == [
        f"{view.order_id}:charge:1",
        f"{view.order_id}:charge:2",
    ]


async def test_new_card_on_a_scheduled_order_is_charged_at_its_time(
    h: InstallationHarness,
) -> None:
    order = await h.start(card=DECLINE)
    await h.schedule(order, await h.in_(timedelta(days=2)))
    with pytest.raises(Rejected):
        await h.act(order, "fulfil", S)
    view = await h.act(order, "update_payment_method", C, {"payment_method": "pm_card_visa"})
    assert view.status == "scheduled"
    assert not view.needs_attention  # the schedule will charge the new card
    await h.sleep(timedelta(days=2, minutes=1))
    final = await order.result()
    assert final.status == "fulfilled"
    assert final.amount_paid == AMOUNT


async def test_provider_outage_at_the_scheduled_time_retries_with_the_same_key(
    h: InstallationHarness,
) -> None:
    order = await h.start()
    at = await h.in_(timedelta(days=1))
    await h.schedule(order, at)
    h.fakes.provider_down = True
    await h.sleep(timedelta(days=1, minutes=1))
    view = await h.view(order)
    assert view.status == "scheduled"
    assert view.needs_attention
    assert view.next_deadline is not None
    assert view.next_deadline.name == "fulfilment_retry"
    assert view.next_deadline.due_at - at >= H
    assert view.attention_reason is not None and "trying again at" in view.attention_reason
    assert h.fakes.emails_for(view.order_id, "payment_failed") == []  # not the customer's fault
    with pytest.raises(Rejected) as refused:
        await h.act(order, "update_payment_method", C, {"payment_method": "pm_card_amex"})
    assert "outcome of the last charge is not known" in refused.value.message

    await h.sleep(H)  # still down: another attempt, another hour
    assert (await h.view(order)).status == "scheduled"
    h.fakes.provider_down = False
    await h.sleep(H)
    final = await order.result()
    assert final.status == "fulfilled"
    assert not final.needs_attention
    keys = {c.idempotency_key for c in h.fakes.charge_attempts}
    assert len(h.fakes.charge_attempts) == 3
    assert keys == {f"{final.order_id}:charge:1"}
    assert [p.outcome for p in final.payments] == [PaymentOutcome.succeeded]


async def test_invoice_order_fulfils_at_its_time_without_stripe(h: InstallationHarness) -> None:
    order = await h.start(card=None)
    view = await h.schedule(order, await h.in_(12 * H))
    assert view.next_deadline is not None
    assert view.next_deadline.on_expiry == SCHEDULED_FULFILMENT
    await h.sleep(12 * H + MIN)
    final = await order.result()
    assert final.status == "fulfilled"
    assert h.fakes.charge_attempts == []
    [invoice] = final.payments
    assert (invoice.kind, invoice.amount) == (PaymentKind.invoice, AMOUNT)
    assert final.amount_paid == 0
    assert final.installation is not None and final.installation.amount_invoiced == AMOUNT


async def test_three_d_secure_at_the_scheduled_time_completes_by_webhook(
    h: InstallationHarness,
) -> None:
    order = await h.start(card=NEEDS_3DS)
    await h.schedule(order, await h.in_(6 * H))
    await h.sleep(6 * H + MIN)
    view = await h.view(order)
    assert view.status == "pending"
    assert view.needs_attention
    assert view.installation is not None and view.installation.awaiting_authentication
    assert view.payment_client_secret == "pi_1_secret_x"
    with pytest.raises(Rejected) as refused:
        await h.act(order, "fulfil", S)
    assert "waits for the customer's authentication" in refused.value.message

    await h.webhook(order, "payment_intent.succeeded", "pi_1")
    final = await order.result()
    assert final.status == "fulfilled"
    assert final.amount_paid == AMOUNT
    assert not final.needs_attention
    assert final.payment_client_secret is None
    assert len(h.fakes.charges) == 1
