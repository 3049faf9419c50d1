"""The account order flow's models: its request, action payloads and view block."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, model_validator

from flows.account_order.policy import AccountPolicy, CatalogId
from models.common import (
    JSON_NUMBER,
    EmailAddress,
    IsoDate,
    LongText,
    MinorUnits,
    OrderRequest,
    PartyId,
    ShortText,
    Strict,
)
from models.money import format_amount

FLOW = "account_order"


class AccountSnapshot(Strict):
    """The customer account an order belongs to, as it was when the order started."""

    id: PartyId
    name: ShortText
    email: EmailAddress
    created_at: AwareDatetime


class OrderItem(Strict):
    """One item: a product, its pricing option, a quantity and its configuration values."""

    product: CatalogId
    option: CatalogId
    quantity: Annotated[int, Field(ge=1, le=10_000), JSON_NUMBER] = 1
    unit_amount: MinorUnits | None = Field(
        default=None, description="Only for an adjustable pricing option; else the catalog's."
    )
    configuration: Annotated[dict[CatalogId, ShortText], Field(max_length=50)] = Field(
        default_factory=dict,
        # pydantic says which keys are allowed (patternProperties), not that no other is.
        json_schema_extra={"additionalProperties": False},
    )


Items = Annotated[list[OrderItem], Field(max_length=100)]


class AccountOrderRequest(OrderRequest):
    """Body of ``POST /orders`` for an account order (it starts as a draft)."""

    flow: Literal["account_order"]
    account_id: PartyId
    order_date: IsoDate | None = Field(
        default=None, description="May be backdated to the account's creation; default today."
    )
    items: Items = Field(default_factory=list)
    payment_method: CatalogId | None = None
    notes: LongText | None = None

    def customer_ref(self) -> str:
        return self.account_id

    def total(self) -> int:
        return 0  # priced from the pinned catalog by the workflow

    def web_summary(self) -> str:
        return f"{self.flow} · account {self.account_id} · {len(self.items)} item(s)"

    def web_details(self) -> list[str]:
        lines = [f"**Flow** {self.flow}", f"**Account** {self.account_id}", "**Items**"]
        lines += [f"- {i.quantity} x {i.product} ({i.option})" for i in self.items]
        return lines


class AccountLine(Strict):
    """An item priced from the catalog, with the required configuration it still lacks."""

    product: str
    product_name: str
    option: str
    option_name: str
    quantity: int
    unit_amount: int
    amount: int
    configuration: dict[str, str] = Field(default_factory=dict)
    missing_configuration: list[str] = Field(default_factory=list)
    # The catalog's label of each configuration field, for receipts (empty in lines priced
    # before labels were kept: those read the key as words).
    configuration_labels: dict[str, str] = Field(default_factory=dict)

    def configuration_fields(self) -> list[tuple[str, str]]:
        """(label, value) of each configuration value, as a receipt shows them."""
        return [
            (self.configuration_labels.get(key) or key.replace("_", " ").capitalize(), value)
            for key, value in sorted(self.configuration.items())
        ]


def price_items(
    items: list[OrderItem], currency: str, policy: AccountPolicy
) -> tuple[list[AccountLine], list[str]]:
    """The priced lines of ``items`` and what is wrong with them (unknown product, ...)."""
    lines: list[AccountLine] = []
    problems: list[str] = []
    for n, item in enumerate(items, 1):
        product = policy.products.get(item.product)
        if product is None:
            known = ", ".join(sorted(policy.products))
            problems.append(f"item {n}: unknown product {item.product!r} (products: {known})")
            continue
        option = product.options.get(item.option)
        if option is None:
            known = ", ".join(sorted(product.options))
            problems.append(
                f"item {n}: {product.name} has no pricing option {item.option!r} (options: {known})"
            )
            continue
        price = option.unit_amounts.get(currency)
        if item.unit_amount is not None:
            if not option.adjustable:
                problems.append(f"item {n}: the price of {product.name} ({option.name}) is fixed")
                continue
            price = item.unit_amount
        if price is None:
            problems.append(f"item {n}: {product.name} ({option.name}) has no price in {currency}")
            continue
        fields = [f.name for f in product.configuration]
        unknown = sorted(set(item.configuration) - set(fields))
        if unknown:
            problems.append(
                f"item {n}: {product.name} has no configuration field "
                f"{', '.join(unknown)} (fields: {', '.join(fields) or 'none'})"
            )
            continue
        lines.append(
            AccountLine(
                product=item.product,
                product_name=product.name,
                option=item.option,
                option_name=option.name,
                quantity=item.quantity,
                unit_amount=price,
                amount=price * item.quantity,
                configuration=dict(item.configuration),
                configuration_labels={
                    f.name: f.label for f in product.configuration if f.name in item.configuration
                },
                missing_configuration=[
                    f.name
                    for f in product.configuration
                    if f.required and not item.configuration.get(f.name)
                ],
            )
        )
    return lines, problems


def date_problem(order_date: date, account: AccountSnapshot, today: date) -> str | None:
    """Why ``order_date`` is not allowed (before the account existed, or in the future)."""
    opened = account.created_at.date()
    if order_date < opened:
        return (
            f"the order date {order_date} is before the account's creation date {opened} "
            "(an order may be backdated to the account's creation at the earliest)"
        )
    if order_date > today:
        return f"the order date {order_date} is in the future (today is {today} UTC)"
    return None


def request_problems(
    request: AccountOrderRequest, account: AccountSnapshot, policy: AccountPolicy, today: date
) -> list[str]:
    """Everything that makes the order's terms invalid under ``policy`` (empty: valid)."""
    problems: list[str] = []
    if request.currency not in policy.currencies:
        problems.append(
            f"currency {request.currency} is not configured (currencies: "
            f"{', '.join(policy.currencies)})"
        )
    method = request.payment_method
    if method is not None and method not in policy.payment_methods:
        problems.append(
            f"unknown payment method {method!r} (payment methods: "
            f"{', '.join(policy.payment_methods)})"
        )
    if request.order_date is not None:
        problem = date_problem(request.order_date, account, today)
        if problem:
            problems.append(problem)
    problems += price_items(request.items, request.currency, policy)[1]
    return problems


def completion_gaps(lines: list[AccountLine], payment_method: str | None) -> list[str]:
    """What an order still lacks before it can be placed or completed (empty: nothing)."""
    gaps: list[str] = []
    if not lines:
        gaps.append("the order has no items")
    if payment_method is None:
        gaps.append("no payment method")
    for n, line in enumerate(lines, 1):
        if line.missing_configuration:
            gaps.append(
                f"item {n} ({line.product_name}) lacks required configuration "
                f"{', '.join(line.missing_configuration)}"
            )
    return gaps


class EditOrderPayload(Strict):
    """A draft edit: each given field replaces the order's (items as a whole list)."""

    items: Items | None = None
    order_date: date | None = None
    payment_method: CatalogId | None = None
    notes: LongText | None = None

    @model_validator(mode="after")
    def _something(self) -> EditOrderPayload:
        if (
            self.items is None
            and self.order_date is None
            and self.payment_method is None
            and self.notes is None
        ):
            raise ValueError(
                "an edit changes at least one of items, order_date, payment_method, notes"
            )
        return self


class ReasonPayload(Strict):
    """A cancellation or a return to draft carries a reason."""

    reason: LongText


class NotePayload(Strict):
    """An optional note (approval, completion)."""

    note: LongText | None = None


class ReceiptPayload(Strict):
    """Receipt actions take nothing."""


class Receipt(Strict):
    """The order receipt: fixed at completion, rendered as text, HTML and PDF."""

    order_id: str
    account: AccountSnapshot
    order_date: date
    completed_at: AwareDatetime
    currency: str
    lines: list[AccountLine]
    amount_total: int
    payment_method: str
    notes: str | None = None


def receipt_text(receipt: Receipt) -> str:
    """The receipt as plain text (the email's body part; deterministic)."""
    money = receipt.currency
    rows = [
        f"  {line.quantity} x {line.product_name} ({line.option_name}) @ "
        f"{format_amount(line.unit_amount, money)} = {format_amount(line.amount, money)}"
        + "".join(f"\n      {label}: {value}" for label, value in line.configuration_fields())
        for line in receipt.lines
    ]
    return "\n".join(
        [
            f"Receipt for order {receipt.order_id}",
            f"Account: {receipt.account.name} ({receipt.account.id})",
            f"Order date: {receipt.order_date}",
            f"Completed: {receipt.completed_at:%Y-%m-%d %H:%M} UTC",
            *rows,
            f"Total: {format_amount(receipt.amount_total, money)}",
            f"Payment method: {receipt.payment_method}",
        ]
    )


class AccountDetails(Strict):
    """The account order's own part of the order view."""

    account: AccountSnapshot
    order_date: date
    payment_method: str | None = None
    notes: str | None = None
    lines: list[AccountLine] = Field(default_factory=list)
    blocking: list[str] = Field(
        default_factory=list, description="What keeps the order from being placed or completed."
    )
    approval_required: bool = False
    placed_at: AwareDatetime | None = None
    approved_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = None
    receipt: Receipt | None = None
    receipts_emailed: int = 0
    receipt_reprints: int = 0
