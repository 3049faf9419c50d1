"""Every deadline of the prepaid flow, on the time-skipping server."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from flows.prepaid_service.policy import PrepaidPolicy
from models.common import Role
from tests.support.harness import Rejected
from tests.support.prepaid_service import PrepaidHarness

H = timedelta(hours=1)
MIN = timedelta(minutes=1)


def local_noon_days_ahead(now: datetime, zone: str, days: int, hour: int = 12) -> datetime:
    local = now.astimezone(ZoneInfo(zone))
    day = local.date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(zone))


async def test_unconfirmed_order_is_cancelled_after_24_hours(harness: PrepaidHarness) -> None:
    order = await harness.start(starts_in=timedelta(days=4))
    view = await harness.view(order)
    assert view.next_deadline is not None
    assert view.next_deadline.name == "confirmation"
    assert view.next_deadline.due_at - view.created_at == 24 * H
    await harness.sleep(24 * H - MIN)
    assert (await harness.view(order)).status == "confirmation"
    await harness.sleep(2 * MIN)
    final = await order.result()
    assert final.status == "cancelled"
    assert final.history[-1].actor.role == Role.system
    assert final.history[-1].reason == "not confirmed by the provider within 24 h"
    assert await harness.mail(final.order_id, "cancelled")
    [fired] = final.deadlines_fired
    assert (fired.name, fired.due_at) == ("confirmation", view.next_deadline.due_at)
    assert fired.fired_at == final.history[-1].at
    # The Web UI names the deadline's timer and how long it runs.
    history = await order.fetch_history()
    converter = harness.env.client.data_converter.payload_converter
    summaries = [
        converter.from_payload(event.user_metadata.summary, str)
        for event in history.events
        if event.HasField("timer_started_event_attributes")
    ]
    assert summaries[0] == "confirmation deadline (24 h)"


async def test_same_day_appointment_gives_five_hours(harness: PrepaidHarness) -> None:
    now = await harness.now()
    zone = "UTC"
    # Later today in the appointment's zone (or early tomorrow if today is nearly over).
    start = now + 6 * H
    if start.date() != now.date():
        await harness.sleep(7 * H)  # move into a fresh UTC morning
        now = await harness.now()
        start = now + 6 * H
    order = await harness.start(start=start, zone=zone)
    view = await harness.view(order)
    assert view.next_deadline is not None
    assert view.next_deadline.due_at - view.created_at == 5 * H
    await harness.sleep(5 * H - MIN)
    assert (await harness.view(order)).status == "confirmation"
    await harness.sleep(2 * MIN)
    final = await order.result()
    assert final.status == "cancelled"
    assert final.history[-1].reason == "not confirmed by the provider within 5 h"


async def test_same_day_is_judged_in_the_appointments_zone(harness: PrepaidHarness) -> None:
    zone = "Pacific/Auckland"  # UTC+13 in the southern summer
    # Move the clock to 08:00 in Auckland (19:00 UTC the day before).
    now = await harness.now()
    eight = local_noon_days_ahead(now, zone, 1, hour=8)
    await harness.sleep(eight - now)
    local_now = (await harness.now()).astimezone(ZoneInfo(zone))
    assert local_now.hour == 8
    today = local_now.date()
    # 23:30 the same local day: 5 h window, although it is the next UTC day.
    late_today = datetime(today.year, today.month, today.day, 23, 30, tzinfo=ZoneInfo(zone))
    assert late_today.astimezone(ZoneInfo("UTC")).date() != (await harness.now()).date()
    same_day = await harness.start(start=late_today, zone=zone)
    view = await harness.view(same_day)
    assert view.next_deadline is not None
    assert view.next_deadline.due_at - view.created_at == 5 * H
    assert view.next_deadline.due_at_local.utcoffset() == local_now.utcoffset()
    # 07:00 the next local day is within 24 h and the same UTC date as now: 24 h window.
    tomorrow = today + timedelta(days=1)
    early = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 7, tzinfo=ZoneInfo(zone))
    assert (
        early.astimezone(ZoneInfo("UTC")).date() == (await harness.now()).date() + timedelta(days=1)
        or early - (await harness.now()) < 24 * H
    )
    next_day = await harness.start(start=early, zone=zone)
    view = await harness.view(next_day)
    assert view.next_deadline is not None
    # The 24 h window, not the 5 h one; it ends at the appointment's start at the latest.
    assert early - view.created_at > 5 * H
    assert view.next_deadline.due_at == min(view.created_at + 24 * H, early)


async def test_zone_where_utc_date_differs(harness: PrepaidHarness) -> None:
    """Appointment on the same UTC date but the next local day: 24 h, not 5 h."""
    zone = "Pacific/Kiritimati"  # UTC+14: local date runs ahead of UTC for 14 h a day
    now = await harness.now()
    # Find a start later today (UTC) that is already tomorrow in Kiritimati.
    local_midnight = local_noon_days_ahead(now, zone, 1, hour=0) + H
    assert local_midnight.astimezone(ZoneInfo("UTC")).date() in (
        now.date(),
        now.date() + timedelta(days=1),
    )
    order = await harness.start(start=local_midnight, zone=zone)
    view = await harness.view(order)
    assert view.next_deadline is not None
    # The 24 h window, cut at the appointment's start (it is less than 24 h away).
    assert view.next_deadline.due_at == min(view.created_at + 24 * H, local_midnight)
    if local_midnight - view.created_at > 5 * H:
        assert view.next_deadline.due_at - view.created_at > 5 * H


async def test_edit_restarts_the_window_and_old_timer_never_fires(harness: PrepaidHarness) -> None:
    order = await harness.start(starts_in=timedelta(days=5))
    await harness.sleep(23 * H)
    # Edited just before the old deadline: the old 24 h timer would fire in one hour.
    view = await harness.act(order, "edit", Role.provider, {"duration_minutes": 120})
    assert view.awaiting == Role.customer
    assert view.next_deadline is not None
    edited_at = view.history[-1].at
    assert view.next_deadline.due_at == edited_at + 24 * H
    await harness.sleep(2 * H)  # past the old deadline
    assert (await harness.view(order)).status == "confirmation"
    # The customer edits back: the provider gets a fresh window again.
    await harness.sleep(20 * H)
    view = await harness.act(order, "edit", Role.customer, {"duration_minutes": 60})
    assert view.awaiting == Role.provider
    await harness.sleep(23 * H)
    assert (await harness.view(order)).status == "confirmation"
    view = await harness.act(order, "confirm", Role.provider)
    assert view.status == "payment"


async def test_edit_window_expires_with_the_customer_awaited(harness: PrepaidHarness) -> None:
    order = await harness.start(starts_in=timedelta(days=5))
    await harness.act(
        order,
        "edit",
        Role.provider,
        {"items": [{"name": "Massage", "quantity": 1, "unit_amount": 15000}]},
    )
    await harness.sleep(24 * H + MIN)
    final = await order.result()
    assert final.status == "cancelled"
    assert final.amount_total == 15000
    assert final.history[-1].reason == "not confirmed by the customer within 24 h"


async def test_unpaid_order_is_cancelled_after_12_hours(harness: PrepaidHarness) -> None:
    order = await harness.start()
    view = await harness.to_payment(order)
    assert view.next_deadline is not None
    assert view.next_deadline.name == "payment"
    assert view.next_deadline.due_at - view.history[-1].at == 12 * H
    await harness.sleep(12 * H - MIN)
    assert (await harness.view(order)).status == "payment"
    await harness.sleep(2 * MIN)
    final = await order.result()
    assert final.status == "cancelled"
    assert final.history[-1].reason == "not paid within 12 h"


async def test_the_customer_is_reminded_once_two_hours_before_the_payment_deadline(
    harness: PrepaidHarness,
) -> None:
    order = await harness.start()
    confirmed = await harness.to_payment(order)
    assert confirmed.next_deadline is not None
    payment_due = confirmed.next_deadline.due_at
    await harness.sleep(10 * H - MIN)
    assert harness.fakes.emails_for(confirmed.order_id, "payment_reminder") == []
    await harness.sleep(2 * MIN)
    [reminder] = await harness.mail(confirmed.order_id, "payment_reminder")
    assert reminder.recipient_role == "customer"
    # The email and the view name the payment deadline, not the reminder.
    view = await harness.view(order)
    assert view.next_deadline is not None
    assert (view.next_deadline.name, view.next_deadline.due_at) == ("payment", payment_due)
    assert reminder.context["deadline_name"] == "payment"
    assert [f.name for f in view.deadlines_fired] == ["payment_reminder"]
    await harness.sleep(3 * H)
    final = await order.result()
    assert final.status == "cancelled"
    assert len(harness.fakes.emails_for(final.order_id, "payment_reminder")) == 1


async def test_no_reminder_once_paid_or_when_the_policy_has_none(harness: PrepaidHarness) -> None:
    paid = await harness.start()
    await harness.to_execution(paid)
    silent = await harness.start(policy=PrepaidPolicy(payment_reminder_before=None))
    await harness.to_payment(silent)
    # A reminder not shorter than the window is no reminder (a short window stays valid).
    short = await harness.start(policy=PrepaidPolicy(payment_window=H))
    await harness.to_payment(short)
    await harness.sleep(13 * H)
    for order in (silent, short):
        assert (await harness.view(order)).status == "cancelled"
    for order in (paid, silent, short):
        assert harness.fakes.emails_for(order.id.removeprefix("order-"), "payment_reminder") == []


def test_a_negative_reminder_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        PrepaidPolicy(payment_reminder_before=-H)


async def test_payment_before_deadline_moves_to_execution(harness: PrepaidHarness) -> None:
    order = await harness.start()
    await harness.to_payment(order)
    await harness.sleep(11 * H)
    view = await harness.act(order, "pay", Role.customer)
    assert view.status == "execution"
    assert view.amount_paid == 12000
    await harness.sleep(2 * H)
    assert (await harness.view(order)).status == "execution"


async def test_mark_done_auto_confirms_72_hours_after_the_appointment(
    harness: PrepaidHarness,
) -> None:
    order = await harness.start(starts_in=timedelta(days=2), duration_minutes=60)
    view = await harness.to_execution(order)
    end = view.appointment.start + timedelta(minutes=60)
    assert view.next_deadline is not None
    assert view.next_deadline.name == "appointment_start"
    assert view.next_deadline.due_at == view.appointment.start
    await harness.sleep(view.appointment.start - (await harness.now()) + MIN)
    view = await harness.view(order)
    assert view.next_deadline is not None
    assert view.next_deadline.name == "mark_done"
    assert view.next_deadline.due_at == end + 72 * H
    assert view.allowed_actions[Role.provider] == ["mark_done"]
    now = await harness.now()
    await harness.sleep(end + 72 * H - now - MIN)
    assert (await harness.view(order)).status == "execution"
    await harness.sleep(2 * MIN)
    view = await harness.view(order)
    assert view.status == "execution_confirmation"
    assert view.history[-1].actor.role == Role.system
    assert view.history[-1].reason == "not marked done within 72 h"


async def test_execution_is_confirmed_after_five_days(harness: PrepaidHarness) -> None:
    order = await harness.start(starts_in=timedelta(days=2))
    await harness.to_execution(order)
    await harness.sleep(timedelta(days=2, hours=1))
    view = await harness.act(order, "mark_done", Role.provider)
    assert view.status == "execution_confirmation"
    await harness.sleep(timedelta(days=5) - MIN)
    assert (await harness.view(order)).status == "execution_confirmation"
    await harness.sleep(2 * MIN)
    view = await harness.view(order)
    assert view.status == "closed"
    assert view.history[-1].reason == "no answer within 5 days"


async def test_open_claim_keeps_the_order_open_past_five_days(harness: PrepaidHarness) -> None:
    order = await harness.start(starts_in=timedelta(days=1, hours=2))
    await harness.to_execution(order)
    await harness.sleep(timedelta(days=1, hours=3))
    await harness.act(order, "mark_done", Role.provider)
    await harness.sleep(timedelta(days=4))
    view = await harness.act(order, "open_claim", Role.customer)
    assert view.status == "claim_open"
    assert view.next_deadline is None
    await harness.sleep(timedelta(days=10))
    assert (await harness.view(order)).status == "claim_open"
    view = await harness.act(
        order, "resolve_claim", Role.support, {"outcome": "partial_refund", "amount": 4000}
    )
    assert view.status == "closed"
    assert view.amount_refunded == 4000
    assert view.claim is not None and view.claim.refund_amount == 4000
    assert view.payout is not None and view.payout.amount == 8000


async def test_payout_is_credited_14_days_after_closing(harness: PrepaidHarness) -> None:
    order = await harness.start(starts_in=timedelta(days=1, hours=2))
    await harness.to_execution(order)
    await harness.sleep(timedelta(days=1, hours=3))
    await harness.act(order, "mark_done", Role.provider)
    view = await harness.act(order, "confirm_execution", Role.customer)
    closed_at = view.closed_at
    assert closed_at is not None
    assert view.next_deadline is not None
    assert view.next_deadline.name == "payout"
    assert view.next_deadline.due_at == closed_at + timedelta(days=14)
    await harness.sleep(timedelta(days=14) - MIN)
    assert harness.fakes.payouts == []
    await harness.sleep(2 * MIN)
    final = await order.result()
    assert final.payout is not None and final.payout.paid_at is not None
    assert [p.amount for p in harness.fakes.payouts] == [12000]
    assert harness.fakes.payouts[0].idempotency_key == f"{final.order_id}:payout:1"


@pytest.mark.parametrize(
    ("notice", "late_percent", "expected_refund"),
    [
        # The server clock runs on between our sleep and the Update, so "exactly 24 h" is
        # approached from both sides by a few seconds.
        (timedelta(hours=24, seconds=5), 0, 12000),  # just over 24 h before: full refund
        (timedelta(hours=24, seconds=-5), 0, 0),  # just under: late policy (0 %)
        (timedelta(hours=24, seconds=-5), 50, 6000),  # late policy of the deployment
        (timedelta(hours=30), 0, 12000),
    ],
)
async def test_customer_cancellation_refund_boundary(
    harness: PrepaidHarness, notice: timedelta, late_percent: int, expected_refund: int
) -> None:
    policy = PrepaidPolicy(late_cancel_refund_percent=late_percent)
    order = await harness.start(starts_in=timedelta(days=3), policy=policy)
    view = await harness.to_execution(order)
    now = await harness.now()
    await harness.sleep(view.appointment.start - notice - now)
    final_view = await harness.act(order, "cancel", Role.customer, {"reason": "sick"})
    assert final_view.status == "cancelled"
    assert final_view.amount_refunded == expected_refund
    refunds = [r.amount for r in harness.fakes.refunds if r.order_id == final_view.order_id]
    assert refunds == ([expected_refund] if expected_refund else [])


async def test_provider_cancellation_refunds_in_full(harness: PrepaidHarness) -> None:
    order = await harness.start(starts_in=timedelta(hours=30))
    await harness.to_execution(order)
    await harness.sleep(29 * H)
    view = await harness.act(order, "cancel", Role.provider, {"reason": "ill"})
    assert view.amount_refunded == 12000
    assert view.history[-1].actor.role == Role.provider
    assert view.history[-1].reason == "ill"


async def test_edit_during_execution_applies_only_when_confirmed(harness: PrepaidHarness) -> None:
    order = await harness.start(starts_in=timedelta(days=3))
    view = await harness.to_execution(order)
    original = view.appointment.start
    new_start = original + timedelta(days=1)
    view = await harness.act(order, "edit", Role.provider, {"start": new_start.isoformat()})
    assert view.appointment.start == original
    assert view.pending_edit is not None
    assert view.next_deadline is not None and view.next_deadline.name == "edit_confirmation"
    view = await harness.act(order, "confirm", Role.customer)
    assert view.appointment.start == new_start
    assert view.pending_edit is None


async def test_unconfirmed_execution_edit_lapses(harness: PrepaidHarness) -> None:
    order = await harness.start(starts_in=timedelta(days=3))
    view = await harness.to_execution(order)
    original = view.appointment.start
    await harness.act(order, "edit", Role.provider, {"duration_minutes": 30})
    await harness.sleep(24 * H + MIN)
    view = await harness.view(order)
    assert view.status == "execution"
    assert view.pending_edit is None
    assert view.appointment.start == original
    assert view.appointment.duration_minutes == 60
    assert view.history[-1].action == "edit_lapsed"


async def test_price_cannot_change_after_payment(harness: PrepaidHarness) -> None:
    order = await harness.start()
    await harness.to_execution(order)
    with pytest.raises(Rejected) as err:
        await harness.act(
            order,
            "edit",
            Role.provider,
            {"items": [{"name": "Massage", "quantity": 1, "unit_amount": 1}]},
        )
    assert err.value.message == "the price cannot change after payment"


# ----- the windows end at the appointment (the customer pays before the service) -------


async def test_a_same_day_booking_must_be_paid_before_the_appointment(
    harness: PrepaidHarness,
) -> None:
    order = await harness.start(starts_in=3 * H)
    start = (await harness.view(order)).appointment
    assert start is not None
    confirmed = await harness.to_payment(order)
    assert confirmed.next_deadline is not None
    # 12 h to pay, cut at the appointment's start, 3 h away.
    assert confirmed.next_deadline.name == "payment"
    assert confirmed.next_deadline.due_at == start.start
    await harness.sleep(start.start - await harness.now() - timedelta(seconds=1))
    assert (await harness.act(order, "pay", Role.customer)).status == "execution"


async def test_unpaid_when_the_appointment_starts_is_cancelled(harness: PrepaidHarness) -> None:
    order = await harness.start(starts_in=3 * H)
    confirmed = await harness.to_payment(order)
    assert confirmed.appointment is not None
    await harness.sleep(confirmed.appointment.start - await harness.now())
    final = await order.result()
    assert final.status == "cancelled"
    assert final.history[-1].reason == "not paid before the appointment started"
    assert [d.name for d in final.deadlines_fired] == ["payment_reminder", "payment"]
    assert harness.fakes.charges == []


async def test_the_confirmation_window_ends_at_the_appointment(harness: PrepaidHarness) -> None:
    order = await harness.start(starts_in=2 * H)  # the same-day 5 h window, cut at 2 h
    view = await harness.view(order)
    assert view.appointment is not None and view.next_deadline is not None
    assert view.next_deadline.due_at == view.appointment.start
    await harness.sleep(2 * H)
    final = await order.result()
    assert (
        final.history[-1].reason == "not confirmed by the provider before the appointment started"
    )


async def test_a_long_window_is_not_cut_when_the_appointment_is_later(
    harness: PrepaidHarness,
) -> None:
    order = await harness.start(starts_in=12 * H + timedelta(seconds=1))
    confirmed = await harness.to_payment(order)
    assert confirmed.next_deadline is not None
    assert confirmed.next_deadline.due_at == confirmed.history[-1].at + 12 * H
