"""The account order receipt as HTML and PDF, and as the attachments of its email (real SMTP)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

from pypdf import PdfReader
from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities, TemplateKey, load_templates
from activities.receipts import receipt_html, receipt_pdf
from flows.account_order.declaration import CONTEXT_KEYS
from flows.account_order.models import AccountLine, AccountSnapshot, Receipt, receipt_text
from models.activities import SendEmailInput
from models.orders import NotificationStatus
from tests.fixtures.smtp import SmtpSink

RECEIPT = Receipt(
    order_id="acct-1",
    account=AccountSnapshot(
        id="acc-1",
        name="Ada <script>alert(1)</script>",
        email="ada@example.com",
        created_at=datetime(2026, 1, 5, tzinfo=UTC),
    ),
    order_date=date(2026, 11, 20),
    completed_at=datetime(2026, 11, 21, 9, 30, tzinfo=UTC),
    currency="EUR",
    lines=[
        AccountLine(
            product="broadband",
            product_name="Broadband internet",
            option="monthly",
            option_name="Monthly",
            quantity=2,
            unit_amount=2999,
            amount=5998,
            configuration={"installation_address": "1 Main St & Co"},
        )
    ],
    amount_total=5998,
    payment_method="invoice",
    notes="leave at the door",
)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_html_receipt_escapes_every_value() -> None:
    html = receipt_html(RECEIPT)
    assert "<script>" not in html
    assert "Ada &lt;script&gt;alert(1)&lt;/script&gt;" in html
    # Configuration fields by their names, not their keys.
    assert "Installation address: 1 Main St &amp; Co" in html
    assert "installation_address" not in html
    assert "Broadband internet (Monthly)" in html
    assert ">59.98 EUR<" in html and "leave at the door" in html
    assert html.startswith("<!DOCTYPE html>")


def test_pdf_receipt_holds_the_receipt_and_is_stable() -> None:
    data = receipt_pdf(RECEIPT)
    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    for part in (
        "Receipt for order acct-1",
        "Order date: 2026-11-20",
        "Completed: 2026-11-21 09:30 UTC",
        "Broadband internet (Monthly)",
        "29.99 EUR",
        "Total: 59.98 EUR",
        "Installation address: 1 Main St & Co",
    ):
        assert part in text, part
    assert receipt_pdf(RECEIPT) == data  # a reprint is the same document


def test_pdf_receipt_survives_characters_beyond_latin_1() -> None:
    account = RECEIPT.account.model_copy(update={"name": "Zoë 山田"})
    text = pdf_text(receipt_pdf(RECEIPT.model_copy(update={"account": account})))
    assert "Account: Zoë ??" in text


def test_receipt_text_lists_lines_and_total() -> None:
    text = receipt_text(RECEIPT)
    assert "  2 x Broadband internet (Monthly) @ 29.99 EUR = 59.98 EUR" in text
    assert "      Installation address: 1 Main St & Co" in text
    assert text.endswith("Total: 59.98 EUR\nPayment method: invoice")


def test_account_order_templates() -> None:
    found = {(k.event, k.role) for k in load_templates() if k.flow == "account_order"}
    events = ("placed", "approved", "completed", "receipt", "cancelled", "returned_to_draft")
    assert found == {(event, "customer") for event in events}
    templates = load_templates()
    for event in ("completed", "receipt"):
        assert (
            "receipt_text"
            in templates[TemplateKey("account_order", event, "customer")].identifiers()
        )


async def test_receipt_email_carries_html_and_pdf(smtp_sink: SmtpSink) -> None:
    emails = EmailActivities(smtp_sink.host, smtp_sink.port, "orders@orderclock.test", timeout=5.0)
    context = dict.fromkeys(CONTEXT_KEYS, "") | {
        "order_id": "acct-1",
        "account_name": "Ada",
        "receipt_text": receipt_text(RECEIPT),
    }
    result = await ActivityEnvironment().run(
        emails.send_email,
        SendEmailInput(
            idempotency_key="acct-1:email-receipt-customer:9",
            order_id="acct-1",
            flow="account_order",
            event="receipt",
            recipient_role="customer",
            to_address="ada@example.com",
            to_name="Ada",
            context=context,
            receipt=RECEIPT,
        ),
    )
    assert result.status is NotificationStatus.sent
    [mail] = smtp_sink.messages
    message = mail.message
    assert message["Subject"] == "Copy of your receipt for order acct-1"
    assert message.get_content_type() == "multipart/mixed"
    parts = list(message.walk())[1:]
    # The email itself (text and HTML alternatives), then the receipt as HTML and PDF.
    assert [p.get_content_type() for p in parts] == [
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/html",
        "application/pdf",
    ]
    assert "Total: 59.98 EUR" in mail.body
    assert [p.get_filename() for p in parts[3:]] == ["receipt-acct-1.html", "receipt-acct-1.pdf"]
    html = parts[3].get_payload(decode=True).decode()
    assert "Ada &lt;script&gt;" in html
    assert "Total: 59.98 EUR" in pdf_text(parts[4].get_payload(decode=True))
