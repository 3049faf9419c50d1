"""The shop order flow's policy, pinned into each order at its start."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field, model_validator


class ShopPolicy(BaseModel):
    """Deadlines of the shop order flow (seed 001), pinned into each order at start."""

    sync_patience: timedelta = Field(
        default=timedelta(minutes=10),
        description="How long an order may stay in 'order placed' before it is flagged for "
        "a CSR to enter it in Salesforce by hand (the sync keeps retrying).",
    )
    sync_retry_initial: timedelta = Field(
        default=timedelta(minutes=1),
        description="Pause after the first failed Salesforce sync; doubles after each failure.",
    )
    sync_retry_max: timedelta = Field(
        default=timedelta(minutes=30), description="The longest pause between sync attempts."
    )
    incomplete_window: timedelta = Field(
        default=timedelta(hours=72),
        description="An order without satisfactory payment this long after creation is "
        "cancelled automatically.",
    )

    @model_validator(mode="after")
    def _positive(self) -> ShopPolicy:
        for name in ("sync_patience", "sync_retry_initial", "sync_retry_max", "incomplete_window"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        if self.sync_retry_max < self.sync_retry_initial:
            raise ValueError("sync_retry_max must not be shorter than sync_retry_initial")
        return self
