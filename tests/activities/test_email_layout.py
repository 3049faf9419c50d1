"""What an email looks like: HTML with a flowed plain-text alternative, the business's name
and sender, the next step's link, times as a person reads them, and one-line headers."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities
from activities.email_format import flowed_text, readable_times
from cli.emails import render_all
from config.settings import Settings
from models.common import Role
from tests.activities.test_email import email_input, full_context
from tests.fixtures.smtp import SmtpSink

PAY_URL = "https://shop.example/orders/{order_id}/pay"


def settings(smtp_sink: SmtpSink, **changes: object) -> Settings:
    values: dict[str, object] = {
        "smtp_host": smtp_sink.host,
        "smtp_port": smtp_sink.port,
        "stripe_api_key": SecretStr("sk_test_x"),
        "stripe_webhook_secret": SecretStr("whsec_x"),
        "business_name": "Elm Studio",
        "mail_from": "Elm Studio <hello@elm.test>",
    }
    return Settings(**(values | changes))  # type: ignore[arg-type]


async def test_html_and_flowed_text_with_the_next_step(smtp_sink: SmtpSink) -> None:
    emails = EmailActivities.from_settings(settings(smtp_sink, email_links={"pay": PAY_URL}))
    context = full_context(customer_name="Ada <b>Customer</b>")
    await ActivityEnvironment().run(
        emails.send_email, email_input(event="confirmed", role=Role.customer, context=context)
    )
    [mail] = smtp_sink.messages
    assert mail.message.get_content_type() == "multipart/alternative"
    text_part = mail.message.get_body(preferencelist=("plain",))
    assert text_part is not None and text_part.get_param("format") == "flowed"

    # The text: a sentence is never broken by the template's line breaks, lines stay short.
    assert "Unpaid orders are cancelled automatically at that time." in mail.body
    raw_text = str(text_part.get_content())
    assert all(len(line) <= 78 for line in raw_text.splitlines()), raw_text
    assert "Pay now: https://shop.example/orders/ord-42/pay" in mail.body
    assert mail.body.rstrip().endswith("Kind regards,\nElm Studio")

    # The HTML: escaped values, the fields as a table, the link as a button.
    html = mail.html
    assert "Ada &lt;b&gt;Customer&lt;/b&gt;" in html and "<b>Customer" not in html
    assert '<th scope="row">Appointment</th><td>Tue 1 Dec 2026, 10:00 CET</td>' in html
    assert '<a class="button" href="https://shop.example/orders/ord-42/pay">Pay now</a>' in html
    assert "Elm Studio" in html and "$" not in html


async def test_without_a_link_for_the_step_there_is_no_button(smtp_sink: SmtpSink) -> None:
    emails = EmailActivities.from_settings(settings(smtp_sink))
    await ActivityEnvironment().run(
        emails.send_email, email_input(event="confirmed", role=Role.customer)
    )
    [mail] = smtp_sink.messages
    assert "Pay now" not in mail.body and "button" not in mail.html.split("</style>")[1]


async def test_a_long_subject_is_one_header_line(smtp_sink: SmtpSink) -> None:
    emails = EmailActivities.from_settings(settings(smtp_sink))
    context = full_context(provider_name="Studio Elm Massage and Wellness Rooms at the Harbour")
    await ActivityEnvironment().run(
        emails.send_email, email_input(event="created", role=Role.customer, context=context)
    )
    [mail] = smtp_sink.messages
    subject = str(mail.message["Subject"])
    assert len(subject) > 78
    assert f"Subject: {subject}\r\n".encode() in mail.raw
    assert not subject.startswith(" ") and "\n" not in subject


async def test_a_flow_may_have_its_own_business_and_sender(smtp_sink: SmtpSink) -> None:
    config = settings(
        smtp_sink,
        email_links={"pay": PAY_URL},
        email_flows={
            "prepaid_service": {
                "business_name": "Elm Wellness",
                "mail_from": "Elm Wellness <wellness@elm.test>",
                "links": {"pay": "https://wellness.example/pay/{order_id}"},
            }
        },
    )
    emails = EmailActivities.from_settings(config)
    await ActivityEnvironment().run(
        emails.send_email, email_input(event="confirmed", role=Role.customer)
    )
    [mail] = smtp_sink.messages
    assert mail.mail_from == "wellness@elm.test"
    assert mail.message["From"] == "Elm Wellness <wellness@elm.test>"
    assert mail.body.rstrip().endswith("Kind regards,\nElm Wellness")
    assert "https://wellness.example/pay/ord-42" in mail.body
    assert config.email_identity("shop_order").business_name == "Elm Studio"


async def test_a_deployment_replaces_templates_and_the_layout(
    smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    (tmp_path / "prepaid_service").mkdir()
    (tmp_path / "prepaid_service" / "paid.customer.txt").write_text(
        "Subject: Thanks for paying ${order_id}\n\nDear ${customer_name},\n\nthanks.\n\n"
        "Cheers,\n${business_name}\n"
    )
    (tmp_path / "email.html").write_text("<html><h1>${business_name}</h1>${content}</html>")
    emails = EmailActivities.from_settings(settings(smtp_sink, email_templates_dir=tmp_path))
    await ActivityEnvironment().run(
        emails.send_email, email_input(event="paid", role=Role.customer)
    )
    [mail] = smtp_sink.messages
    assert mail.message["Subject"] == "Thanks for paying ord-42"
    assert mail.html.startswith("<html><h1>Elm Studio</h1><p>Dear Ada Customer,</p>")
    # The packaged templates still serve the other events.
    assert ("prepaid_service", "confirmed") in {(k.flow, k.event) for k in emails.templates}


def test_times_read_as_a_person_reads_them() -> None:
    assert readable_times("by 2026-12-05 06:09 Europe/Berlin.") == "by Sat 5 Dec 2026, 06:09 CET."
    assert readable_times("2027-07-01 08:00 Europe/Berlin") == "Thu 1 Jul 2027, 08:00 CEST"
    # A zone the tz database gives no letters keeps its name; unknown zones are left alone.
    assert readable_times("2026-12-05 06:09 Europe/Istanbul") == (
        "Sat 5 Dec 2026, 06:09 Europe/Istanbul"
    )
    assert readable_times("2026-12-05 06:09 Mars/Olympus") == "2026-12-05 06:09 Mars/Olympus"


def test_flowed_text_keeps_fields_and_sign_off_and_stuffs_spaces() -> None:
    text = flowed_text(
        "Hello Ada,\n\nYour order is\nconfirmed.\n\nTotal:  1.00 EUR\nItems:  2 x Tea\n\n"
        "From now on it waits.\n\nKind regards,\nElm\n"
    )
    assert text.splitlines() == [
        "Hello Ada,",
        "",
        "Your order is confirmed.",
        "",
        "Total:  1.00 EUR",
        "Items:  2 x Tea",
        "",
        " From now on it waits.",
        "",
        "Kind regards,",
        "Elm",
    ]


def test_every_template_renders_to_files(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    emails = EmailActivities.from_settings(settings(smtp_sink, email_links={"pay": PAY_URL}))
    written = render_all(emails, tmp_path)
    assert len(written) == 3 * len(emails.templates)
    for path in written:
        text = path.read_text()
        assert "${" not in text, path
        if path.suffix == ".html":
            assert ("Elm Studio" in text and "<table" in text) or "<p>" in text, path
    receipt = (tmp_path / "account_order" / "completed.customer.txt").read_text()
    assert "Installation address: " in receipt and "installation_address" not in receipt
