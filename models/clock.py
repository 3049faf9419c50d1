"""Time-zone arithmetic.

Workflow code imports this module passed through the sandbox: the sandbox wraps
``zoneinfo.ZoneInfo`` in a proxy that ``datetime.astimezone`` refuses, so zone
conversions live here, outside it. They are deterministic for a given tz database
(the ``tzdata`` package is pinned in uv.lock).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def is_valid_zone(name: str) -> bool:
    """True if ``name`` is an IANA time zone known to this machine."""
    if not name or name != name.strip() or ".." in name or name.startswith("/"):
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


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
