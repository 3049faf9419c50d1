"""The bill-cycle run's models: a cycle is one calendar month in UTC (``2026-11``).

A cycle invoices the account orders completed within it: from the first day of the month
00:00 UTC (included) to the first day of the next month (excluded), by the completion
time the order recorded. Completion never changes, so an order belongs to exactly one
cycle, whatever its (possibly backdated) order date.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from models.common import Strict

CYCLE_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def _cycle(text: str) -> str:
    if not CYCLE_PATTERN.match(text):
        raise ValueError(f"a bill cycle is a month written YYYY-MM, not {text!r}")
    return text


Cycle = Annotated[str, AfterValidator(_cycle)]


def cycle_bounds(cycle: str) -> tuple[datetime, datetime]:
    """The cycle's period: [start, end) in UTC."""
    match = CYCLE_PATTERN.match(cycle)
    if match is None:
        raise ValueError(f"a bill cycle is a month written YYYY-MM, not {cycle!r}")
    year, month = int(match.group(1)), int(match.group(2))
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def cycle_of(moment: datetime) -> str:
    """The cycle ``moment`` falls in."""
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc.month:02d}"


def previous_cycle(moment: datetime) -> str:
    """The last cycle that ended before ``moment`` (the month before its UTC month)."""
    utc = moment.astimezone(UTC)
    year, month = (utc.year, utc.month - 1) if utc.month > 1 else (utc.year - 1, 12)
    return f"{year:04d}-{month:02d}"


class BillCycleInput(Strict):
    """Which cycle to invoice; None (the schedule's runs) is the cycle that just ended."""

    cycle: Cycle | None = None
    page_size: int = Field(default=500, ge=1, le=5000)


class BillCycleResult(Strict):
    """What a run did: orders of the cycle seen, invoices newly added (0 on a rerun)."""

    cycle: str
    orders: int
    invoiced: int


def invoice_number(cycle: str, order_id: str) -> str:
    """The invoice's number: one per order and cycle, the same on every attempt."""
    return f"INV-{cycle}-{order_id}"
