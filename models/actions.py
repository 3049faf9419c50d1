"""Payload models of every action, by flow and action name."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, StringConstraints
from pydantic.json_schema import WithJsonSchema

from models.common import (
    SINGLE_LINE,
    SINGLE_LINE_PATTERN,
    LongText,
    Strict,
)


class NoPayload(Strict):
    """An action that takes no payload."""


class CancelPayload(Strict):
    """Every cancellation carries a reason."""

    reason: LongText


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
