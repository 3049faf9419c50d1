"""The prepaid service booking flow's policy: its windows and refund rules, pinned at start."""

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
