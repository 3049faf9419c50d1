"""``orders show`` as a person reads it: fields by name, money, local times, honest state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cli.orders import list_status, render_view

NOW = datetime(2026, 12, 5, 5, 9, tzinfo=UTC)


def dealer_view(**changes: Any) -> dict[str, Any]:
    shipped = NOW - timedelta(hours=1)
    view: dict[str, Any] = {
        "order_id": "D-1",
        "flow": "dealer_order",
        "status": "shipped",
        "stage": "Shipped",
        "customer": {"id": "cus-1", "name": "Cleo Customer", "email": "cleo@example.com"},
        "provider": {"id": "dlr-1", "name": "Dora Dealer", "email": "dora@example.com"},
        "items": [{"name": "Wallbox 11 kW", "quantity": 2, "unit_amount": 49900}],
        "currency": "EUR",
        "amount_total": 99800,
        "amount_paid": 99800,
        "allowed_actions": {
            "provider": ["refund", "archive"],
            "support": ["refund", "archive", "unarchive", "resend_email"],
        },
        "next_deadline": {
            "name": "archive",
            "due_at": (NOW + timedelta(days=29, hours=22, minutes=59)).isoformat(),
            "due_at_local": (NOW + timedelta(days=29, hours=22, minutes=59)).isoformat(),
            "on_expiry": "the order is archived (if it is not yet) and closed",
        },
        "closed_at": shipped.isoformat(),
        "dealer": {
            "manufacturer": {"id": "oem-1", "name": "Volt OEM", "email": "oem@example.com"},
            "dealer": {
                "id": "dlr-1",
                "name": "Dora Dealer",
                "email": "dora@example.com",
                "country": "DE",
                "time_zone": "Europe/Berlin",
            },
            "payment_method": "card",
            "business_days": 1,
            "confirmed_at": (NOW - timedelta(days=1)).isoformat(),
            "tracking_numbers": ["1Z999", "1Z998"],
            "carrier": "UPS",
            "shipped_at": shipped.isoformat(),
            "collection": "card",
            "credit_due": False,
        },
        "payments": [],
        "notifications": [],
        "history": [],
    }
    return view | changes


def test_a_shipped_dealer_order_with_actions_left_is_not_called_closed() -> None:
    text = render_view(dealer_view(), NOW)
    lines = text.splitlines()
    state = next(line for line in lines if line.startswith("state "))
    assert "closed" not in state
    assert state == (
        "state     final status since Sat 5 Dec 2026, 05:09 CET (1 h 0 m ago); "
        "still open: actions archive, refund, unarchive; archive in 29 d 22 h"
    )
    assert "zone      Europe/Berlin (times below are local to it)" in lines
    assert "item      2 x Wallbox 11 kW at 499.00 EUR = 998.00 EUR" in lines


def test_dealer_details_are_fields_not_json() -> None:
    lines = render_view(dealer_view(), NOW).splitlines()
    details = lines[lines.index("dealer details") + 1 : lines.index("allowed actions") - 1]
    assert not any("{" in line for line in details), details
    assert "  manufacturer" in details
    assert "    name                   Volt OEM" in details
    assert "  tracking numbers         1Z999, 1Z998" in details
    assert "  shipped at               Sat 5 Dec 2026, 05:09 CET (1 h 0 m ago)" in details
    assert "  credit due               no" in details


def test_closed_when_nothing_is_left_and_money_in_its_currency() -> None:
    view = dealer_view(allowed_actions={"support": ["resend_email"]}, next_deadline=None)
    view["shop"] = {"kind": "repair_eval", "quoted_amount": 12345, "skus": ["EVAL"]}
    view["currency"] = "JPY"
    lines = render_view(view, NOW).splitlines()
    assert "state     closed Sat 5 Dec 2026, 05:09 CET (1 h 0 m ago)" in lines
    assert "  quoted amount            12345 JPY" in lines


def test_a_running_order_is_active_and_utc_without_a_zone() -> None:
    view = dealer_view(closed_at=None)
    del view["dealer"]
    lines = render_view(view, NOW).splitlines()
    assert "state     active" in lines
    assert "  UTC   2027-01-04 04:08:00 UTC" in lines
    assert not any(line.startswith("  local ") for line in lines)


def test_an_account_lines_configuration_reads_by_its_labels() -> None:
    view = dealer_view(closed_at=None, next_deadline=None)
    del view["dealer"]
    view["account"] = {
        "lines": [
            {
                "product_name": "Broadband",
                "quantity": 1,
                "unit_amount": 2999,
                "amount": 2999,
                "configuration": {"installation_address": "1 Main St", "static_ip": "yes"},
                "configuration_labels": {"installation_address": "Installation address"},
            }
        ]
    }
    lines = render_view(view, NOW).splitlines()
    assert "  lines 1" in lines
    assert "      Installation address 1 Main St" in lines
    assert "      static ip            yes" in lines
    assert not any("labels" in line for line in lines)
    assert "    unit amount            29.99 EUR" in lines


def test_the_list_tells_closed_from_final_with_a_deadline_left() -> None:
    row = {"status": "shipped", "closed_at": NOW.isoformat(), "next_deadline_at": None}
    assert list_status(row) == "shipped (closed)"
    row["next_deadline_at"] = (NOW + timedelta(days=30)).isoformat()
    assert list_status(row) == "shipped (final)"
    assert list_status({"status": "new", "needs_attention": True}) == "new !"
