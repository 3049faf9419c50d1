"""The prepaid refund rule at its documented boundary, as the seed states it.

Seed 003: a customer cancelling "24 hours before the appointment or earlier" is refunded
in full. The expected values are written here as the seed gives them, not taken from the
policy's defaults (the default notice itself is a row of test_default_windows.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from flows.prepaid_service.policy import PrepaidPolicy

PAID = 8500


@pytest.mark.parametrize(
    ("notice", "late_percent", "refund"),
    [
        (timedelta(hours=24), 0, PAID),  # exactly 24 h before: full refund
        (timedelta(hours=24, microseconds=1), 0, PAID),
        (timedelta(hours=24, microseconds=-1), 0, 0),  # a moment later: the late rule
        (timedelta(hours=24, microseconds=-1), 50, PAID // 2),
        (timedelta(0), 100, PAID),
        (timedelta(days=7), 0, PAID),
    ],
)
def test_a_customer_cancellation_is_refunded_by_its_notice(
    notice: timedelta, late_percent: int, refund: int
) -> None:
    policy = PrepaidPolicy(late_cancel_refund_percent=late_percent)
    assert policy.customer_refund(PAID, notice) == refund
