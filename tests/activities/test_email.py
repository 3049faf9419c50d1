"""The email activity against a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.email import (
    EMAIL_TEMPLATE_ERROR,
    SMTP_TEMPORARY_FAILURE,
    SMTP_UNAVAILABLE,
    EmailActivities,
    TemplateFormatError,
    load_templates,
    message_id_for,
)
from config.settings import Settings
from models.activities import SendEmailInput
from models.common import Role
from models.orders import NotificationStatus
from tests.fixtures.smtp import SmtpSink, free_port

MAIL_FROM = "orderclock <orders@orderclock.test>"


def full_context(**overrides: str) -> dict[str, str]:
    context = {
        "order_id": "ord-42",
        "customer_name": "Ada Customer",
        "provider_name": "Bob Provider",
        "status": "confirmation",
        "stage": "Confirmation",
        "amount_total": "120.00 EUR",
        "items": "1 x Massage 120.00 EUR",
        "appointment_local": "2026-12-01 10:00 Europe/Berlin",
        "deadline_name": "confirmation",
        "deadline_local": "2026-11-23 09:00 Europe/Berlin",
        "reason": "Customer asked to cancel",
        "refund_amount": "120.00 EUR",
        "comment": "Can we start an hour later?",
        "rating": "5",
    }
    context.update(overrides)
    return context


def email_input(
    event: str = "created",
    role: Role = Role.provider,
    key: str = "ord-42:email:1",
    to: str = "bob@provider.test",
    context: dict[str, str] | None = None,
) -> SendEmailInput:
    return SendEmailInput(
        idempotency_key=key,
        order_id="ord-42",
        flow="prepaid_service",
        event=event,
        recipient_role=role,
        to_address=to,
        to_name="Bob Provider",
        context=full_context() if context is None else context,
    )


@pytest.fixture
def emails(smtp_sink: SmtpSink) -> EmailActivities:
    return EmailActivities(smtp_sink.host, smtp_sink.port, MAIL_FROM, timeout=5.0)


async def test_sends_rendered_email_with_headers(
    env: ActivityEnvironment, emails: EmailActivities, smtp_sink: SmtpSink
) -> None:
    result = await env.run(emails.send_email, email_input())

    assert result.status is NotificationStatus.sent
    assert result.message_id == message_id_for("ord-42:email:1")
    [mail] = smtp_sink.messages
    assert mail.mail_from == "orders@orderclock.test"
    assert mail.rcpt_tos == ["bob@provider.test"]
    message = mail.message
    assert message["Message-ID"] == result.message_id
    assert message["X-Orderclock-Key"] == "ord-42:email:1"
    assert message["X-Orderclock-Order"] == "ord-42"
    assert message["X-Orderclock-Event"] == "prepaid_service/created"
    assert message["To"] == "Bob Provider <bob@provider.test>"
    assert message["From"] == MAIL_FROM
    assert message["Date"] is not None
    assert message["Subject"] == (
        "New order ord-42 from Ada Customer: please confirm by Mon 23 Nov 2026, 09:00 CET"
    )
    assert "Hello Bob Provider," in mail.body
    assert "120.00 EUR" in mail.body
    assert "Tue 1 Dec 2026, 10:00 CET" in mail.body
    assert "$" not in mail.body
    # Signed by the business, which without a name of its own is the sender's.
    assert mail.body.rstrip().endswith("Kind regards,\norderclock")


async def test_message_id_follows_the_idempotency_key(
    env: ActivityEnvironment, emails: EmailActivities, smtp_sink: SmtpSink
) -> None:
    first = await env.run(emails.send_email, email_input(key="ord-42:email:7"))
    again = await env.run(emails.send_email, email_input(key="ord-42:email:7"))
    other = await env.run(emails.send_email, email_input(key="ord-42:email:8"))

    ids = [mail.message["Message-ID"] for mail in smtp_sink.messages]
    assert ids == [first.message_id, again.message_id, other.message_id]
    assert ids[0] == ids[1] != ids[2]
    assert ids[0].startswith("<") and ids[0].endswith("@orderclock>")


async def test_event_without_template_for_the_role_is_skipped(
    env: ActivityEnvironment, emails: EmailActivities, smtp_sink: SmtpSink
) -> None:
    result = await env.run(emails.send_email, email_input(event="reviewed", role=Role.customer))

    assert result.status is NotificationStatus.skipped
    assert result.detail == "no template for prepaid_service/reviewed.customer"
    assert smtp_sink.messages == []


async def test_unknown_flow_is_skipped(
    env: ActivityEnvironment, emails: EmailActivities, smtp_sink: SmtpSink
) -> None:
    data = email_input().model_dump()
    data["flow"] = "../../etc"
    result = await env.run(emails.send_email, SendEmailInput(**data))

    assert result.status is NotificationStatus.skipped
    assert smtp_sink.messages == []


async def test_permanent_recipient_rejection_is_a_failed_outcome(
    env: ActivityEnvironment, emails: EmailActivities, smtp_sink: SmtpSink
) -> None:
    smtp_sink.reject("bob@provider.test", 550, "5.1.1 No such mailbox")

    result = await env.run(emails.send_email, email_input())

    assert result.status is NotificationStatus.failed
    assert result.detail == "550 5.1.1 No such mailbox"
    assert smtp_sink.messages == []


async def test_temporary_recipient_rejection_raises_retryable(
    env: ActivityEnvironment, emails: EmailActivities, smtp_sink: SmtpSink
) -> None:
    smtp_sink.reject("bob@provider.test", 451, "4.3.0 Try again later")

    with pytest.raises(ApplicationError) as caught:
        await env.run(emails.send_email, email_input())

    assert caught.value.type == SMTP_TEMPORARY_FAILURE
    assert not caught.value.non_retryable
    assert "451" in caught.value.message
    assert smtp_sink.messages == []


async def test_server_down_raises_retryable(env: ActivityEnvironment) -> None:
    emails = EmailActivities("127.0.0.1", free_port(), MAIL_FROM, timeout=2.0)

    with pytest.raises(ApplicationError) as caught:
        await env.run(emails.send_email, email_input())

    assert caught.value.type == SMTP_UNAVAILABLE
    assert not caught.value.non_retryable


async def test_missing_template_variable_is_non_retryable(
    env: ActivityEnvironment, emails: EmailActivities, smtp_sink: SmtpSink
) -> None:
    context = full_context()
    del context["reason"]

    with pytest.raises(ApplicationError) as caught:
        await env.run(
            emails.send_email, email_input(event="cancelled", role=Role.customer, context=context)
        )

    assert caught.value.type == EMAIL_TEMPLATE_ERROR
    assert caught.value.non_retryable
    assert "'reason'" in caught.value.message
    assert "prepaid_service/cancelled.customer" in caught.value.message
    assert smtp_sink.messages == []


async def test_line_breaks_in_values_cannot_add_headers(
    env: ActivityEnvironment, emails: EmailActivities, smtp_sink: SmtpSink
) -> None:
    context = full_context(customer_name="Eve\r\nBcc: victim@example.test")

    result = await env.run(emails.send_email, email_input(context=context))

    assert result.status is NotificationStatus.sent
    [mail] = smtp_sink.messages
    assert mail.message["Bcc"] is None
    assert mail.rcpt_tos == ["bob@provider.test"]
    assert mail.message["Subject"].startswith("New order ord-42 from Eve Bcc: victim@example.test")


async def test_non_ascii_names_survive(
    env: ActivityEnvironment, emails: EmailActivities, smtp_sink: SmtpSink
) -> None:
    context = full_context(customer_name="Zoë Müller")

    await env.run(emails.send_email, email_input(context=context))

    [mail] = smtp_sink.messages
    assert "Zoë Müller" in mail.message["Subject"]
    assert "Zoë Müller" in mail.body


async def test_built_from_settings(env: ActivityEnvironment, smtp_sink: SmtpSink) -> None:
    settings = Settings(
        smtp_host=smtp_sink.host,
        smtp_port=smtp_sink.port,
        mail_from="Shop <shop@orderclock.test>",
        stripe_api_key=SecretStr("sk_test_x"),
        stripe_webhook_secret=SecretStr("whsec_x"),
    )
    emails = EmailActivities.from_settings(settings)

    result = await env.run(emails.send_email, email_input(event="paid", role=Role.customer))

    assert result.status is NotificationStatus.sent
    [mail] = smtp_sink.messages
    assert mail.mail_from == "shop@orderclock.test"
    assert mail.message["Subject"] == "Payment received for order ord-42"


def test_custom_template_directory(tmp_path: Path) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "placed.customer.txt").write_text(
        "Subject: Order ${order_id}\n\nHello ${customer_name}\n"
    )

    templates = load_templates(tmp_path)

    [template] = templates.values()
    assert str(template.key) == "shop/placed.customer"
    assert template.render(full_context()) == ("Order ord-42", "Hello Ada Customer\n")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Hello ${order_id}\n\nbody\n", "Subject"),
        ("Subject: x\nbody right away\nmore\n", "Subject"),
        ("Subject: ${order_id\n\nbody\n", "placeholder"),
        ("Subject: x\n\n${secret_token}\n", "unknown context keys"),
    ],
)
def test_malformed_templates_are_refused_at_load(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "placed.customer.txt").write_text(text)

    with pytest.raises(TemplateFormatError, match=problem):
        EmailActivities("127.0.0.1", 25, MAIL_FROM, template_dir=tmp_path)
