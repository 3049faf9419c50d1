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


def readable(moment: datetime, zone: str) -> str:
    """``Sat 5 Dec 2026, 06:09 CET``: a moment as a person in ``zone`` reads it."""
    local = to_zone(moment, zone)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} {local.tzname()}"


def readable_with_utc(moment: datetime, zone: str) -> str:
    """``Sat 5 Dec 2026, 06:09 CET (05:09 UTC)``: local time with UTC beside it."""
    text = readable(moment, zone)
    if zone in ("UTC", "Etc/UTC"):
        return text
    local, utc = to_zone(moment, zone), to_zone(moment, "UTC")
    if local.date() == utc.date():
        return f"{text} ({utc:%H:%M} UTC)"
    return f"{text} ({utc:%a} {utc.day} {utc:%b}, {utc:%H:%M} UTC)"
