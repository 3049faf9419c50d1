"""Primitives every flow's models share: strict models, roles, parties, money, ids.

Per-flow modules (``flows/charge_box_installation/`` ...) build on these; ``models.orders``
re-exports them, so ``from models.orders import Party`` keeps working.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

import email_validator
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import WithJsonSchema

from models.clock import is_valid_zone
from models.ids import ORDER_ID_PATTERN
from models.money import CARD_CURRENCIES, MAX_CHARGE, format_amount


class Strict(BaseModel):
    """Base of every message model: unknown fields are an error, not silently dropped."""

    # Serialised, every field is present: the OpenAPI document's response schemas say so
    # (a model that is also read from requests gets a schema per direction).
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


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
    code = code.upper()
    if code not in CARD_CURRENCIES:
        raise ValueError(f"{code} is not an ISO 4217 currency that cards can be charged in")
    return code


@functools.lru_cache(maxsize=4096)
def _email(address: str) -> str:
    # Cached: every payload that carries an order's addresses is validated again where it
    # is decoded (API, worker, each activity's input), 20 us per address; a refused
    # address raises, which the cache does not keep.
    try:
        # Syntax only, no DNS. The reserved test domain (.test) is accepted, as staging
        # systems use it; other special-use names (.local, .invalid, ...) are refused.
        checked = email_validator.validate_email(
            address, check_deliverability=False, test_environment=True
        )
    except email_validator.EmailNotValidError as err:
        raise ValueError(f"not a valid email address: {err}") from None
    return str(checked.normalized)


# The JSON schemas say what the validators check, so a client (or a schema-driven test)
# knows which values are accepted; the validators keep their readable messages.
TIME_ZONE_FORMAT = "iana-time-zone"
TimeZoneName = Annotated[
    str,
    AfterValidator(_zone),
    WithJsonSchema({"type": "string", "format": TIME_ZONE_FORMAT, "examples": ["Europe/Berlin"]}),
]
# Not pydantic's EmailStr: it also takes "Name <address>" and surrounding spaces, which the
# schema's ``format: email`` does not allow.
EmailAddress = Annotated[
    str,
    AfterValidator(_email),
    WithJsonSchema(
        {
            "type": "string",
            "format": "email",
            "maxLength": 254,
            "description": "An address at a special-use domain other than .test is refused.",
        }
    ),
]
# The schemas list the codes (upper case, as the API answers them; lower case is taken too).
Currency = Annotated[
    str,
    AfterValidator(_currency),
    WithJsonSchema(
        {
            "type": "string",
            "enum": sorted(CARD_CURRENCIES),
            "examples": ["EUR"],
            "description": "ISO 4217, and one Stripe charges cards in.",
        }
    ),
]
OrderId = Annotated[str, StringConstraints(pattern=ORDER_ID_PATTERN)]
# What str.strip() removes, spelled out as \uXXXX for the schemas' pattern, so every regex
# engine agrees with the validator on what a blank text is (their \s classes differ).
_SPACE = "".join(f"\\u{ord(c):04x}" for c in map(chr, range(0x10000)) if c.isspace())
NOT_BLANK = f"[^{_SPACE}]"
"""Pattern of a text that has something besides whitespace."""


def _not_blank(text: str) -> str:
    stripped = text.strip()
    if not stripped:
        raise ValueError("must not be blank")
    return stripped


# Characters no human text or id may hold. Control characters: NUL breaks PostgreSQL's
# text columns, CR/LF in a name would add headers to an email's subject. The bidi
# embeddings, overrides and isolates reorder what a reader sees (a reason that reads
# differently in the console than in the database; "Trojan Source"). Lone surrogates are
# no text at all (they cannot be encoded as UTF-8). Multi-line texts keep TAB, LF and CR.
_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_CONTROL = [*range(0x00, 0x20), *range(0x7F, 0xA0)]
_LINE_BREAKS = {0x09, 0x0A, 0x0D}
_SINGLE_LINE_REFUSED = frozenset(map(chr, [*_CONTROL, *_BIDI]))
_MULTI_LINE_REFUSED = frozenset(map(chr, [*(c for c in _CONTROL if c not in _LINE_BREAKS), *_BIDI]))


def _refused_class(refused: frozenset[str]) -> str:
    # Ranges of \uXXXX escapes, for any regex engine of a schema reader (not the lone
    # surrogates pydantic refuses itself: Rust's engine cannot compile them).
    codes = sorted(map(ord, refused))
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(
        f"\\u{low:04x}" if low == high else f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges
    )


def _first_refused(text: str, refused: frozenset[str]) -> str | None:
    for position, char in enumerate(text):
        if char in refused:
            return f"U+{ord(char):04X} at position {position}"
    return None


def _single_line(text: str) -> str:
    found = _first_refused(text, _SINGLE_LINE_REFUSED)
    if found is not None:
        raise ValueError(
            f"must not contain control, line-break or bidi-override characters ({found})"
        )
    return text


def _multi_line(text: str) -> str:
    found = _first_refused(text, _MULTI_LINE_REFUSED)
    if found is not None:
        raise ValueError(f"must not contain control or bidi-override characters ({found})")
    return text


SINGLE_LINE = AfterValidator(_single_line)
"""Metadata for a str: no control characters (CR/LF included) and no bidi overrides."""
MULTI_LINE = AfterValidator(_multi_line)
"""Metadata for a str: as :data:`SINGLE_LINE`, but TAB, LF and CR are allowed."""
SINGLE_LINE_PATTERN = f"^[^{_refused_class(_SINGLE_LINE_REFUSED)}]*$"
"""The schemas' way to say :data:`SINGLE_LINE`."""


def _text_schema(max_length: int, refused: frozenset[str]) -> WithJsonSchema:
    # Something besides whitespace, and nothing refused anywhere.
    allowed = f"[^{_refused_class(refused)}]"
    visible = f"[^{_SPACE}{_refused_class(refused)}]"
    return WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": max_length,
            "pattern": f"^{allowed}*{visible}{allowed}*$",
        }
    )


# The length counts what was sent and the stored text is stripped: a schema can say the
# one, not the other. The characters are checked in what is stored (a trailing newline is
# stripped, not refused: a schema's ``$`` allows one).
ShortText = Annotated[
    str,
    StringConstraints(max_length=200),
    AfterValidator(_not_blank),
    SINGLE_LINE,
    _text_schema(200, _SINGLE_LINE_REFUSED),
]
"""A name, label or reference: one line."""
LongText = Annotated[
    str,
    StringConstraints(max_length=2000),
    AfterValidator(_not_blank),
    MULTI_LINE,
    _text_schema(2000, _MULTI_LINE_REFUSED),
]
"""A reason, note or comment: may span lines."""
PartyId = Annotated[
    str,
    StringConstraints(max_length=128),
    AfterValidator(_not_blank),
    SINGLE_LINE,
    _text_schema(128, _SINGLE_LINE_REFUSED),
]
"""A customer's, provider's or account's id (the client's own)."""


# pydantic's lax mode reads "12" and true as integers and 0 as a date (Unix time); the
# JSON schemas clients see say number and ISO 8601 text, so only those pass.
def _a_number(value: object) -> object:
    if isinstance(value, str | bool):
        raise ValueError("must be a JSON number, not text or a boolean")
    return value


def _not_a_number(value: object) -> object:
    # A client sending Unix seconds (or milliseconds) would silently book another day.
    if isinstance(value, int | float):
        raise ValueError("a date or time is ISO 8601 text, not a number")
    return value


# The years a date or time sent to orderclock may have: wide enough for any order, narrow
# enough that every deadline computed from it (weeks later, in any zone) is a valid
# datetime. Year 1 or 9999 would overflow inside the workflow and wedge the order.
FIRST_YEAR, LAST_YEAR = 1970, 2999
YEAR_PATTERN = r"^(19[7-9][0-9]|2[0-9]{3})-"
"""The schemas' way to say it: the text starts with such a year."""


def _in_years(value: date) -> date:
    # The year as written (a datetime keeps its offset), as the pattern reads it.
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"the year must be between {FIRST_YEAR} and {LAST_YEAR}")
    return value


JSON_NUMBER = BeforeValidator(_a_number)
"""Metadata for an int field: a JSON number only (after any ``Field(ge=...)``, which it
would otherwise hide from the schema)."""
Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_not_a_number),
    AfterValidator(_in_years),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": YEAR_PATTERN}),
]
"""An aware datetime sent as ISO 8601 text (with an offset), in the years above."""
IsoDate = Annotated[
    date,
    BeforeValidator(_not_a_number),
    AfterValidator(_in_years),
    WithJsonSchema({"type": "string", "format": "date", "pattern": YEAR_PATTERN}),
]
"""A calendar date sent as ISO 8601 text, in the years above."""
# No amount beyond what one charge may be: an order priced higher could never be paid.
MinorUnits = Annotated[int, Field(ge=0, le=MAX_CHARGE), JSON_NUMBER]


def within_charge_limit(amount: int, what: str) -> None:
    """Refuse (ValueError) an amount one charge cannot carry (``models.money.MAX_CHARGE``)."""
    if amount > MAX_CHARGE:
        raise ValueError(f"{what} is {amount} minor units; one charge may be at most {MAX_CHARGE}")


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


class PartyActor(Strict):
    """A customer or provider acting through the API: the id is the order's party id."""

    role: Literal["customer", "provider"]
    id: PartyId


class SupportActor(Strict):
    """A support agent acting through the API; the id (an agent's name) is optional."""

    role: Literal["support"]
    id: PartyId | None = None


# What a client may act as: never ``system``, and no key name (the API sets it). A union by
# role, so the OpenAPI document itself says that customers and providers need an id.
ClientActor = Annotated[PartyActor | SupportActor, Field(discriminator="role")]


class Party(Strict):
    """A customer, provider or other party of an order."""

    id: PartyId
    name: ShortText
    email: EmailAddress


class LineItem(Strict):
    """One priced line of an order."""

    name: ShortText
    quantity: Annotated[int, Field(ge=1, le=10_000), JSON_NUMBER] = 1
    unit_amount: MinorUnits


class PricedLine(Protocol):
    """Anything with a name, a quantity and a unit price (every flow's item)."""

    @property
    def name(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def unit_amount(self) -> int: ...


def describe_items(items: Sequence[PricedLine], currency: str) -> str:
    """The items as an email lists them: "2 x Wallbox (499.00 EUR each) 998.00 EUR; ..."."""
    from models.money import format_amount

    return "; ".join(
        f"{item.quantity} x {item.name} {format_amount(item.quantity * item.unit_amount, currency)}"
        if item.quantity == 1
        else f"{item.quantity} x {item.name} ({format_amount(item.unit_amount, currency)} each) "
        f"{format_amount(item.quantity * item.unit_amount, currency)}"
        for item in items
    )


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
    if TYPE_CHECKING:
        # Each flow's request declares it as its own literal (the union's discriminator).
        flow: str

    @model_validator(mode="after")
    def _chargeable(self) -> OrderRequest:
        within_charge_limit(self.total(), "the order's total")
        return self

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

    def refusal(self, policy: BaseModel, now: datetime) -> str | None:
        """Why this deployment's ``policy`` refuses the request now (the API answers 422)."""
        return None

    def pinned(self, now: datetime) -> dict[str, Any]:
        """Fields of the start input this flow computes once, at acceptance (``now``).

        What the workflow must not compute itself (it would change on replay): a holiday
        calendar, for one. Keys are ``StartOrderInput`` fields.
        """
        return {}


def request_fingerprint(request: BaseModel) -> str:
    """SHA-256 of the request's canonical JSON: equal bodies give equal fingerprints.

    Here, not in the API, because a workflow that starts an order (the shop flow's priced
    replacement of an EVAL order) fingerprints its request the same way.
    """
    canonical = json.dumps(
        request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
