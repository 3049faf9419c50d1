"""Business days: weekends and public holidays of a country (and subdivision), in a zone.

Pure and deterministic for a given version of the ``holidays`` package (pinned in
uv.lock), so workflow code may call it (``models`` is passed through the sandbox, like
``models/clock.py``): a replayed order computes the same deadline.

"N business days after T" (:func:`add_business_days`):

- T is seen in the zone's local time; a business day is a local calendar date that is
  neither a weekend day of the country (Saturday and Sunday in most, Friday and Saturday
  in some: the ``holidays`` package knows) nor one of its public holidays (national, plus
  the subdivision's when one is given; observed days included, e.g. a US holiday on a
  Saturday observed on the Friday);
- T on a business day: the same local wall-clock time N business days later (Friday
  15:00 + 1 is Monday 15:00, Tuesday 15:00 when Monday is a holiday);
- T on a weekend day or holiday: counting starts at 00:00 of the next business day, so
  the deadline is 00:00 of the business day after N business days (a Saturday order has
  all of Monday: due Tuesday 00:00);
- the local time is kept across a daylight-saving change (15:00 CET before Easter is
  15:00 CEST after it); a local time that does not exist on the due day moves forward
  by the gap.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import holidays

# How far a search for the next business day may go (no country has a longer run of
# weekend and holidays; a bound keeps a bad calendar from looping for ever).
_MAX_GAP_DAYS = 60

# Years of holidays an order keeps from its start (its business-day deadline is due
# within days; a card pre-authorisation retried for longer than this is not expected).
PINNED_YEARS = 3


@functools.cache
def _supported() -> dict[str, tuple[str, ...]]:
    """Every country's code and subdivisions: loading them imports every calendar.

    That takes most of a second, so it happens on first use (a CLI command that never
    validates a country does not pay it); :func:`load_calendars` does it ahead, outside
    any workflow: looking a calendar up inside the sandbox would import its module there.
    """
    import holidays.countries

    return {code: tuple(subs) for code, subs in holidays.list_supported_countries().items()}


def load_calendars() -> None:
    """Import every country's calendar now (workers call it before any workflow runs)."""
    _supported()


def country_codes() -> tuple[str, ...]:
    """The ISO 3166-1 alpha-2 codes that have a holiday calendar (what country_code accepts)."""
    return tuple(sorted(code for code in _supported() if len(code) == 2))


def country_code(code: str) -> str:
    """The ISO 3166-1 alpha-2 code as the holiday calendar knows it (raises ValueError)."""
    upper = code.strip().upper()
    if len(upper) != 2 or upper not in _supported():
        raise ValueError(f"no holiday calendar for country {code!r} (ISO 3166-1 alpha-2)")
    return upper


def subdivision_code(country: str, subdivision: str) -> str:
    """The subdivision's code as the country's calendar spells it (raises ValueError)."""
    known = _supported()[country_code(country)]
    wanted = subdivision.strip()
    for code in known:
        if code.casefold() == wanted.casefold():
            return code
    listed = ", ".join(known) if known else "none"
    raise ValueError(f"{country} has no subdivision {subdivision!r} (known: {listed})")


def _next_business_day(is_business_day: Callable[[date], bool], day: date) -> date:
    """The first business day after ``day``."""
    for offset in range(1, _MAX_GAP_DAYS + 1):
        candidate = day + timedelta(days=offset)
        if is_business_day(candidate):
            return candidate
    raise ValueError(f"no business day within {_MAX_GAP_DAYS} days after {day}")


def _add(
    is_business_day: Callable[[date], bool], start: datetime, days: int, zone: str
) -> datetime:
    """``days`` business days after ``start`` in ``zone`` (see the module's rules), in UTC."""
    if start.tzinfo is None:
        raise ValueError("naive datetime")
    if days < 0:
        raise ValueError("days must not be negative")
    tz = ZoneInfo(zone)
    local = start.astimezone(tz)
    day, at = local.date(), local.time().replace(fold=0)
    if not is_business_day(day):
        day, at = _next_business_day(is_business_day, day), time(0)
    for _ in range(days):
        day = _next_business_day(is_business_day, day)
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


class BusinessCalendar:
    """The business days of one country (and subdivision), from the ``holidays`` package."""

    def __init__(self, country: str, subdivision: str | None = None) -> None:
        country = country_code(country)
        subdiv = subdivision_code(country, subdivision) if subdivision else None
        import holidays.countries  # loaded by country_code: nothing is imported here

        calendar: type[holidays.HolidayBase] = getattr(holidays.countries, country)
        self.country, self.subdivision = country, subdiv
        self._holidays = calendar(subdiv=subdiv)

    def is_business_day(self, day: date) -> bool:
        """Neither a weekend day of the country nor one of its public holidays."""
        return bool(self._holidays.is_working_day(day))

    def next_business_day(self, day: date) -> date:
        """The first business day after ``day``."""
        return _next_business_day(self.is_business_day, day)

    def add(self, start: datetime, days: int, zone: str) -> datetime:
        """``days`` business days after ``start`` in ``zone`` (see the module's rules), in UTC."""
        return _add(self.is_business_day, start, days, zone)

    def pin(self, first_year: int, years: int = PINNED_YEARS) -> PinnedCalendar:
        """These years of this calendar as data, to be kept in an order (see PinnedCalendar)."""
        span = range(first_year, first_year + years)
        pinned = type(self._holidays)(subdiv=self.subdivision, years=list(span))
        dates = [day for day in pinned if day.year in span]
        return PinnedCalendar(
            country=self.country,
            subdivision=self.subdivision,
            first_year=first_year,
            years=years,
            weekend=sorted(pinned.weekend),
            holidays=sorted(dates),
            weekend_workdays=sorted(d for d in pinned.weekend_workdays if d.year in span),
        )


class PinnedCalendar(BaseModel):
    """A country's business days for a few years, as data: what an order keeps in history.

    Computed once when the order is accepted and passed in its start input, so the
    workflow never consults the ``holidays`` package: an upgrade that changes a holiday
    cannot move a running order's deadline on replay. After the pinned years only the
    weekend counts (the order's view names the calendar it used).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    country: str
    subdivision: str | None = None
    first_year: int
    years: Annotated[int, Field(ge=1, le=10)]
    weekend: list[Annotated[int, Field(ge=0, le=6)]]
    holidays: Annotated[list[date], Field(max_length=1000)]
    weekend_workdays: Annotated[list[date], Field(max_length=1000)] = Field(default_factory=list)

    def is_business_day(self, day: date) -> bool:
        """As the ``holidays`` package answered for these years; weekends only after them."""
        if day.weekday() in self.weekend:
            return day in self._workdays
        return day not in self._holidays

    @functools.cached_property
    def _holidays(self) -> frozenset[date]:
        return frozenset(self.holidays)

    @functools.cached_property
    def _workdays(self) -> frozenset[date]:
        return frozenset(self.weekend_workdays)

    def add(self, start: datetime, days: int, zone: str) -> datetime:
        """``days`` business days after ``start`` in ``zone`` (see the module's rules), in UTC."""
        return _add(self.is_business_day, start, days, zone)


def add_business_days(
    start: datetime, days: int, *, zone: str, country: str, subdivision: str | None = None
) -> datetime:
    """``days`` business days after ``start`` in ``zone`` for ``country`` (UTC result)."""
    return BusinessCalendar(country, subdivision).add(start, days, zone)
