"""Payload models of every action, by flow and action name."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator
from pydantic.json_schema import WithJsonSchema

from models.common import (
    JSON_NUMBER,
    SINGLE_LINE,
    SINGLE_LINE_PATTERN,
    LineItem,
    LongText,
    ShortText,
    Strict,
    Timestamp,
    order_total,
    within_charge_limit,
)


class NoPayload(Strict):
    """An action that takes no payload."""


class EditPayload(Strict):
    """New date/time, duration or price, with an optional comment."""

    start: Timestamp | None = None
    duration_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60), JSON_NUMBER] | None = None
    items: Annotated[list[LineItem], Field(min_length=1, max_length=100)] | None = None
    comment: LongText | None = None

    @model_validator(mode="after")
    def _something(self) -> EditPayload:
        if self.start is None and self.duration_minutes is None and self.items is None:
            raise ValueError("an edit changes at least one of start, duration_minutes, items")
        if self.items is not None:
            within_charge_limit(order_total(self.items), "the edited total")
        return self


class CancelPayload(Strict):
    """Every cancellation carries a reason."""

    reason: LongText


class PayPayload(Strict):
    """A Stripe PaymentMethod id (``pm_...``) made by the customer's client."""

    payment_method: ShortText


class OpenClaimPayload(Strict):
    """What went wrong with the service."""

    reason: LongText


class ResolveClaimPayload(Strict):
    """Support's decision on a claim."""

    outcome: Literal["no_refund", "partial_refund", "full_refund"]
    amount: Annotated[int, Field(gt=0), JSON_NUMBER] | None = None
    note: LongText | None = None

    @model_validator(mode="after")
    def _amount(self) -> ResolveClaimPayload:
        if self.outcome == "partial_refund" and self.amount is None:
            raise ValueError("a partial refund needs an amount")
        if self.outcome != "partial_refund" and self.amount is not None:
            raise ValueError("only a partial refund takes an amount")
        return self


class ReviewPayload(Strict):
    """One rating (1-5) and an optional review."""

    rating: Annotated[int, Field(ge=1, le=5), JSON_NUMBER]
    text: LongText | None = None


class ResendEmailPayload(Strict):
    """Which email to send again: the idempotency key of a failed or skipped notification."""

    notification: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
        SINGLE_LINE,
        WithJsonSchema(
            {"type": "string", "minLength": 1, "maxLength": 255, "pattern": SINGLE_LINE_PATTERN}
        ),
    ]


# The engine's own actions, which every flow has (workflows/base.py carries them out).
RESEND_EMAIL = "resend_email"
ENGINE_ACTION_PAYLOADS: dict[str, type[BaseModel]] = {RESEND_EMAIL: ResendEmailPayload}

PREPAID_ACTION_PAYLOADS: dict[str, type[BaseModel]] = {
    "confirm": NoPayload,
    "edit": EditPayload,
    "cancel": CancelPayload,
    "pay": PayPayload,
    "mark_done": NoPayload,
    "confirm_execution": NoPayload,
    "open_claim": OpenClaimPayload,
    "resolve_claim": ResolveClaimPayload,
    "review": ReviewPayload,
}

__all__ = ["ENGINE_ACTION_PAYLOADS", "PREPAID_ACTION_PAYLOADS", "RESEND_EMAIL", "ShortText"]
