"""The installation flow's emails: templates, and the per-onboarding-flow switch at send time."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities, context_keys, load_templates, template_files
from config.settings import Settings
from flows.charge_box_installation.policy import InstallationEmail, InstallationPolicy
from models.activities import SendEmailInput
from models.orders import NotificationStatus
from tests.fixtures.smtp import SmtpSink

FLOW = "charge_box_installation"
MAIL_FROM = "orderclock <orders@orderclock.test>"
# Who is told about which event (support has no address).
EXPECTED = {
    "order_confirmation": {"customer"},
    "installation_request": {"installation_partner"},
    "scheduled": {"customer", "installation_partner"},
    "rescheduled": {"customer", "installation_partner"},
    "unscheduled": {"customer", "installation_partner"},
    "fulfilled": {"customer", "installation_partner"},
    "cancelled": {"customer", "installation_partner"},
    "payment_failed": {"customer"},
}
POLICY = InstallationPolicy(
    onboarding_flows={
        "standard": list(InstallationEmail),
        "partner_led": [InstallationEmail.installation_request, InstallationEmail.fulfilled],
    }
)


def context(**overrides: str) -> dict[str, str]:
    values = {key: f"<{key}>" for key in context_keys(FLOW)}
    values.update(order_id="cbi-7", onboarding_flow="standard", trigger="automatic")
    values.update(overrides)
    return values


def email(event: str, role: str = "customer", **overrides: str) -> SendEmailInput:
    return SendEmailInput(
        idempotency_key=f"cbi-7:email-{event}-{role}:1",
        order_id="cbi-7",
        flow=FLOW,
        event=event,
        recipient_role=role,
        to_address="cleo@example.com",
        to_name="Cleo Customer",
        context=context(**overrides),
    )


@pytest.fixture
def installation_emails(smtp_sink: SmtpSink) -> EmailActivities:
    return EmailActivities(
        smtp_sink.host, smtp_sink.port, MAIL_FROM, timeout=5.0, policies={FLOW: POLICY}
    )


def test_every_event_has_its_templates_and_every_type_is_an_event() -> None:
    templates = load_templates()
    found = {(key.event, key.role) for key in templates if key.flow == FLOW}
    assert found == {(event, role) for event, roles in EXPECTED.items() for role in roles}
    assert set(EXPECTED) == {t.value for t in InstallationEmail}
    assert len([f for f, _ in template_files() if f == FLOW]) == len(found)


def test_fulfilled_mail_says_what_was_charged_and_the_partner_gets_the_address() -> None:
    templates = {key: t for key, t in load_templates().items() if key.flow == FLOW}
    fulfilled = next(
        t for k, t in templates.items() if (k.event, k.role) == ("fulfilled", "customer")
    )
    _, body = fulfilled.render(context(charged="1299.00 EUR charged to your card"))
    assert "1299.00 EUR charged to your card" in body
    request = next(t for k, t in templates.items() if k.event == "installation_request")
    assert "installation_address" in request.identifiers()
    for key, template in templates.items():
        if key.event in ("scheduled", "rescheduled"):
            assert "scheduled_local" in template.identifiers(), key


async def test_an_enabled_type_is_sent(
    installation_emails: EmailActivities, smtp_sink: SmtpSink
) -> None:
    result = await ActivityEnvironment().run(
        installation_emails.send_email, email("order_confirmation")
    )
    assert result.status is NotificationStatus.sent
    [mail] = smtp_sink.messages
    assert mail.message["X-Orderclock-Event"] == f"{FLOW}/order_confirmation"
    assert "cbi-7" in str(mail.message["Subject"])


async def test_a_disabled_type_is_skipped_with_the_reason(
    installation_emails: EmailActivities, smtp_sink: SmtpSink
) -> None:
    result = await ActivityEnvironment().run(
        installation_emails.send_email, email("order_confirmation", onboarding_flow="partner_led")
    )
    assert result.status is NotificationStatus.skipped
    assert result.detail == (
        "email type order_confirmation is not enabled for onboarding flow partner_led"
    )
    enabled = await ActivityEnvironment().run(
        installation_emails.send_email,
        email("installation_request", "installation_partner", onboarding_flow="partner_led"),
    )
    assert enabled.status is NotificationStatus.sent
    assert len(smtp_sink.messages) == 1


async def test_a_manual_resend_is_sent_even_when_the_type_is_disabled(
    installation_emails: EmailActivities, smtp_sink: SmtpSink
) -> None:
    result = await ActivityEnvironment().run(
        installation_emails.send_email,
        email("order_confirmation", onboarding_flow="partner_led", trigger="manual"),
    )
    assert result.status is NotificationStatus.sent
    assert len(smtp_sink.messages) == 1


async def test_an_onboarding_flow_no_longer_configured_is_skipped(
    installation_emails: EmailActivities, smtp_sink: SmtpSink
) -> None:
    result = await ActivityEnvironment().run(
        installation_emails.send_email, email("fulfilled", onboarding_flow="retired")
    )
    assert result.status is NotificationStatus.skipped
    assert result.detail == (
        "email type fulfilled is not enabled for onboarding flow retired: the flow is no "
        "longer configured (known: partner_led, standard)"
    )
    assert smtp_sink.messages == []


async def test_the_worker_reads_the_switch_from_its_settings(
    smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "ORDERCLOCK_INSTALLATION__ONBOARDING_FLOWS",
        '{"standard": ["installation_request"], "b2b": []}',
    )
    settings = Settings(
        stripe_api_key=SecretStr("sk_test_x"),
        stripe_webhook_secret=SecretStr("whsec_x"),
        smtp_host=smtp_sink.host,
        smtp_port=smtp_sink.port,
    )
    installation_emails = EmailActivities.from_settings(settings)
    skipped = await ActivityEnvironment().run(installation_emails.send_email, email("cancelled"))
    assert skipped.detail == "email type cancelled is not enabled for onboarding flow standard"
    sent = await ActivityEnvironment().run(
        installation_emails.send_email, email("installation_request", "installation_partner")
    )
    assert sent.status is NotificationStatus.sent


def test_policy_needs_an_onboarding_flow_and_a_positive_retry() -> None:
    with pytest.raises(ValueError, match="at least one onboarding flow"):
        InstallationPolicy(onboarding_flows={})
    with pytest.raises(ValueError, match="payment_retry_interval must be positive"):
        InstallationPolicy(payment_retry_interval="PT0S")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="onboarding_flows"):
        InstallationPolicy(onboarding_flows={"standard": ["no_such_email"]})  # type: ignore[list-item]
