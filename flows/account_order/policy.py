"""The account order flow's policy, pinned into each order at its start."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, model_validator

from models.common import (
    Currency,
    MinorUnits,
    ShortText,
)

# Product, pricing option and configuration field ids: short, code-like.
CatalogId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class PricingOption(BaseModel):
    """One way to buy a product: a unit amount per currency; maybe adjustable per order."""

    name: ShortText
    unit_amounts: dict[Currency, MinorUnits] = Field(min_length=1)
    adjustable: bool = Field(default=False, description="The order may set its own unit price.")


class ConfigField(BaseModel):
    """A configuration value an item of the product carries (required or optional)."""

    name: CatalogId
    label: ShortText
    required: bool = False


class Product(BaseModel):
    """A product, service or add-on that orders can contain."""

    name: ShortText
    options: dict[CatalogId, PricingOption] = Field(min_length=1)
    configuration: list[ConfigField] = Field(default_factory=list)


def default_products() -> dict[str, Product]:
    """A small sample catalog, so a fresh deployment can take orders at once."""
    return {
        "broadband": Product(
            name="Broadband internet",
            options={
                "monthly": PricingOption(name="Monthly", unit_amounts={"EUR": 2999, "USD": 3299}),
                "annual": PricingOption(name="Annual", unit_amounts={"EUR": 29900, "USD": 32900}),
            },
            configuration=[
                ConfigField(
                    name="installation_address", label="Installation address", required=True
                ),
                ConfigField(name="static_ip", label="Static IP address"),
            ],
        ),
        "router": Product(
            name="Wi-Fi router",
            options={
                "purchase": PricingOption(name="Purchase", unit_amounts={"EUR": 8900, "USD": 9900})
            },
        ),
        "setup": Product(
            name="Setup service",
            options={
                "one_time": PricingOption(
                    name="One-time", unit_amounts={"EUR": 4900, "USD": 5400}, adjustable=True
                )
            },
            configuration=[ConfigField(name="visit_date", label="Visit date", required=True)],
        ),
    }


class AccountPolicy(BaseModel):
    """Rules and deadlines of the account order flow (seed 004), per deployment."""

    approval_required: bool = Field(
        default=False, description="Placed orders wait for support's approval before completion."
    )
    draft_expiry: timedelta = Field(
        default=timedelta(days=30),
        description="A draft not edited or placed for this long is cancelled as abandoned.",
    )
    attention_after: timedelta = Field(
        default=timedelta(days=3),
        description="An order awaiting approval or completion this long is flagged.",
    )
    receipt_window: timedelta = Field(
        default=timedelta(days=90),
        description="After completion, how long receipts can be emailed or reprinted by "
        "action; afterwards the receipt is served read-only from the database.",
    )
    currencies: list[Currency] = Field(default_factory=lambda: ["EUR", "USD"], min_length=1)
    payment_methods: list[CatalogId] = Field(
        default_factory=lambda: ["invoice", "card", "direct_debit"], min_length=1
    )
    products: dict[CatalogId, Product] = Field(default_factory=default_products)

    @model_validator(mode="after")
    def _positive(self) -> AccountPolicy:
        for name in ("draft_expiry", "attention_after", "receipt_window"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        return self
