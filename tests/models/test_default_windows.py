"""Every default window of every flow, against the words of the document that sets it.

The expected values are written here as the seeds (``/work/shared/seeds/``, named per row)
state them, never taken from the code: a wrong default in a policy fails its row. Where a
seed is silent, the README's deadline tables chose the value, and the row says so.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from flows.account_order.policy import AccountPolicy
from flows.charge_box_installation.policy import InstallationPolicy
from flows.dealer_order.policy import DealerPolicy
from flows.prepaid_service.policy import PrepaidPolicy
from flows.shop_order.policy import ShopPolicy
from workflows import payments

H = timedelta(hours=1)
DAY = timedelta(days=1)
MIN = timedelta(minutes=1)

SEED_001 = "seed 001_b334d84970aa33c7.txt (shop order statuses)"
SEED_002 = "seed 002_8beac19d53e7d865.txt (dealer order processing)"
SEED_003 = "seed 003_08051378bb92aaa0.txt (prepaid orders)"
SEED_004 = "seed 004_033fcf52ce38027c.txt (account orders)"
SEED_000 = "seed 000_f314a135c80c2c25.txt (charge box installation)"
STRIPE = "Stripe (no seed): an uncaptured card PaymentIntent is kept for 7 days"
README = "README's deadline table (the seed is silent)"

# (where it is written, its words, the value in the code, the value the words give)
WINDOWS: list[tuple[str, str, Any, Any]] = [
    (
        SEED_003,
        "both you and the customer have 24 hours to confirm or edit it",
        PrepaidPolicy().confirm_window,
        24 * H,
    ),
    (
        SEED_003,
        "(5 hours if the appointment starts on the same day)",
        PrepaidPolicy().same_day_confirm_window,
        5 * H,
    ),
    (
        SEED_003,
        "the customer has 12 hours to complete the payment",
        PrepaidPolicy().payment_window,
        12 * H,
    ),
    (
        SEED_003,
        "you have to confirm service provision within 72 hours",
        PrepaidPolicy().done_window,
        72 * H,
    ),
    (
        SEED_003,
        "If the customer doesn't confirm the execution or opens a claim within 5 days",
        PrepaidPolicy().execution_confirm_window,
        5 * DAY,
    ),
    (
        SEED_003,
        "cancels the order 24 hours before the service provision time or earlier ... full refund",
        PrepaidPolicy().full_refund_notice,
        24 * H,
    ),
    (
        SEED_003,
        "The pre-payment will be credited to your account within 14 days",
        PrepaidPolicy().payout_delay,
        14 * DAY,
    ),
    (
        README,
        "payment reminder: 2 h before the payment deadline",
        PrepaidPolicy().payment_reminder_before,
        2 * H,
    ),
    (
        SEED_002,
        "New orders must be reviewed and confirmed within 1 business day",
        DealerPolicy().confirm_business_days,
        1,
    ),
    (
        README,
        "archive: 30 days after shipped, refunded or cancelled",
        DealerPolicy().archive_after,
        30 * DAY,
    ),
    (
        README,
        "card authorisation: again every 10 min while Stripe is unreachable",
        DealerPolicy().authorisation_retry,
        10 * MIN,
    ),
    (STRIPE, "Stripe keeps one 7 days", payments.HOLD_VALIDITY, 7 * DAY),
    (
        README,
        "payment hold renewal: 6.5 days (Stripe keeps one 7 days)",
        payments.HOLD_VALIDITY - payments.HOLD_RENEWAL_MARGIN,
        6 * DAY + 12 * H,
    ),
    (
        SEED_001,
        "'Order Placed' status for a very short time (minutes or less)"
        " - README: salesforce_sync 10 min",
        ShopPolicy().sync_patience,
        10 * MIN,
    ),
    (README, "salesforce_retry: 1 min, doubling", ShopPolicy().sync_retry_initial, 1 * MIN),
    (README, "salesforce_retry: ... doubling to 30 min", ShopPolicy().sync_retry_max, 30 * MIN),
    (
        README,
        "payment: 72 h, an order still incomplete is cancelled",
        ShopPolicy().incomplete_window,
        72 * H,
    ),
    (
        SEED_004,
        "orders might be configured to require approval (README: APPROVAL_REQUIRED false)",
        AccountPolicy().approval_required,
        False,
    ),
    (README, "draft expiry: 30 days", AccountPolicy().draft_expiry, 30 * DAY),
    (
        README,
        "approval / completion: 3 days, flagged for attention",
        AccountPolicy().attention_after,
        3 * DAY,
    ),
    (README, "receipt window: 90 days", AccountPolicy().receipt_window, 90 * DAY),
    (
        README,
        "fulfilment retry: 1 h when the payment provider is unreachable",
        InstallationPolicy().payment_retry_interval,
        1 * H,
    ),
]


@pytest.mark.parametrize(
    ("source", "words", "in_code", "as_written"),
    WINDOWS,
    ids=[f"{source.split(' (')[0]}: {words[:48]}" for source, words, _, _ in WINDOWS],
)
def test_the_default_is_what_the_document_says(
    source: str, words: str, in_code: Any, as_written: Any
) -> None:
    assert in_code == as_written, f'{source} says "{words}": {as_written}, the code has {in_code}'
