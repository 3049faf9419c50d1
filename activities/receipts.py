"""The account order receipt as documents: HTML (escaped template) and PDF (fpdf2).

Used by the email activity (attachments) and the API (``GET /orders/{id}/receipt``). Both
render the :class:`~flows.account_order.models.Receipt` fixed at completion, so every copy shows the
same amounts. The PDF uses fpdf2's built-in Helvetica, which covers Latin-1 only: other
characters print as ``?`` there (the HTML shows every character).
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from string import Template

from fpdf import FPDF

import flows.account_order
from flows.account_order.models import Receipt
from models.money import format_amount

HTML_TEMPLATE = Template(
    (Path(flows.account_order.__file__).parent / "templates" / "receipt.html").read_text()
)


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def receipt_html(receipt: Receipt) -> str:
    """The receipt as a standalone HTML page; every value is escaped."""
    money = receipt.currency
    rows = []
    for line in receipt.lines:
        config = "".join(
            f"<br><small>{_e(name)}: {_e(value)}</small>"
            for name, value in line.configuration_fields()
        )
        rows.append(
            f"<tr><td>{_e(line.product_name)} ({_e(line.option_name)}){config}</td>"
            f'<td class="n">{line.quantity}</td>'
            f'<td class="n">{_e(format_amount(line.unit_amount, money))}</td>'
            f'<td class="n">{_e(format_amount(line.amount, money))}</td></tr>'
        )
    return HTML_TEMPLATE.substitute(
        order_id=_e(receipt.order_id),
        account_name=_e(receipt.account.name),
        account_id=_e(receipt.account.id),
        account_email=_e(receipt.account.email),
        order_date=_e(receipt.order_date.isoformat()),
        completed_at=_e(f"{receipt.completed_at:%Y-%m-%d %H:%M} UTC"),
        rows="\n".join(rows),
        total=_e(format_amount(receipt.amount_total, money)),
        payment_method=_e(receipt.payment_method),
        notes=f"<p>Notes: {_e(receipt.notes)}</p>" if receipt.notes else "",
    )


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def receipt_pdf(receipt: Receipt) -> bytes:
    """The receipt as a one-page (or longer) A4 PDF; the same receipt gives the same bytes."""
    money = receipt.currency
    pdf = FPDF(format="A4")
    # Fixed metadata: a reprint is byte-for-byte the original.
    pdf.set_creation_date(receipt.completed_at)
    pdf.set_title(f"Receipt {receipt.order_id}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(f"Receipt for order {receipt.order_id}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    for text in (
        f"Account: {receipt.account.name} ({receipt.account.id}), {receipt.account.email}",
        f"Order date: {receipt.order_date.isoformat()}",
        f"Completed: {receipt.completed_at:%Y-%m-%d %H:%M} UTC",
        f"Payment method: {receipt.payment_method}",
    ):
        pdf.cell(0, 6, _latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    widths = (100, 20, 35, 35)
    pdf.set_font("Helvetica", "B", 10)
    for width, title in zip(widths, ("Item", "Qty", "Unit", "Amount"), strict=True):
        pdf.cell(width, 7, title, border="B")
    pdf.ln()
    pdf.set_font("Helvetica", size=10)
    for line in receipt.lines:
        cells = (
            f"{line.product_name} ({line.option_name})",
            str(line.quantity),
            format_amount(line.unit_amount, money),
            format_amount(line.amount, money),
        )
        for width, text in zip(widths, cells, strict=True):
            pdf.cell(width, 6, _latin1(text))
        pdf.ln()
        for name, value in line.configuration_fields():
            pdf.cell(0, 5, _latin1(f"    {name}: {value}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 8, _latin1(f"Total: {format_amount(receipt.amount_total, money)}"), border="T")
    pdf.ln()
    if receipt.notes:
        pdf.set_font("Helvetica", size=9)
        pdf.multi_cell(0, 5, _latin1(f"Notes: {receipt.notes}"))
    return bytes(pdf.output())


def receipt_filename(receipt: Receipt, extension: str) -> str:
    """``receipt-<order id>.<extension>`` (order ids are file-name safe)."""
    return f"receipt-{receipt.order_id}.{extension}"
