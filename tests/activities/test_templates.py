"""The packaged email templates: all parse, use only the workflow's context keys, render."""

from __future__ import annotations

from activities.email import TemplateKey, context_keys, load_templates, template_files
from tests.activities.test_email import full_context

# Who is told about which prepaid_service event (support has no address).
EXPECTED_PREPAID = {
    "created": {"customer", "provider"},
    "edited": {"customer", "provider"},
    "confirmed": {"customer", "provider"},
    "payment_failed": {"customer"},
    "paid": {"customer", "provider"},
    "cancelled": {"customer", "provider"},
    "done": {"customer"},
    "closed": {"customer", "provider"},
    "claim_opened": {"customer", "provider"},
    "claim_resolved": {"customer", "provider"},
    "reviewed": {"provider"},
    "payout": {"provider"},
    "payment_reminder": {"customer"},
    "edit_lapsed": {"provider"},
}


def test_every_prepaid_event_has_its_templates_and_no_others() -> None:
    templates = load_templates()

    found = {(key.event, key.role) for key in templates if key.flow == "prepaid_service"}
    expected = {(event, role) for event, roles in EXPECTED_PREPAID.items() for role in roles}
    assert found == expected
    assert len(template_files()) == len(templates)


def test_templates_use_only_the_allowed_context_keys() -> None:
    for key, template in load_templates().items():
        used, allowed = template.identifiers(), context_keys(key.flow)
        assert used <= allowed, (key, used - allowed)
        assert "business_name" in used, f"{key} is not signed by the business"
        assert "order_id" in used, f"{key} does not name the order"


def test_templates_render_completely_with_the_full_context() -> None:
    for key, template in load_templates().items():
        # Every key the flow passes, with a sample value (the prepaid ones from full_context).
        context = {name: f"<{name}>" for name in context_keys(key.flow)} | full_context()
        subject, body = template.render(context)
        assert subject and "\n" not in subject, key
        assert "$" not in subject + body, key
        assert body.endswith("\n") and not body.endswith("\n\n"), key


def test_cancellation_mails_state_reason_and_refund() -> None:
    templates = load_templates()
    for role in ("customer", "provider"):
        used = templates[TemplateKey("prepaid_service", "cancelled", role)].identifiers()
        assert {"reason", "refund_amount"} <= used


def test_done_mail_gives_the_customer_the_deadline() -> None:
    template = load_templates()[TemplateKey("prepaid_service", "done", "customer")]
    context = full_context(deadline_local="2026-12-09 11:00 Europe/Berlin", business_name="B")
    _, body = template.render(context)
    assert "open a claim" in body
    assert "Wed 9 Dec 2026, 11:00 CET" in body
