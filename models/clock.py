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
