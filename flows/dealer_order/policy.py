"""The dealer (OEM) order flow's policy, pinned into each order at its start."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from models.common import PartyId


class DealerPolicy(BaseModel):
    """Deadlines of the dealer order flow (seed 002); pinned into each order at start."""

    confirm_business_days: int = Field(
        default=1,
        ge=1,
        le=30,
        description="Business days (the dealer's country, subdivision and zone) to accept, "
        "review and confirm a new order before the manufacturer is told it failed.",
    )
    manufacturer_business_days: dict[PartyId, Annotated[int, Field(ge=1, le=30)]] = Field(
        default_factory=dict,
        description="Per manufacturer id, a number of business days other than the default.",
    )
    archive_after: timedelta = Field(
        default=timedelta(days=30),
        description="After an order is shipped, refunded or cancelled, it is archived (if it "
        "is not yet) and closed for good this long later.",
    )
    authorisation_retry: timedelta = Field(
        default=timedelta(minutes=10),
        description="When the payment provider cannot be reached at placement, the card's "
        "pre-authorisation is tried again this long later.",
    )

    @model_validator(mode="after")
    def _positive(self) -> DealerPolicy:
        for name in ("archive_after", "authorisation_retry"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        return self

    def business_days_for(self, manufacturer_id: str) -> int:
        """The confirmation window, in business days, for orders of this manufacturer."""
        return self.manufacturer_business_days.get(manufacturer_id, self.confirm_business_days)
