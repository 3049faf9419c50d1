"""N business days after a moment, in the dealer's zone, with its country's holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from models.business_days import (
    BusinessCalendar,
    add_business_days,
    country_code,
    subdivision_code,
)

BERLIN = ZoneInfo("Europe/Berlin")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
HOUR = timedelta(hours=1)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def in_berlin(days: int, start: datetime, subdivision: str | None = None) -> datetime:
    due = add_business_days(
        start, days, zone="Europe/Berlin", country="DE", subdivision=subdivision
    )
    assert due.tzinfo is UTC
    return due.astimezone(BERLIN)


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        # A weekday: the same local time the next weekday.
        (berlin(2027, 3, 2, 9, 30), 1, berlin(2027, 3, 3, 9, 30)),
        # Friday: Monday, same local time.
        (berlin(2027, 3, 5, 15), 1, berlin(2027, 3, 8, 15)),
        (berlin(2027, 3, 5, 15), 2, berlin(2027, 3, 9, 15)),
        # Maundy Thursday: Good Friday, the weekend and Easter Monday are skipped, and
        # 15:00 stays 15:00 although the clocks went forward on Easter Sunday 2027.
        (berlin(2027, 3, 25, 15), 1, berlin(2027, 3, 30, 15)),
        # Placed on Saturday: counting starts Monday 00:00, so all of Monday is given.
        (berlin(2027, 3, 6, 10), 1, berlin(2027, 3, 9, 0)),
        # Placed on Easter Monday (a holiday): from Tuesday 00:00, due Wednesday 00:00.
        (berlin(2027, 3, 29, 10), 1, berlin(2027, 3, 31, 0)),
        # Christmas Eve is a working day in Germany's national calendar; 25 and 26
        # December are holidays, 26 December 2026 a Saturday as well.
        (berlin(2026, 12, 24, 11), 1, berlin(2026, 12, 28, 11)),
        # Zero business days: now on a business day, else the next one's start.
        (berlin(2027, 3, 2, 9, 30), 0, berlin(2027, 3, 2, 9, 30)),
        (berlin(2027, 3, 6, 10), 0, berlin(2027, 3, 8, 0)),
    ],
)
def test_business_days_in_germany(start: datetime, days: int, due: datetime) -> None:
    assert in_berlin(days, start) == due


def test_the_local_time_is_kept_across_daylight_saving() -> None:
    start = berlin(2027, 3, 25, 15)
    due = in_berlin(1, start)
    # 5 days minus the hour the clocks went forward on Easter Sunday.
    elapsed = due.astimezone(UTC) - start.astimezone(UTC)
    assert elapsed.total_seconds() == 5 * 86400 - 3600
    assert (due.hour, due.utcoffset(), start.utcoffset()) == (15, 2 * HOUR, HOUR)


def test_a_subdivision_adds_its_own_holidays() -> None:
    # Epiphany (6 January) is a holiday in Bavaria, not in Germany as a whole.
    start = berlin(2027, 1, 5, 12)
    assert in_berlin(1, start) == berlin(2027, 1, 6, 12)
    assert in_berlin(1, start, subdivision="BY") == berlin(2027, 1, 7, 12)
    assert in_berlin(1, start, subdivision="by") == berlin(2027, 1, 7, 12)


def test_the_local_date_in_the_dealers_zone_decides() -> None:
    # Wednesday 20:00 in Los Angeles is already Thanksgiving Thursday in UTC. Counted in
    # the dealer's zone it is a business day: due Friday 20:00 there. (Counted in UTC it
    # would have started on the holiday and run to Monday 00:00 UTC.)
    start = datetime(2026, 11, 25, 20, tzinfo=LOS_ANGELES)
    due = add_business_days(start, 1, zone="America/Los_Angeles", country="US")
    assert due.astimezone(LOS_ANGELES) == datetime(2026, 11, 27, 20, tzinfo=LOS_ANGELES)
    in_utc = add_business_days(start, 1, zone="UTC", country="US")
    assert in_utc == datetime(2026, 11, 30, 0, tzinfo=UTC)


def test_observed_holidays_and_other_weekends() -> None:
    us = BusinessCalendar("US")
    # 4 July 2026 is a Saturday; the federal holiday is observed on Friday 3 July.
    assert not us.is_business_day(date(2026, 7, 3))
    assert us.next_business_day(date(2026, 7, 2)) == date(2026, 7, 6)
    # Israel's weekend is Friday and Saturday.
    israel = BusinessCalendar("IL")
    assert not israel.is_business_day(date(2027, 3, 5))  # a Friday
    assert israel.is_business_day(date(2027, 3, 7))  # a Sunday


def test_codes_are_checked() -> None:
    assert country_code(" de ") == "DE"
    assert subdivision_code("US", "ca") == "CA"
    with pytest.raises(ValueError, match="no holiday calendar for country 'ZZ'"):
        country_code("ZZ")
    with pytest.raises(ValueError, match="no holiday calendar for country 'DEU'"):
        country_code("DEU")
    with pytest.raises(ValueError, match=r"DE has no subdivision 'XX' \(known: BB, BE"):
        subdivision_code("DE", "XX")


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        add_business_days(datetime(2027, 3, 2, 9), 1, zone="UTC", country="DE")
    with pytest.raises(ValueError, match="negative"):
        add_business_days(berlin(2027, 3, 2, 9), -1, zone="UTC", country="DE")
