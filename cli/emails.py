"""``orderclock emails render``: every email template of every flow, rendered to files.

For a person to look at what the emails say before a deployment sends them: each
(flow, event, recipient) becomes ``<flow>/<event>.<role>.eml`` (the whole message, as it
would be sent), ``.html`` and ``.txt``, rendered with this deployment's settings (business
name, senders, links, ``ORDERCLOCK_EMAIL_TEMPLATES_DIR``) and a sample order's context.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.support import settings_without_secrets

if TYPE_CHECKING:
    # Imported when a command runs: every other command of the CLI starts without them.
    from activities.email import EmailActivities, EmailTemplate
    from flows.account_order.models import Receipt
    from models.activities import SendEmailInput

emails_app = typer.Typer(
    help="Look at the emails orderclock sends.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def sample_receipt() -> Receipt:
    """The receipt of the sample account order."""
    from flows.account_order.models import AccountLine, AccountSnapshot, Receipt

    return Receipt(
        order_id="AC-2041",
        account=AccountSnapshot(
            id="acc-118",
            name="Nordlicht Facility GmbH",
            email="billing@nordlicht.example",
            created_at=datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
        ),
        order_date=datetime(2026, 11, 30, tzinfo=UTC).date(),
        completed_at=datetime(2026, 12, 4, 14, 30, tzinfo=UTC),
        currency="EUR",
        lines=[
            AccountLine(
                product="wallbox",
                product_name="Wallbox 11 kW",
                option="installed",
                option_name="with installation",
                quantity=2,
                unit_amount=89900,
                amount=179800,
                configuration={"installation_address": "Hafenstraße 12, 20457 Hamburg"},
                configuration_labels={"installation_address": "Installation address"},
            )
        ],
        amount_total=179800,
        payment_method="invoice",
    )


# A sample order's context: one value per key any flow passes (flows/catalog.py), times
# in the workflows' format so they are shown as the emails show real ones.
SAMPLE_CONTEXT = {
    "order_id": "ORD-2041",
    "account_id": "acc-118",
    "account_name": "Nordlicht Facility GmbH",
    "customer_name": "Clara Becker",
    "provider_name": "Studio Elm Massage",
    "dealer_name": "Autohaus Weber",
    "manufacturer_name": "Volt Mobility AG",
    "partner_name": "Elektro Jansen",
    "amount_total": "1798.00 EUR",
    "refund_amount": "1798.00 EUR",
    "quote_amount": "64.00 EUR",
    "charged": "1299.00 EUR",
    "appointment_local": "2026-12-12 10:30 Europe/Berlin",
    "deadline_local": "2026-12-05 06:09 Europe/Berlin",
    "confirm_due_local": "2026-12-08 17:00 Europe/Berlin",
    "scheduled_local": "2026-12-15 08:00 Europe/Copenhagen",
    "previous_local": "2026-12-14 08:00 Europe/Copenhagen",
    "deadline_name": "payment",
    "business_days": "2",
    "status": "confirmed",
    "stage": "Confirmed",
    "items": "2 x Wallbox 11 kW (799.00 EUR each) 1598.00 EUR; 1 x Load balancer 200.00 EUR",
    "items_summary": "1 x Repair evaluation: e-bike motor 64.00 EUR",
    "tracking_numbers": "1Z999AA10123456784",
    "tracking": "DHL 00340434161094042557",
    "carrier": "DHL",
    "payment": "card, captured",
    "payment_method": "invoice",
    "payment_summary": "card ending 4242",
    "installation_address": "Hafenstraße 12, 20457 Hamburg",
    "onboarding_flow": "partner_led",
    "order_date": "2026-11-30",
    "replacement_order_id": "ORD-2042",
    "reason": "The customer asked to cancel because the date no longer suits them.",
    "comment": "Could we start an hour later?",
    "note": "Parts arrive on Monday.",
    "rating": "5",
    "trigger": "payment deadline",
}


def sample_input(template: EmailTemplate) -> SendEmailInput:
    """The email input a workflow would give for ``template`` (the sample order)."""
    from flows.account_order.models import receipt_text
    from models.activities import SendEmailInput

    key = template.key
    receipt = sample_receipt() if key.flow == "account_order" else None
    context = SAMPLE_CONTEXT | {"receipt_text": receipt_text(receipt) if receipt else ""}
    return SendEmailInput(
        idempotency_key=f"{SAMPLE_CONTEXT['order_id']}:email-{key.event}-{key.role}:1",
        order_id=SAMPLE_CONTEXT["order_id"],
        flow=key.flow,
        event=key.event,
        recipient_role=key.role,
        to_address=f"{key.role}@example.com",
        to_name=key.role.replace("_", " ").title(),
        context=context,
        receipt=receipt,
    )


def render_all(activities: EmailActivities, out: Path) -> list[Path]:
    """Write every template's message, HTML and text under ``out``; the files written."""
    written: list[Path] = []
    for key, template in sorted(activities.templates.items(), key=lambda kv: str(kv[0])):
        message = activities.compose(sample_input(template), template)
        folder = out / key.flow
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{key.event}.{key.role}"
        html_part = message.get_body(preferencelist=("html",))
        text_part = message.get_body(preferencelist=("plain",))
        assert html_part is not None and text_part is not None
        files = {
            folder / f"{name}.eml": message.as_bytes(),
            folder / f"{name}.html": html_part.get_payload(decode=True),
            folder / f"{name}.txt": text_part.get_payload(decode=True),
        }
        for path, content in files.items():
            assert isinstance(content, bytes)
            path.write_bytes(content)
        written += list(files)
    return written


@emails_app.command("render")
def render(
    out: Annotated[Path, typer.Option(help="Folder to write the emails to.")] = Path("emails"),
) -> None:
    """Render every email of every flow (as .eml, .html and .txt) with a sample order."""
    from activities.email import EmailActivities

    settings = settings_without_secrets()
    activities = EmailActivities.from_settings(settings)
    written = render_all(activities, out)
    typer.echo(f"{len(written) // 3} emails written to {out}/ (<flow>/<event>.<role>.eml/html/txt)")
