"""Deadline and activity policies: set per deployment, pinned into each order when it starts."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field, model_validator


class PrepaidPolicy(BaseModel):
    """Deadlines and refund rules of the prepaid service booking flow (seed 003)."""

    confirm_window: timedelta = Field(
        default=timedelta(hours=24), description="After creation or an edit, to confirm."
    )
    same_day_confirm_window: timedelta = Field(
        default=timedelta(hours=5),
        description="Confirm window when the appointment starts the same calendar day.",
    )
    payment_window: timedelta = Field(default=timedelta(hours=12), description="To pay.")
    minimum_notice: timedelta = Field(
        default=timedelta(0),
        ge=timedelta(0),
        description="How far ahead an appointment must start when the order is created.",
    )
    payment_reminder_before: timedelta | None = Field(
        default=timedelta(hours=2),
        description="How long before the payment deadline the customer is reminded "
        "(None, 0, or not shorter than the payment window: no reminder).",
    )

    @property
    def payment_reminder(self) -> timedelta | None:
        """The reminder's lead time, or None when this policy sends no reminder."""
        before = self.payment_reminder_before
        return before if before and before < self.payment_window else None

    done_window: timedelta = Field(
        default=timedelta(hours=72),
        description="After the appointment ends, for the provider to mark it done.",
    )
    execution_confirm_window: timedelta = Field(
        default=timedelta(days=5),
        description="For the customer to confirm execution or open a claim.",
    )
    payout_delay: timedelta = Field(
        default=timedelta(days=14), description="From closing to the provider's payout."
    )
    full_refund_notice: timedelta = Field(
        default=timedelta(hours=24),
        description="A customer cancelling at least this long before the appointment "
        "gets a full refund.",
    )
    late_cancel_refund_percent: int = Field(
        default=0, ge=0, le=100, description="Refund for a later customer cancellation."
    )

    def customer_refund(self, refundable: int, notice: timedelta) -> int:
        """What a customer cancelling ``notice`` before the appointment gets back.

        "24 hours before ... or earlier": exactly ``full_refund_notice`` is a full refund.
        """
        if notice >= self.full_refund_notice:
            return refundable
        return refundable * self.late_cancel_refund_percent // 100

    @model_validator(mode="after")
    def _positive(self) -> PrepaidPolicy:
        for name in (
            "confirm_window",
            "same_day_confirm_window",
            "payment_window",
            "done_window",
            "execution_confirm_window",
        ):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        if self.payout_delay < timedelta(0) or self.full_refund_notice < timedelta(0):
            raise ValueError("payout_delay and full_refund_notice must not be negative")
        if self.payment_reminder_before is not None and self.payment_reminder_before < timedelta(0):
            raise ValueError("payment_reminder_before must not be negative")
        return self


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
