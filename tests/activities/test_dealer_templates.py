"""The dealer order's email templates: who is told about what, and what they read."""

from __future__ import annotations

from activities.email import TemplateKey, context_keys, load_templates

EXPECTED = {
    "placed": {"provider"},
    "confirmed": {"customer"},
    "confirmation_failed": {"manufacturer", "provider"},
    "shipped": {"customer"},
    "refunded": {"customer"},
    "cancelled": {"customer", "provider"},
}


def context(**overrides: str) -> dict[str, str]:
    values = {key: f"<{key}>" for key in context_keys("dealer_order")}
    values.update(overrides)
    return values


def render(event: str, role: str, **overrides: str) -> tuple[str, str]:
    template = load_templates()[TemplateKey("dealer_order", event, role)]
    return template.render(context(**overrides))


def test_every_dealer_event_has_its_templates_and_no_others() -> None:
    found = {(key.event, key.role) for key in load_templates() if key.flow == "dealer_order"}
    assert found == {(event, role) for event, roles in EXPECTED.items() for role in roles}


def test_the_dealer_learns_the_deadline_and_the_manufacturer_the_failure() -> None:
    subject, body = render("placed", "provider", confirm_due_local="2027-03-30 15:00 Europe/Berlin")
    due = "Tue 30 Mar 2027, 15:00 CEST"
    assert due in subject and due in body
    subject, body = render(
        "confirmation_failed",
        "manufacturer",
        dealer_name="Dora Dealer",
        confirm_due_local="2027-03-30 15:00 Europe/Berlin",
    )
    assert subject.startswith("Order confirmation failure")
    assert "Dora Dealer" in subject and due in body
    assert "stays open" in body


def test_the_customer_gets_the_tracking_numbers_and_the_refund() -> None:
    _, body = render("shipped", "customer", tracking_numbers="1Z1, 1Z2", carrier="UPS")
    assert "1Z1, 1Z2" in body and "UPS" in body
    _, body = render("refunded", "customer", refund_amount="120.00 EUR", reason="returned")
    assert "120.00 EUR" in body and "returned" in body
