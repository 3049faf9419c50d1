"""Time-zone arithmetic.

Workflow code imports this module passed through the sandbox: the sandbox wraps
``zoneinfo.ZoneInfo`` in a proxy that ``datetime.astimezone`` refuses, so zone
conversions live here, outside it. They are deterministic for a given tz database
(the ``tzdata`` package is pinned in uv.lock).
"""

from __future__ import annotations

from datetime import date, datetime
from importlib import resources
from zoneinfo import ZoneInfo

# The zones of the pinned tz database (the ``tzdata`` package), not whatever a file of the
# machine's zoneinfo directory is called: ``localtime`` there is the host's own zone
# (another order's deadline on every machine) and ``Factory`` is tzdata's placeholder
# for "no zone set" (its abbreviation reads "-00").
ZONES = frozenset(resources.files("tzdata").joinpath("zones").read_text().split()) - {"Factory"}
"""Every IANA time zone name an order may use."""


def is_valid_zone(name: str) -> bool:
    """True if ``name`` is a real IANA time zone (one of :data:`ZONES`)."""
    return name in ZONES


def to_zone(moment: datetime, zone: str) -> datetime:
    """``moment`` (timezone-aware) seen in ``zone``."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(ZoneInfo(zone))


def local_date(moment: datetime, zone: str) -> date:
    """The calendar date of ``moment`` in ``zone``."""
    return to_zone(moment, zone).date()


def zone_abbreviation(moment: datetime, zone: str) -> str:
    """What a person calls ``zone`` at ``moment``: ``CET``/``CEST``, else the zone's name.

    Some zones have no letters in the tz database (``Europe/Istanbul`` is ``+03``); an
    offset alone does not say which zone it is, so those show the zone's name.
    """
    abbreviation = to_zone(moment, zone).tzname() or ""
    return abbreviation if abbreviation[:1].isalpha() else zone


def readable_time(moment: datetime, zone: str | None = None) -> str:
    """``Sat 5 Dec 2026, 06:09 CET``: ``moment`` as a person reads it in ``zone`` (UTC)."""
    zone = zone or "UTC"
    local = to_zone(moment, zone)
    label = zone_abbreviation(moment, zone)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} {label}"


def readable_span(due: datetime, now: datetime) -> str:
    """``in 2 h 14 m`` or ``3 d 2 h ago``: the two largest units of the distance to ``due``."""
    delta = due - now
    seconds = int(abs(delta).total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    units = [(days, "d"), (hours, "h"), (minutes, "m")]
    # From the largest unit present down, two units ("2 d 0 h" is not hidden as "2 d").
    first = next((i for i, (value, _) in enumerate(units) if value), None)
    shown = units[first : first + 2] if first is not None else [(secs, "s")]
    text = " ".join(f"{value} {unit}" for value, unit in shown)
    return f"{text} ago" if delta.total_seconds() < 0 else f"in {text}"


def readable_with_utc(moment: datetime, zone: str) -> str:
    """``Sat 5 Dec 2026, 06:09 CET (05:09 UTC)``: local time with UTC beside it."""
    text = readable_time(moment, zone)
    if zone in ("UTC", "Etc/UTC"):
        return text
    local, utc = to_zone(moment, zone), to_zone(moment, "UTC")
    if local.date() == utc.date():
        return f"{text} ({utc:%H:%M} UTC)"
    return f"{text} ({utc:%a} {utc.day} {utc:%b}, {utc:%H:%M} UTC)"
