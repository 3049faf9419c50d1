"""``orderclock orders show`` of a charge box installation: its details, deadline and mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cli.orders import render_view
from flows.charge_box_installation.models import InstallationDetails
from models.common import Party
from models.orders import DeadlineView, NotificationRecord, NotificationStatus, OrderView

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DUE = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
SKIPPED = "email type order_confirmation is not enabled for onboarding flow partner_led"


def test_show_gives_the_local_time_the_details_and_why_a_mail_was_skipped() -> None:
    local = DUE.astimezone(ZoneInfo("Europe/Copenhagen"))
    view = OrderView(
        order_id="CB-1",
        flow="charge_box_installation",
        status="scheduled",
        stage="Scheduled",
        customer=Party(id="cus-1", name="Cleo Customer", email="cleo@example.com"),
        provider=Party(id="ins-1", name="Ivo Installer", email="ivo@example.com"),
        currency="EUR",
        amount_total=129900,
        next_deadline=DeadlineView(
            name="scheduled_fulfilment",
            due_at=DUE,
            due_at_local=local,
            on_expiry="the order is fulfilled and 1299.00 EUR charged to the card",
        ),
        notifications=[
            NotificationRecord(
                idempotency_key="CB-1:email-order_confirmation-customer:1",
                event="order_confirmation",
                recipient_role="customer",
                to="cleo@example.com",
                status=NotificationStatus.skipped,
                detail=SKIPPED,
                at=NOW,
            )
        ],
        request_fingerprint="fp",
        created_at=NOW - timedelta(days=1),
        updated_at=NOW,
        installation=InstallationDetails(
            onboarding_flow="partner_led",
            time_zone="Europe/Copenhagen",
            payment_type="card",
            payment_method="pm_card_visa",
            scheduled_for=DUE,
            scheduled_for_local=local,
        ),
    )
    text = render_view(view.model_dump(mode="json"), NOW)
    lines = text.splitlines()
    assert "  local Tue 8 Dec 2026, 10:00 CET (Europe/Copenhagen)" in lines
    assert "  UTC   2026-12-08 09:00:00 UTC" in lines
    assert "installation details" in lines
    assert any(line.split() == ["onboarding", "flow", "partner_led"] for line in lines)
    assert any(line.split() == ["amount", "invoiced", "0.00", "EUR"] for line in lines)
    assert "  scheduled for            Tue 8 Dec 2026, 10:00 CET (in 7 d 0 h)" in lines
    assert "state     active" in lines
    assert any(f"skipped ({SKIPPED})" in line for line in lines)
    assert "provider  ins-1 Ivo Installer <ivo@example.com>" in lines
