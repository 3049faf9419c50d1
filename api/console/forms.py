"""Forms from an action's payload schema, and payloads from a submitted form.

The schema is the one the flow declares (``ActionSpec.payload_schema``, generated from the
flow's payload model), so a new field of an action shows up in the console by itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from api.errors import Unprocessable
from models.money import minor_unit_exponent

TEXTAREA_FROM = 500  # characters: longer texts get a text area


@dataclass(frozen=True)
class FormField:
    """One input of an action's form."""

    name: str
    label: str
    kind: str  # text, textarea, number, money, datetime, date, select, lines, checkbox, json
    required: bool
    help: str | None = None
    options: list[str] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None


def _unwrap(prop: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The property's own schema and whether null is allowed (``X | None`` is an anyOf)."""
    options = prop.get("anyOf")
    if not isinstance(options, list):
        return prop, False
    real = [o for o in options if o.get("type") != "null"]
    if len(real) == 1:
        return {**real[0], **{k: v for k, v in prop.items() if k != "anyOf"}}, True
    return prop, len(real) != len(options)


def is_money(name: str, prop: dict[str, Any]) -> bool:
    """An integer amount (minor units): the form asks for it in the currency's major units."""
    return prop.get("type") == "integer" and (name == "amount" or name.endswith("_amount"))


def _kind(name: str, prop: dict[str, Any]) -> str:
    kind = prop.get("type")
    if "enum" in prop:
        return "select"
    if is_money(name, prop):
        return "money"
    if kind == "integer" or kind == "number":
        return "number"
    if kind == "boolean":
        return "checkbox"
    if kind == "string":
        if prop.get("format") == "date-time":
            return "datetime"
        if prop.get("format") == "date":
            return "date"
        return "textarea" if int(prop.get("maxLength", 0)) > TEXTAREA_FROM else "text"
    items = prop.get("items")
    if kind == "array" and isinstance(items, dict) and items.get("type") == "string":
        return "lines"
    return "json"


def fields_of(schema: dict[str, Any]) -> list[FormField]:
    """The form of a payload schema, one field per property, in the schema's order."""
    required = set(schema.get("required", []))
    fields = []
    for name, raw in schema.get("properties", {}).items():
        prop, _ = _unwrap(raw)
        kind = _kind(name, prop)
        help_text = prop.get("description")
        if kind == "lines":
            help_text = "One per line." + (f" {help_text}" if help_text else "")
        elif kind == "json":
            help_text = "JSON." + (f" {help_text}" if help_text else "")
        fields.append(
            FormField(
                name=name,
                label=str(prop.get("title") or name.replace("_", " ").capitalize()),
                kind=kind,
                required=name in required,
                help=help_text,
                options=[str(o) for o in prop.get("enum", [])],
                minimum=prop.get("minimum"),
                maximum=prop.get("maximum"),
                max_length=prop.get("maxLength"),
            )
        )
    return fields


def _value(f: FormField, text: str, currency: str, zone: str) -> Any:
    if f.kind == "number":
        try:
            return int(text)
        except ValueError:
            raise Unprocessable(f"{f.label}: {text!r} is not a whole number") from None
    if f.kind == "money":
        exponent = minor_unit_exponent(currency)
        try:
            amount = Decimal(text) * 10**exponent
        except InvalidOperation:
            raise Unprocessable(f"{f.label}: {text!r} is not an amount of {currency}") from None
        if amount != amount.to_integral_value():
            raise Unprocessable(f"{f.label}: {currency} has {exponent} decimals")
        return int(amount)
    if f.kind == "datetime":
        try:
            local = datetime.fromisoformat(text)
        except ValueError:
            raise Unprocessable(f"{f.label}: {text!r} is not a date and time") from None
        if local.tzinfo is None:
            # The form's time is the order's local time, as the seeds' pop-ups ask for it.
            local = local.replace(tzinfo=ZoneInfo(zone))
        return local.isoformat()
    if f.kind == "lines":
        return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]
    if f.kind == "checkbox":
        return text.lower() in ("on", "true", "1", "yes")
    if f.kind == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise Unprocessable(f"{f.label}: not valid JSON ({err.msg})") from None
    return text


def payload_from_form(
    schema: dict[str, Any], form: dict[str, str], *, currency: str, zone: str
) -> dict[str, Any]:
    """The action's payload from the submitted fields; empty fields are left out."""
    payload: dict[str, Any] = {}
    for f in fields_of(schema):
        text = form.get(f.name, "").strip()
        if not text:
            continue
        payload[f.name] = _value(f, text, currency, zone)
    return payload
