"""Every timer of the charge box installation flow, on the time-skipping server."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from models.common import Role
from models.orders import PaymentKind, PaymentOutcome
from tests.support.charge_box_installation import (
    AMOUNT,
    ZONE,
    C,
    InstallationHarness,
    S,
)
from tests.support.fakes import DECLINE, NEEDS_3DS
from tests.support.harness import Rejected

H = timedelta(hours=1)
MIN = timedelta(minutes=1)
SCHEDULED_FULFILMENT = (
    "the order is fulfilled and its payment processed (a card is charged, another payment is "
    "recorded as due); a decline returns it to pending, flagged, and tells the customer"
)


async def test_scheduled_fulfilment_fires_at_its_time_and_charges_once(
    installation: InstallationHarness,
) -> None:
    order = await installation.start()
    at = await installation.in_(timedelta(days=3))
    view = await installation.schedule(order, at, role=C, note="partner on site Tuesday")
    assert view.status == "scheduled"
    assert view.next_deadline is not None
    assert view.next_deadline.name == "scheduled_fulfilment"
    assert view.next_deadline.due_at == at
    local = view.next_deadline.due_at_local
    assert local.utcoffset() == at.astimezone(ZoneInfo(ZONE)).utcoffset()
    # The declared text (flows/charge_box_installation/declaration.py), whatever the payment.
    assert view.next_deadline.on_expiry == SCHEDULED_FULFILMENT
    assert view.installation is not None and view.installation.scheduled_by == Role.customer
    assert len(await installation.mails(view.order_id, "scheduled", 2)) == 2

    await installation.sleep(timedelta(days=3) - MIN)
    assert (await installation.view(order)).status == "scheduled"
    assert installation.fakes.charges == []
    await installation.sleep(2 * MIN)
    final = await order.result()
    assert final.status == "fulfilled"
    assert final.history[-1].actor.role == Role.system
    assert final.history[-1].reason is not None
    assert final.history[-1].reason.startswith("scheduled fulfilment at ")
    assert final.installation is not None and final.installation.fulfilled_at is not None
    assert final.installation.fulfilled_at >= at
    [charge] = installation.fakes.charges
    assert (charge.amount, charge.currency) == (AMOUNT, "EUR")
    assert charge.idempotency_key == f"{final.order_id}:charge:1"
    assert final.amount_paid == AMOUNT
    [mail] = [
        m
        for m in await installation.mail(final.order_id, "fulfilled")
        if m.recipient_role == "customer"
    ]
    assert mail.context["charged"] == "1299.00 EUR charged to your card"


async def test_schedule_moved_twice_fires_only_at_the_last_time(
    installation: InstallationHarness,
) -> None:
    order = await installation.start()
    first = await installation.in_(timedelta(days=2))
    await installation.schedule(order, first)
    # Moved later, then earlier than the first time: only the last timer may fire.
    later = await installation.in_(timedelta(days=5))
    view = await installation.schedule(order, later, role=C)
    assert view.next_deadline is not None and view.next_deadline.due_at == later
    await installation.sleep(timedelta(days=1))
    last = await installation.in_(timedelta(days=3))
    view = await installation.schedule(order, last)
    assert view.next_deadline is not None and view.next_deadline.due_at == last
    assert [t.action for t in view.history] == ["create", "schedule", "schedule", "schedule"]
    [moved, moved_again] = [
        m
        for m in await installation.mails(view.order_id, "rescheduled", 4)
        if m.recipient_role == "customer"
    ]
    assert moved.context["previous_local"].endswith(ZONE)
    assert moved_again.context["scheduled_local"] != moved.context["scheduled_local"]

    await installation.sleep(timedelta(days=1, hours=1))  # past the first time: nothing fires
    assert (await installation.view(order)).status == "scheduled"
    await installation.sleep(timedelta(days=2) - 2 * H)  # an hour before the last time
    assert (await installation.view(order)).status == "scheduled"
    assert installation.fakes.charges == []
    await installation.sleep(2 * H)
    final = await order.result()
    assert final.status == "fulfilled"
    assert final.installation is not None and final.installation.fulfilled_at is not None
    assert last <= final.installation.fulfilled_at < later
    assert len(installation.fakes.charges) == 1


async def test_unscheduled_order_returns_to_pending_and_never_fires(
    installation: InstallationHarness,
) -> None:
    order = await installation.start()
    await installation.schedule(order, await installation.in_(timedelta(days=1)), role=C)
    view = await installation.act(order, "unschedule", C, {"reason": "the installer is ill"})
    assert view.status == "pending"
    assert view.next_deadline is None
    assert view.installation is not None and view.installation.scheduled_for is None
    assert view.history[-1].reason == "the installer is ill"
    [mail, _] = await installation.mails(view.order_id, "unscheduled", 2)
    assert mail.context["reason"] == "the installer is ill"

    await installation.sleep(timedelta(days=2))
    assert (await installation.view(order)).status == "pending"
    assert installation.fakes.charges == []
    view = await installation.act(order, "fulfil", S, {"note": "activated"})
    assert view.status == "fulfilled"
    assert len(installation.fakes.charges) == 1


async def test_decline_at_the_scheduled_time_returns_to_pending_flagged(
    installation: InstallationHarness,
) -> None:
    order = await installation.start(card=DECLINE)
    await installation.schedule(order, await installation.in_(timedelta(days=1)))
    await installation.sleep(timedelta(days=1, minutes=1))
    view = await installation.view(order)
    assert view.status == "pending"
    assert view.next_deadline is None
    assert view.needs_attention
    assert view.attention_reason is not None
    assert "Your card was declined." in view.attention_reason
    assert view.history[-1].actor.role == Role.system
    assert view.history[-1].reason is not None
    assert "payment declined: Your card was declined." in view.history[-1].reason
    [told] = await installation.mail(view.order_id, "payment_failed")
    assert (told.recipient_role, told.context["reason"]) == ("customer", "Your card was declined.")
    [declined] = view.payments
    assert declined.outcome == PaymentOutcome.declined

    # Nothing more fires; the customer gives a new card and support fulfils.
    await installation.sleep(timedelta(days=2))
    assert len(installation.fakes.charges) == 1
    view = await installation.act(
        order, "update_payment_method", C, {"payment_method": "pm_card_visa"}
    )
    assert view.needs_attention
    assert (
        view.attention_reason == "the customer gave a new card after a failed payment: fulfil again"
    )
    view = await installation.act(order, "fulfil", S)
    assert view.status == "fulfilled"
    assert not view.needs_attention
    assert [p.outcome for p in view.payments] == [PaymentOutcome.declined, PaymentOutcome.succeeded]
    # A decline moves to a new key; the new card is charged under it.
    assert [c.idempotency_key for c in installation.fakes.charges] == [
        f"{view.order_id}:charge:1",
        f"{view.order_id}:charge:2",
    ]


async def test_new_card_on_a_scheduled_order_is_charged_at_its_time(
    installation: InstallationHarness,
) -> None:
    order = await installation.start(card=DECLINE)
    await installation.schedule(order, await installation.in_(timedelta(days=2)))
    with pytest.raises(Rejected):
        await installation.act(order, "fulfil", S)
    view = await installation.act(
        order, "update_payment_method", C, {"payment_method": "pm_card_visa"}
    )
    assert view.status == "scheduled"
    assert not view.needs_attention  # the schedule will charge the new card
    await installation.sleep(timedelta(days=2, minutes=1))
    final = await order.result()
    assert final.status == "fulfilled"
    assert final.amount_paid == AMOUNT


async def test_provider_outage_at_the_scheduled_time_retries_with_the_same_key(
    installation: InstallationHarness,
) -> None:
    order = await installation.start()
    at = await installation.in_(timedelta(days=1))
    await installation.schedule(order, at)
    installation.fakes.provider_down = True
    await installation.sleep(timedelta(days=1, minutes=1))
    view = await installation.view(order)
    assert view.status == "scheduled"
    assert view.needs_attention
    assert view.next_deadline is not None
    assert view.next_deadline.name == "fulfilment_retry"
    assert view.next_deadline.due_at - at >= H
    assert view.attention_reason is not None and "trying again at" in view.attention_reason
    assert (
        installation.fakes.emails_for(view.order_id, "payment_failed") == []
    )  # not the customer's fault
    with pytest.raises(Rejected) as refused:
        await installation.act(
            order, "update_payment_method", C, {"payment_method": "pm_card_amex"}
        )
    assert "outcome of the last charge is not known" in refused.value.message

    await installation.sleep(H)  # still down: another attempt, another hour
    assert (await installation.view(order)).status == "scheduled"
    installation.fakes.provider_down = False
    await installation.sleep(H)
    final = await order.result()
    assert final.status == "fulfilled"
    assert not final.needs_attention
    keys = {c.idempotency_key for c in installation.fakes.charge_attempts}
    assert len(installation.fakes.charge_attempts) == 3
    assert keys == {f"{final.order_id}:charge:1"}
    assert [p.outcome for p in final.payments] == [PaymentOutcome.succeeded]


async def test_invoice_order_fulfils_at_its_time_without_stripe(
    installation: InstallationHarness,
) -> None:
    order = await installation.start(card=None)
    view = await installation.schedule(order, await installation.in_(12 * H))
    assert view.next_deadline is not None
    assert view.next_deadline.on_expiry == SCHEDULED_FULFILMENT
    await installation.sleep(12 * H + MIN)
    final = await order.result()
    assert final.status == "fulfilled"
    assert installation.fakes.charge_attempts == []
    [invoice] = final.payments
    assert (invoice.kind, invoice.amount) == (PaymentKind.invoice, AMOUNT)
    assert final.amount_paid == 0
    assert final.installation is not None and final.installation.amount_invoiced == AMOUNT


async def test_three_d_secure_at_the_scheduled_time_completes_by_webhook(
    installation: InstallationHarness,
) -> None:
    order = await installation.start(card=NEEDS_3DS)
    await installation.schedule(order, await installation.in_(6 * H))
    await installation.sleep(6 * H + MIN)
    view = await installation.view(order)
    assert view.status == "pending"
    assert view.needs_attention
    assert view.installation is not None and view.installation.awaiting_authentication
    assert view.payment_client_secret == "pi_1_secret_x"
    with pytest.raises(Rejected) as refused:
        await installation.act(order, "fulfil", S)
    assert "waits for the customer's authentication" in refused.value.message

    await installation.webhook(order, "payment_intent.succeeded", "pi_1")
    final = await order.result()
    assert final.status == "fulfilled"
    assert final.amount_paid == AMOUNT
    assert not final.needs_attention
    assert final.payment_client_secret is None
    assert len(installation.fakes.charges) == 1
