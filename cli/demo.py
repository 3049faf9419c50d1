"""``orderclock demo``: a handful of realistic orders of every flow, in different states.

For a fresh stack to have something to show in the Web UI, the CLI and the console: each
flow gets orders waiting for someone, moved on, finished, with deadlines from minutes to
days away. It goes through the HTTP API like any client (the key found as ``orderclock
orders`` finds it), so every order is made by the API's and the workflows' own rules. The
ids carry a fresh suffix: running it again adds orders, it never collides.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import typer

from cli.orders import (
    DEFAULT_API_URL,
    ApiClient,
    ApiKeyOption,
    ApiOption,
    Connection,
    _client,
)

Body = dict[str, Any]


def _party(prefix: str, name: str) -> Body:
    slug = name.split()[0].lower()
    return {"id": f"{prefix}-{slug}", "name": name, "email": f"{slug}@example.com"}


def _at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).replace(microsecond=0).isoformat()


class Demo:
    """Creates the demo orders through one API client, saying what each one is."""

    def __init__(self, client: ApiClient, suffix: str) -> None:
        self.client = client
        self.suffix = suffix
        self.made: list[tuple[str, str]] = []

    def order(self, short: str, body: Body, story: str) -> str:
        order_id = f"{short}-{self.suffix}"
        self.client.request(
            "POST", "/orders", order_id=order_id, body={"order_id": order_id, **body}
        )
        self.made.append((order_id, story))
        return order_id

    def act(self, order_id: str, action: str, actor: Body, **payload: Any) -> None:
        path = f"/orders/{order_id}/actions/{action}"
        self.client.request(
            "POST", path, order_id=order_id, body={"actor": actor, "payload": payload}
        )

    # ----- one method per flow ---------------------------------------------------------

    def prepaid(self) -> None:
        customer, provider = _party("cus", "Clara Becker"), _party("pro", "Studio Elm")
        provider_actor = {"role": "provider", "id": provider["id"]}

        def booking(hours: float, name: str, cents: int) -> Body:
            return {
                "flow": "prepaid_service",
                "customer": customer,
                "provider": provider,
                "items": [{"name": name, "quantity": 1, "unit_amount": cents}],
                "currency": "EUR",
                "appointment": {
                    "start": _at(timedelta(hours=hours)),
                    "duration_minutes": 60,
                    "time_zone": "Europe/Berlin",
                },
            }

        self.order("PS-NEW", booking(72, "Massage 60 min", 8500), "waits for the provider")
        confirmed = self.order(
            "PS-PAY", booking(30, "Facial treatment", 6900), "confirmed, waits for payment"
        )
        self.act(confirmed, "confirm", provider_actor)
        paid = self.order("PS-PAID", booking(5 * 24, "Yoga private class", 4500), "paid")
        self.act(paid, "confirm", provider_actor)
        self.act(
            paid, "pay", {"role": "customer", "id": customer["id"]}, payment_method="pm_card_visa"
        )
        cancelled = self.order("PS-CXL", booking(48, "Sauna session", 2500), "cancelled")
        self.act(
            cancelled, "cancel", {"role": "support", "id": "agent-1"}, reason="customer called"
        )

    def shop(self) -> None:
        customer = _party("cus", "Sam Shopper")

        def basket(*items: tuple[str, str, int, int]) -> Body:
            return {
                "flow": "shop_order",
                "customer": customer,
                "items": [
                    {"sku": sku, "name": name, "quantity": qty, "unit_amount": cents}
                    for sku, name, qty, cents in items
                ],
                "currency": "EUR",
                "payment": {"method": "card", "payment_method": "pm_card_visa"},
            }

        self.order(
            "SH-CARD",
            basket(("WB-11", "Wallbox 11 kW", 1, 79900), ("CBL-5", "Cable 5 m", 2, 4900)),
            "card authorised, sent to Salesforce",
        )
        cancelled = self.order("SH-CXL", basket(("LB-1", "Load balancer", 1, 19900)), "cancelled")
        self.act(
            cancelled, "cancel", {"role": "support", "id": "agent-1"}, reason="duplicate order"
        )

    def dealer(self) -> None:
        dealer = {
            **_party("dealer", "Autohaus Weber"),
            "country": "DE",
            "time_zone": "Europe/Berlin",
        }
        dealer_actor = {"role": "provider", "id": dealer["id"]}

        def placed(cents: int, name: str) -> Body:
            return {
                "flow": "dealer_order",
                "currency": "EUR",
                "manufacturer": _party("oem", "Volt Mobility"),
                "dealer": dealer,
                "customer": _party("cus", "Jonas Klein"),
                "items": [{"name": name, "quantity": 1, "unit_amount": cents}],
                "payment": {"method": "card", "payment_method": "pm_card_visa"},
            }

        self.order("DL-NEW", placed(129900, "Wallbox Pro 22 kW"), "new: to accept and confirm")
        confirmed = self.order("DL-CONF", placed(89900, "Wallbox 11 kW"), "accepted and confirmed")
        self.act(confirmed, "accept", dealer_actor)
        self.act(confirmed, "confirm", dealer_actor)
        shipped = self.order("DL-SHIP", placed(4900, "Type 2 cable"), "shipped, refundable")
        self.act(shipped, "accept", dealer_actor)
        self.act(shipped, "confirm", dealer_actor)
        self.act(
            shipped,
            "mark_shipped",
            dealer_actor,
            tracking_numbers=["00340434161094042557"],
            carrier="DHL",
        )

    def installation(self) -> None:
        def box(name: str) -> Body:
            return {
                "flow": "charge_box_installation",
                "onboarding_flow": "standard",
                "customer": _party("cus", name),
                "installation_partner": _party("ins", "Elektro Jansen"),
                "items": [{"name": "Charge box 11 kW", "quantity": 1, "unit_amount": 129900}],
                "currency": "EUR",
                "time_zone": "Europe/Copenhagen",
                "installation_address": "Vesterbrogade 1, 1620 Copenhagen",
                "payment": {"method": "card", "payment_method": "pm_card_visa"},
            }

        support = {"role": "support", "id": "agent-1"}
        self.order("CB-PEND", box("Freja Nielsen"), "pending: waits for scheduling")
        soon = self.order("CB-SOON", box("Mads Larsen"), "fulfils itself in 20 minutes")
        self.act(soon, "schedule", support, at=_at(timedelta(minutes=20)))
        later = self.order("CB-LATER", box("Ida Holm"), "fulfils itself in 3 days")
        self.act(later, "schedule", support, at=_at(timedelta(days=3)))

    def account(self) -> None:
        account = self.client.request(
            "POST",
            "/accounts",
            body={
                "name": "Nordlicht Facility GmbH",
                "email": f"billing.{self.suffix}@nordlicht.example",
            },
        ).json()

        def draft() -> Body:
            return {
                "flow": "account_order",
                "account_id": account["id"],
                "currency": "EUR",
                "order_date": datetime.now(UTC).date().isoformat(),
                "items": [
                    {
                        "product": "broadband",
                        "option": "monthly",
                        "configuration": {"installation_address": "Hafenstraße 12, Hamburg"},
                    }
                ],
                "payment_method": "invoice",
            }

        self.order("AC-DRAFT", draft(), "draft")
        placed = self.order("AC-PLACED", draft(), "placed")
        self.act(placed, "place", {"role": "customer", "id": account["id"]})


FLOWS: tuple[Callable[[Demo], None], ...] = (
    Demo.prepaid,
    Demo.shop,
    Demo.dealer,
    Demo.installation,
    Demo.account,
)


def demo(
    ctx: typer.Context, api: ApiOption = DEFAULT_API_URL, api_key: ApiKeyOption = None
) -> None:
    """Create a handful of demo orders of every flow in different states (repeatable)."""
    ctx.obj = Connection(api, api_key or None)
    maker = Demo(_client(ctx), suffix=str(int(time.time()))[-6:])
    for flow in FLOWS:
        flow(maker)
    for order_id, story in maker.made:
        typer.echo(f"{order_id:<18} {story}")
    typer.echo(f"{len(maker.made)} orders; see them with: .venv/bin/orderclock orders list")
