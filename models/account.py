"""The account order flow's models (seed 004): accounts, products, the request, the policy.

An order belongs to an existing customer account (``accounts`` table; the API pins a
snapshot of it into the workflow's start input). Products are defined in the deployment's
policy (a catalog: product id -> name, pricing options with unit amounts per currency,
configuration fields, some required); the order's items name a product, a pricing option,
a quantity and configuration values, and are priced from the catalog pinned at start.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, model_validator

from models.common import (
    JSON_NUMBER,
    Currency,
    EmailAddress,
    IsoDate,
    LongText,
    MinorUnits,
    OrderRequest,
    PartyId,
    Role,
    ShortText,
    Strict,
)
from models.flows import (
    ActionSpec,
    DeadlineSpec,
    FlowSpec,
    StateSpec,
    TransitionSpec,
    action_spec,
    spec_per_policy,
)
from models.flows import _hours as hours
from models.money import format_amount

FLOW = "account_order"
# Product, pricing option and configuration field ids: short, code-like.
CatalogId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class AccountSnapshot(Strict):
    """The customer account an order belongs to, as it was when the order started."""

    id: PartyId
    name: ShortText
    email: EmailAddress
    created_at: AwareDatetime


# ----- the product catalog (policy) ---------------------------------------------------


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


# ----- the request and its items --------------------------------------------------------


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


# ----- pricing and the rules every check shares ----------------------------------------


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


# ----- action payloads --------------------------------------------------------------------


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


ACCOUNT_ACTION_PAYLOADS: dict[str, type[BaseModel]] = {
    "edit": EditOrderPayload,
    "place": NotePayload,
    "cancel": ReasonPayload,
    "approve": NotePayload,
    "return_to_draft": ReasonPayload,
    "complete": NotePayload,
    "send_email_receipt": ReceiptPayload,
    "reprint_receipt": ReceiptPayload,
}


# ----- the receipt and the view block ---------------------------------------------------------


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


CONTEXT_KEYS = frozenset(
    {
        "order_id",
        "account_name",
        "account_id",
        "status",
        "stage",
        "amount_total",
        "order_date",
        "payment_method",
        "reason",
        "receipt_text",
    }
)


# ----- the flow's description --------------------------------------------------------------


@spec_per_policy(AccountPolicy)
def account_order_spec(policy: AccountPolicy | None = None) -> FlowSpec:
    """The account order flow (seed 004) under a policy."""
    p = policy or AccountPolicy()
    c, s = Role.customer, Role.support

    def act(name: str, description: str, states: dict[Role, list[str]]) -> ActionSpec:
        return action_spec(ACCOUNT_ACTION_PAYLOADS, name, description, states)

    placed = "in progress (approval)" if p.approval_required else "completed (no approval needed)"
    return FlowSpec(
        name=FLOW,
        title="Account order (billing)",
        source="004_033fcf52ce38027c.txt",
        description=(
            "An order on an existing customer account: Draft -> In progress (approval, when "
            "required) -> Approved -> Completed, invoiced by the bill-cycle run; a draft "
            f"can be cancelled. Placing now leads to: {placed}."
        ),
        initial="draft",
        states=[
            StateSpec(
                name="draft",
                label="Draft",
                description="Saved to finish later; items, date, payment method and notes "
                "can change; can be cancelled.",
            ),
            StateSpec(
                name="in_progress",
                label="In progress",
                description="Placed; waiting for support's approval.",
            ),
            StateSpec(
                name="approved",
                label="Approved",
                description="Approved; support completes it as entered.",
            ),
            StateSpec(
                name="completed",
                label="Completed",
                terminal=True,
                description="Processed; the receipt can be emailed or reprinted; invoiced by "
                "the bill cycle of its completion month.",
            ),
            StateSpec(
                name="cancelled",
                label="Cancelled",
                terminal=True,
                description="Cancelled as a draft; read-only.",
            ),
        ],
        actions=[
            act(
                "edit",
                "Replace the draft's items, order date, payment method or notes.",
                {c: ["draft"], s: ["draft"]},
            ),
            act(
                "place",
                "Place the order (every item priced and configured, a payment method set).",
                {c: ["draft"], s: ["draft"]},
            ),
            act("cancel", "Cancel the draft, with a reason.", {c: ["draft"], s: ["draft"]}),
            act("approve", "Approve the placed order.", {s: ["in_progress"]}),
            act(
                "return_to_draft",
                "Send the order back to draft for changes, with a reason.",
                {s: ["in_progress", "approved"]},
            ),
            act(
                "complete",
                "Complete the approved order; the receipt is emailed.",
                {s: ["approved"]},
            ),
            act(
                "send_email_receipt",
                "Email the receipt again to the account's address.",
                {c: ["completed"], s: ["completed"]},
            ),
            act(
                "reprint_receipt",
                "Another copy of the receipt (the view's receipt; GET /orders/{id}/receipt).",
                {c: ["completed"], s: ["completed"]},
            ),
        ],
        deadlines=[
            DeadlineSpec(
                name="draft_expiry",
                state="draft",
                default=p.draft_expiry,
                starts="at creation and at every edit or return to draft",
                on_expiry="the draft is cancelled as abandoned",
                gates=["edit", "place", "cancel"],
            ),
            DeadlineSpec(
                name="approval",
                state="in_progress",
                default=p.attention_after,
                starts="when the order is placed",
                on_expiry="the order is flagged for attention",
            ),
            DeadlineSpec(
                name="completion",
                state="approved",
                default=p.attention_after,
                starts="when the order is approved",
                on_expiry="the order is flagged for attention",
            ),
            DeadlineSpec(
                name="receipt_window",
                state="completed",
                default=p.receipt_window,
                starts="when the order completes",
                on_expiry="receipt actions close; the receipt stays readable from the database",
                gates=["send_email_receipt", "reprint_receipt"],
            ),
        ],
        transitions=[
            TransitionSpec(source="draft", target="draft", label="edit"),
            TransitionSpec(source="draft", target="in_progress", label="place (approval)"),
            TransitionSpec(source="draft", target="completed", label="place (no approval)"),
            TransitionSpec(
                source="draft", target="cancelled", label=f"cancel / {hours(p.draft_expiry)}"
            ),
            TransitionSpec(source="in_progress", target="approved", label="approve"),
            TransitionSpec(source="in_progress", target="draft", label="return_to_draft"),
            TransitionSpec(source="approved", target="draft", label="return_to_draft"),
            TransitionSpec(source="approved", target="completed", label="complete"),
        ],
    )


__all__ = [
    "ACCOUNT_ACTION_PAYLOADS",
    "CONTEXT_KEYS",
    "AccountDetails",
    "AccountLine",
    "AccountOrderRequest",
    "AccountPolicy",
    "AccountSnapshot",
    "ConfigField",
    "OrderItem",
    "PricingOption",
    "Product",
    "Receipt",
    "account_order_spec",
    "completion_gaps",
    "date_problem",
    "price_items",
    "receipt_text",
    "request_problems",
]
