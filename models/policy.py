"""Activity policy: set per deployment, pinned into each order when it starts."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field, model_validator


class ActivityPolicy(BaseModel):
    """How the engine retries side effects and how long one attempt may take.

    Set per deployment (``ORDERCLOCK_ACTIVITIES__*``) and pinned into each order when it
    starts, like the deadlines: the defaults are what every order used before this was
    configurable, so orders started earlier keep exactly their behaviour.
    """

    email_max_attempts: int = Field(
        default=6, ge=1, le=1000, description="Attempts per email before it is recorded failed."
    )
    email_retry_interval: timedelta = Field(
        default=timedelta(seconds=2),
        description="Wait before the second attempt of an email; doubles up to a minute.",
    )
    payment_attempt_timeout: timedelta = Field(
        default=timedelta(seconds=30),
        description="How long one Stripe request may run before Temporal retries it (a "
        "worker that died mid-request is noticed after this long).",
    )

    payment_timeout: timedelta = Field(
        default=timedelta(minutes=2),
        description="How long a payment operation (charge, hold, capture, release, refund) "
        "may retry in all while the action waiting on it holds the order; then the action "
        "answers 503 and the order is flagged.",
    )

    @model_validator(mode="after")
    def _positive(self) -> ActivityPolicy:
        for name in ("email_retry_interval", "payment_attempt_timeout", "payment_timeout"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        return self
