"""Primitives every flow's models share: strict models, roles, parties, money, ids.

Per-flow modules (``models/installation.py`` ...) build on these; ``models.orders``
re-exports them, so ``from models.orders import Party`` keeps working.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)

from models.clock import is_valid_zone
from models.ids import ORDER_ID_PATTERN
from models.money import format_amount


class Strict(BaseModel):
    """Base of every message model: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Role(StrEnum):
    """Who acts on an order."""

    customer = "customer"
    provider = "provider"
    support = "support"
    system = "system"


def _zone(name: str) -> str:
    if not is_valid_zone(name):
        raise ValueError(f"unknown IANA time zone {name!r}")
    return name


def _currency(code: str) -> str:
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise ValueError("currency must be a three-letter ISO 4217 code")
    return code.upper()


TimeZoneName = Annotated[str, AfterValidator(_zone)]
Currency = Annotated[str, AfterValidator(_currency)]
OrderId = Annotated[str, StringConstraints(pattern=ORDER_ID_PATTERN)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
PartyId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
# Upper bound keeps sums far from overflowing a 64-bit database column.
MinorUnits = Annotated[int, Field(ge=0, le=10**12)]
# Who an email goes to: an acting role's name, or another party a flow tells (manufacturer,
# installation_partner). It names the template file: ``<event>.<recipient>.txt``.
Recipient = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class Actor(Strict):
    """Who performs an action: a role, and for customers and providers their id."""

    role: Role
    id: PartyId | None = None
    # The API key the action came through, set by the API (never trusted from the body);
    # optional so histories recorded before keys existed still decode.
    key_name: str | None = None

    @model_validator(mode="after")
    def _id_for_parties(self) -> Actor:
        if self.role in (Role.customer, Role.provider) and self.id is None:
            raise ValueError(f"a {self.role} actor needs an id")
        return self


SYSTEM = Actor(role=Role.system, id="orderclock")


class Party(Strict):
    """A customer, provider or other party of an order."""

    id: PartyId
    name: ShortText
    email: EmailStr


class LineItem(Strict):
    """One priced line of an order."""

    name: ShortText
    quantity: Annotated[int, Field(ge=1, le=10_000)] = 1
    unit_amount: MinorUnits


def order_total(items: list[LineItem]) -> int:
    """The sum of an order's lines in minor units."""
    return sum(item.quantity * item.unit_amount for item in items)


def item_lines(items: list[LineItem], currency: str) -> list[str]:
    """Markdown list lines of an order's items, for the Web UI."""
    return [
        f"- {item.quantity} x {item.name} @ {format_amount(item.unit_amount, currency)}"
        for item in items
    ]


class OrderRequest(Strict):
    """What every flow's ``POST /orders`` body has, and what the API asks of it."""

    order_id: OrderId | None = None
    currency: Currency

    def customer_ref(self) -> str:
        """The customer's id (search attribute ``OrderCustomer``, list filter)."""
        raise NotImplementedError

    def total(self) -> int:
        """The order's amount in minor units (0 when not known yet)."""
        raise NotImplementedError

    def web_summary(self) -> str:
        """The one line the Web UI shows for the order (no personal data beyond the name)."""
        raise NotImplementedError

    def web_details(self) -> list[str]:
        """The order's fixed details for the Web UI, as Markdown lines."""
        raise NotImplementedError

    def refusal(self, policy: BaseModel) -> str | None:
        """Why this deployment's ``policy`` refuses the request (the API answers 422)."""
        return None


def request_fingerprint(request: BaseModel) -> str:
    """SHA-256 of the request's canonical JSON: equal bodies give equal fingerprints.

    Here, not in the API, because a workflow that starts an order (the shop flow's priced
    replacement of an EVAL order) fingerprints its request the same way.
    """
    canonical = json.dumps(
        request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
