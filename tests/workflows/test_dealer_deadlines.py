"""Every timer of the dealer order flow on the time-skipping server.

The business-day deadline is checked on real calendars: the clock is moved to a chosen
local day (a plain Tuesday, a Saturday, Maundy Thursday, the eve of a US holiday) found
from today, so the tests hold whatever day CI runs on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from flows.dealer_order.policy import DealerPolicy
from models.activities import AUTHORISE_PAYMENT, AuthoriseInput, AuthoriseResult
from models.business_days import BusinessCalendar
from models.common import Role
from models.orders import OrderView, PaymentOutcome
from tests.support.dealer_order import (
    ON_ACCOUNT,
    DealerHarness,
    Handle,
    card,
    dealer_harness,
    dealer_request,
)
from tests.support.fakes import DECLINE, NEEDS_3DS, FakeActivities
from tests.support.harness import Rejected

BERLIN = "Europe/Berlin"
LOS_ANGELES = "America/Los_Angeles"
MIN = timedelta(minutes=1)
DAY = timedelta(days=1)
S = Role.support
# The README's dealer deadline table (the seed is silent on both): closed 30 days after
# it ends; the card's pre-authorisation tried again every 10 min while Stripe is away.
ARCHIVE_AFTER = timedelta(days=30)
AUTHORISATION_RETRY = timedelta(minutes=10)


def first_day(after: date, fits: Callable[[date], bool]) -> date:
    """The first day after ``after`` that ``fits`` (within two years)."""
    for offset in range(1, 800):
        day = after + timedelta(days=offset)
        if fits(day):
            return day
    raise AssertionError("no such day within two years")


async def move_to(h: DealerHarness, day: date, at: time, zone: str) -> datetime:
    """Skip the clock to ``at`` on ``day`` in ``zone``."""
    target = datetime.combine(day, at, tzinfo=ZoneInfo(zone))
    await h.sleep(target - await h.now())
    return target


async def today(h: DealerHarness, zone: str = BERLIN) -> date:
    return (await h.now()).astimezone(ZoneInfo(zone)).date()


def local(moment: datetime | None, zone: str = BERLIN) -> datetime:
    assert moment is not None
    return moment.astimezone(ZoneInfo(zone))


def due_of(view: OrderView) -> datetime:
    assert view.dealer is not None and view.dealer.confirmation_due_at is not None
    return view.dealer.confirmation_due_at


async def failures(h: DealerHarness, order: Handle) -> list[tuple[str, str]]:
    view = await h.view(order)
    emails = h.fakes.emails_for(view.order_id, "confirmation_failed")
    return sorted((e.recipient_role, e.to_address) for e in emails)


async def test_an_order_not_confirmed_in_a_business_day_fails_once_and_stays_open(
    dealer: DealerHarness,
) -> None:
    germany = BusinessCalendar("DE")
    # A Tuesday whose Wednesday is a business day too.
    tuesday = first_day(
        await today(dealer),
        lambda d: d.weekday() == 1 and all(germany.is_business_day(d + k * DAY) for k in (0, 1)),
    )
    placed = await move_to(dealer, tuesday, time(10), BERLIN)
    order = await dealer.start()
    view = await dealer.view(order)
    assert view.next_deadline is not None and view.next_deadline.name == "confirmation"
    due = due_of(view)
    assert abs(local(due) - (placed + DAY)) < MIN
    assert view.next_deadline.due_at == due
    assert [e.event for e in dealer.fakes.emails_for(view.order_id, "placed")] == ["placed"]

    # Accepting does not meet the deadline: only confirming after review does.
    await dealer.act(order, "accept")
    await dealer.sleep(due - await dealer.now() - MIN)
    assert await failures(dealer, order) == []
    await dealer.sleep(2 * MIN)
    await dealer.mail(view.order_id, "confirmation_failed")
    assert await failures(dealer, order) == [
        ("manufacturer", "oem@example.com"),
        ("provider", "dora@example.com"),
    ]
    view = await dealer.view(order)
    assert view.status == "new"
    assert view.needs_attention
    assert view.attention_reason is not None
    assert view.attention_reason.startswith("not confirmed within 1 business day (due ")
    assert view.history[-1].action == "confirmation_failed"
    assert view.history[-1].actor.role == Role.system
    assert view.dealer is not None and view.dealer.confirmation_failed_at is not None
    failure = dealer.fakes.emails_for(view.order_id, "confirmation_failed")[0]
    assert failure.context["confirm_due_local"].endswith(" Europe/Berlin")

    # The order stays open: the dealer still confirms it, which clears the flag.
    view = await dealer.act(order, "confirm", payload={})
    assert not view.needs_attention
    assert view.history[-1].reason == "confirmed after the deadline"
    await dealer.mail(view.order_id, "confirmed")
    # The failure was sent once, however long the order stays open.
    await dealer.sleep(10 * DAY)
    assert len(await failures(dealer, order)) == 2


async def test_confirming_in_time_meets_the_deadline(dealer: DealerHarness) -> None:
    order = await dealer.start(payment=ON_ACCOUNT)
    await dealer.confirmed(order)
    view = await dealer.view(order)
    assert view.next_deadline is None  # on account nothing is held: no timer at all
    await dealer.sleep(7 * DAY)
    view = await dealer.view(order)
    assert not view.needs_attention
    assert dealer.fakes.emails_for(view.order_id, "confirmation_failed") == []
    assert [e.recipient_role for e in dealer.fakes.emails_for(view.order_id, "confirmed")] == [
        "customer"
    ]


async def test_the_deadline_skips_easter_weekend_and_holidays_in_the_dealers_zone(
    dealer: DealerHarness,
) -> None:
    germany = BusinessCalendar("DE")
    # Good Friday: a Friday holiday followed by a Monday holiday (Easter Monday).
    good_friday = first_day(
        await today(dealer) + DAY,
        lambda d: (
            d.weekday() == 4
            and not germany.is_business_day(d)
            and not germany.is_business_day(d + 3 * DAY)
        ),
    )
    placed = await move_to(dealer, good_friday - DAY, time(15), BERLIN)
    order = await dealer.start()
    due = local(due_of(await dealer.view(order)))
    # Due Tuesday after Easter at 15:00 local time (CEST after the clocks changed, or CET).
    tuesday_after_easter = good_friday + 4 * DAY
    assert due.date() == tuesday_after_easter
    assert abs(due - datetime.combine(tuesday_after_easter, time(15), ZoneInfo(BERLIN))) < MIN
    assert due - placed > 4 * DAY

    await dealer.sleep(due - await dealer.now() - MIN)
    assert await failures(dealer, order) == []
    assert (await dealer.view(order)).next_deadline.name == "confirmation"  # type: ignore[union-attr]
    await dealer.sleep(2 * MIN)
    await dealer.mail((await dealer.view(order)).order_id, "confirmation_failed")
    assert (await dealer.view(order)).needs_attention


async def test_the_dealers_zone_and_the_manufacturers_business_days_decide(
    dealer: DealerHarness,
) -> None:
    us = BusinessCalendar("US")
    # A Thursday US holiday (Thanksgiving, or Veterans Day) after a working Wednesday,
    # followed by a working Friday and Monday.
    holiday = first_day(
        await today(dealer, LOS_ANGELES) + DAY,
        lambda d: (
            d.weekday() == 3
            and not us.is_business_day(d)
            and all(us.is_business_day(d + k * DAY) for k in (-1, 1, 4))
        ),
    )
    # Wednesday 20:00 in Los Angeles is already the holiday in UTC: counted in the
    # dealer's zone it is a working evening, 2 business days (this manufacturer's
    # number) later is Monday 20:00 there.
    placed = await move_to(dealer, holiday - DAY, time(20), LOS_ANGELES)
    assert placed.astimezone(ZoneInfo("UTC")).date() == holiday
    policy = DealerPolicy(manufacturer_business_days={"oem-slow": 2})
    order = await dealer.start(
        policy=policy, country="US", zone=LOS_ANGELES, manufacturer_id="oem-slow"
    )
    view = await dealer.view(order)
    assert view.dealer is not None and view.dealer.business_days == 2
    monday = holiday + 4 * DAY
    expected = datetime.combine(monday, time(20), ZoneInfo(LOS_ANGELES))
    assert abs(local(due_of(view), LOS_ANGELES) - expected) < MIN
    assert view.next_deadline is not None
    assert view.next_deadline.due_at_local.utcoffset() == expected.utcoffset()
    # Another manufacturer's order keeps the deployment's default of 1 business day.
    other = await dealer.start(policy=policy, country="US", zone=LOS_ANGELES)
    friday = holiday + DAY
    expected_other = datetime.combine(friday, time(20), ZoneInfo(LOS_ANGELES))
    assert abs(local(due_of(await dealer.view(other)), LOS_ANGELES) - expected_other) < MIN


async def test_an_order_placed_on_a_weekend_counts_from_the_next_business_day(
    dealer: DealerHarness,
) -> None:
    germany = BusinessCalendar("DE")
    saturday = first_day(
        await today(dealer),
        lambda d: (
            d.weekday() == 5
            and germany.is_business_day(d + 2 * DAY)
            and germany.is_business_day(d + 3 * DAY)
        ),
    )
    await move_to(dealer, saturday, time(10), BERLIN)
    order = await dealer.start(subdivision="BY")
    # All of Monday is given: due Tuesday 00:00.
    expected = datetime.combine(saturday + 3 * DAY, time(0), ZoneInfo(BERLIN))
    assert local(due_of(await dealer.view(order))) == expected


async def test_a_card_declined_at_placement_cancels_the_order(dealer: DealerHarness) -> None:
    order = await dealer.start(payment=card(DECLINE))
    view = await dealer.view(order)
    assert view.status == "cancelled"
    assert view.history[-1].reason == "card declined at placement: Your card was declined."
    assert view.last_payment_error == "Your card was declined."
    assert view.dealer is not None and view.dealer.confirmation_due_at is None
    cancelled = await dealer.mail(view.order_id, "cancelled")
    assert [(e.recipient_role, e.context["refund_amount"]) for e in cancelled] == [
        ("customer", "nothing was charged")
    ]
    assert dealer.fakes.emails_for(view.order_id, "placed") == []
    # It can be archived, and closes by itself after archive_after.
    assert view.next_deadline is not None and view.next_deadline.name == "archive"
    await dealer.sleep(ARCHIVE_AFTER + MIN)
    final = await order.result()
    assert final.archived


class FlakyCards(FakeActivities):
    """Stripe unreachable until ``up``; a 3-D Secure card needs authentication."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False
        self.unreachable: list[AuthoriseInput] = []

    @activity.defn(name=AUTHORISE_PAYMENT)
    async def authorise_payment(self, input: AuthoriseInput) -> AuthoriseResult:
        if input.payment_method == NEEDS_3DS:
            return AuthoriseResult(
                outcome=PaymentOutcome.requires_action,
                payment_intent_id="pi_3ds",
                client_secret="pi_3ds_secret",
            )
        if not self.up:
            self.unreachable.append(input)
            raise ApplicationError(
                "unreachable", type="StripeAuthenticationError", non_retryable=True
            )
        return await super().authorise_payment(input)


async def test_pre_authorisation_is_retried_while_stripe_is_unreachable(
    own_time_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = FlakyCards()
    async with dealer_harness(own_time_env, task_queue, fakes) as dealer:
        order = await dealer.start(settle=False)
        await dealer.sleep(MIN)
        view = await dealer.view(order)
        assert view.status == "new" and view.needs_attention
        assert view.attention_reason is not None
        assert view.attention_reason.startswith("card pre-authorisation failed (")
        assert view.next_deadline is not None
        assert view.next_deadline.name == "card_authorisation"
        # Flagged when the attempt failed; the next one is due authorisation_retry later.
        assert view.next_deadline.due_at - view.updated_at == AUTHORISATION_RETRY
        # The dealer may accept and confirm meanwhile, not capture.
        await dealer.confirmed(order)
        with pytest.raises(Rejected) as rejected:
            await dealer.act(order, "capture_payment")
        assert rejected.value.message.startswith("the card is not pre-authorised yet")
        fakes.up = True
        await dealer.sleep(AUTHORISATION_RETRY)
        view = await dealer.settled(order)
        assert view.amount_held == 12000 and not view.needs_attention
        # The same key both times: a hold that did happen cannot be made twice.
        attempts = fakes.unreachable + fakes.authorisations
        assert {a.idempotency_key for a in attempts} == {f"{view.order_id}:authorise:1"}
        assert len(fakes.unreachable) >= 1 and len(fakes.authorisations) == 1
        # The business-day clock starts when the dealer can act, and the dealer is told.
        assert due_of(view) - view.created_at > AUTHORISATION_RETRY
        await dealer.mail(view.order_id, "placed")
        assert view.next_deadline is not None
        assert view.next_deadline.name == "payment_hold_renewal"  # confirmed already
        assert (await dealer.act(order, "capture_payment")).status == "paid"


async def test_a_card_that_needs_authentication_cancels_the_order(
    own_time_env: WorkflowEnvironment, task_queue: str
) -> None:
    async with dealer_harness(own_time_env, task_queue, FlakyCards()) as dealer:
        order = await dealer.start(payment=card(NEEDS_3DS))
        view = await dealer.view(order)
        assert view.status == "cancelled"
        assert view.history[-1].reason is not None
        assert "3-D Secure" in view.history[-1].reason
        assert view.payment_client_secret is None


async def test_a_completed_order_is_archived_and_closed_after_archive_after(
    dealer: DealerHarness,
) -> None:
    order = await dealer.start(payment=ON_ACCOUNT)
    await dealer.confirmed(order)
    view = await dealer.act(order, "mark_shipped")
    assert view.next_deadline is not None and view.next_deadline.name == "archive"
    assert view.next_deadline.due_at == view.dealer.archive_at  # type: ignore[union-attr]
    assert view.next_deadline.due_at - view.history[-1].at == timedelta(days=30)
    await dealer.sleep(timedelta(days=30) - MIN)
    assert not (await dealer.view(order)).archived
    await dealer.sleep(2 * MIN)
    final = await order.result()
    assert final.archived
    assert (final.history[-1].action, final.history[-1].actor.role) == ("archive", Role.system)
    assert final.history[-1].reason == "archived automatically after 30 days"
    # Closed: the archive deadline has fired and is no next deadline (it showed one, overdue
    # for ever); the order database holds the final view.
    assert final.next_deadline is None
    assert dealer.fakes.views[final.order_id] == final


async def test_an_archived_order_can_be_unarchived_until_it_closes(dealer: DealerHarness) -> None:
    order = await dealer.start()
    await dealer.act(order, "cancel")
    view = await dealer.act(order, "archive")
    assert view.archived
    # The declared text (flows/dealer_order/declaration.py), whether archived or not.
    assert view.next_deadline is not None
    assert view.next_deadline.on_expiry == "the order is archived (if it is not yet) and closed"
    view = await dealer.act(order, "unarchive", S)
    assert not view.archived
    await dealer.act(order, "archive", S)
    await dealer.sleep(timedelta(days=31))
    final = await order.result()
    assert final.archived
    assert [t.action for t in final.history][-3:] == ["archive", "unarchive", "archive"]
    with pytest.raises(Exception):  # noqa: B017 - a closed workflow takes no update
        await dealer.act(order, "unarchive", S)


async def test_a_regional_holiday_of_the_dealers_subdivision_is_not_a_business_day(
    dealer: DealerHarness,
) -> None:
    # Epiphany (6 January) is a public holiday in Bavaria, a working day in Berlin.
    bavaria, berlin = BusinessCalendar("DE", "BY"), BusinessCalendar("DE", "BE")
    holiday = first_day(
        await today(dealer),
        lambda d: (
            not bavaria.is_business_day(d)
            and berlin.is_business_day(d)
            and all(bavaria.is_business_day(d + k * DAY) for k in (-1, 1))
        ),
    )
    assert (holiday.month, holiday.day) == (1, 6)
    await move_to(dealer, holiday - DAY, time(10), BERLIN)
    in_bavaria = await dealer.start(subdivision="BY")
    in_berlin = await dealer.start(subdivision="BE")
    # One business day: the day after the holiday in Bavaria, the holiday itself in Berlin.
    after = datetime.combine(holiday + DAY, time(10), ZoneInfo(BERLIN))
    on = datetime.combine(holiday, time(10), ZoneInfo(BERLIN))
    assert abs(local(due_of(await dealer.view(in_bavaria))) - after) < MIN
    assert abs(local(due_of(await dealer.view(in_berlin))) - on) < MIN


async def test_the_deadline_counts_on_the_calendar_pinned_at_acceptance(
    dealer: DealerHarness,
) -> None:
    # The API pins the dealer's holidays into the order (OrderRequest.pinned); the workflow
    # counts on them and never asks the holidays package, so a package upgrade that moved
    # a holiday could not move a running order's deadline. Shown with a calendar that has
    # a holiday the package does not know of: the next plain Wednesday.
    berlin = BusinessCalendar("DE", "BE")
    tuesday = first_day(
        await today(dealer),
        lambda d: d.weekday() == 1 and all(berlin.is_business_day(d + k * DAY) for k in (0, 1, 2)),
    )
    await move_to(dealer, tuesday, time(10), BERLIN)
    real = berlin.pin(tuesday.year)
    doctored = real.model_copy(update={"holidays": sorted([*real.holidays, tuesday + DAY])})
    request = dealer_request(subdivision="BE")
    pinned = await dealer.start_request(request, None, calendar=doctored)
    await dealer.settled(pinned)
    as_accepted = await dealer.start(subdivision="BE")
    # Before pinning, orders asked the package in the workflow; they still do on replay.
    unpinned = await dealer.start_request(dealer_request(subdivision="BE"), None, calendar=None)
    await dealer.settled(unpinned)
    wednesday, thursday = (
        datetime.combine(tuesday + k * DAY, time(10), ZoneInfo(BERLIN)) for k in (1, 2)
    )
    assert abs(local(due_of(await dealer.view(pinned))) - thursday) < MIN
    assert abs(local(due_of(await dealer.view(as_accepted))) - wednesday) < MIN
    assert abs(local(due_of(await dealer.view(unpinned))) - wednesday) < MIN
