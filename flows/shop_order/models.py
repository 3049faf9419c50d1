"""The shop order flow's models: its request, action payloads and view block."""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, model_validator

from models.common import (
    JSON_NUMBER,
    Currency,
    LineItem,
    LongText,
    MinorUnits,
    OrderId,
    OrderRequest,
    Party,
    ShortText,
    Strict,
)
from models.money import MAX_CHARGE, format_amount

FLOW = "shop_order"


# The Update Salesforce's callbacks arrive as (api/routes/callbacks.py).
SALESFORCE_CALLBACK_UPDATE = "salesforce_callback"


OrderKind = Literal["product", "repair", "repair_eval"]


class ShopItem(Strict):
    """One line of a store order: a product (or repair product) by SKU."""

    sku: ShortText
    name: ShortText
    quantity: Annotated[int, Field(ge=1, le=10_000)] = 1
    unit_amount: MinorUnits


class ShopCardPayment(Strict):
    """A Stripe PaymentMethod (``pm_...``): the order total is authorised (held)."""

    # No default: the tag of the payment union must be sent (pydantic cannot choose
    # without it, and a default would make the schema call it optional).
    method: Literal["card"]
    payment_method: ShortText


class PurchaseOrderPayment(Strict):
    """Paid by purchase order: nothing is charged; an invoice is due after shipping."""

    method: Literal["purchase_order"]
    po_number: ShortText


ShopPayment = Annotated[ShopCardPayment | PurchaseOrderPayment, Field(discriminator="method")]


class ShopOrderRequest(OrderRequest):
    """Body of ``POST /orders`` for a store order (flow ``shop_order``).

    ``payment`` is what the customer gave at the payment page; without it (or when the
    card is declined) the order is ``incomplete`` until the customer pays (action ``pay``).
    """

    flow: Literal["shop_order"]
    customer: Party
    kind: OrderKind = Field(
        default="product",
        description="product; repair (a priced repair: the customer approves its quote in "
        "Salesforce); repair_eval (a zero-price EVAL repair awaiting evaluation)",
    )
    items: Annotated[list[ShopItem], Field(min_length=1, max_length=100)]
    payment: ShopPayment | None = None
    replaces: OrderId | None = Field(
        default=None,
        description="Set by orderclock on the priced order that replaces a zero-price EVAL "
        "order whose quote the customer approved (its quote is approved already).",
    )

    @model_validator(mode="after")
    def _prices(self) -> ShopOrderRequest:
        total = self.total()
        if self.kind == "repair_eval":
            if len(self.items) != 1 or self.items[0].quantity != 1 or total != 0:
                raise ValueError("a repair_eval order is one zero-price EVAL item (quantity 1)")
        elif total <= 0:
            raise ValueError(f"a {self.kind} order needs a total above zero")
        if self.replaces is not None and self.kind != "repair":
            raise ValueError("only a repair order replaces an EVAL order")
        return self

    def customer_ref(self) -> str:
        return self.customer.id

    def total(self) -> int:
        return sum(item.quantity * item.unit_amount for item in self.items)

    def web_summary(self) -> str:
        amount = format_amount(self.total(), self.currency)
        return f"{self.flow} · {self.kind} · {self.customer.name} ({self.customer.id}) · {amount}"

    def web_details(self) -> list[str]:
        lines = [
            f"**Flow** {self.flow} ({self.kind})",
            f"**Customer** {self.customer.name} ({self.customer.id})",
        ]
        if self.replaces:
            lines.append(f"**Replaces** {self.replaces} (zero-price EVAL order)")
        lines.append("**Items**")
        return lines + [
            f"- {i.quantity} x {i.sku} {i.name} @ {format_amount(i.unit_amount, self.currency)}"
            for i in self.items
        ]

    def line_items(self) -> list[LineItem]:
        """The items as the engine's view shows them."""
        return [
            LineItem(name=i.name, quantity=i.quantity, unit_amount=i.unit_amount)
            for i in self.items
        ]


def replacement_refusal(
    request: ShopOrderRequest, flow: str | None, customer_id: str | None, shop: ShopDetails | None
) -> str | None:
    """Why ``request`` may not replace the order it names (None if it may).

    ``flow``, ``customer_id`` and ``shop`` are the named order's (None: no such order).
    Only orderclock itself starts a replacement (when the customer agrees to an EVAL
    repair's price); a client may start it by hand only where that start failed. Taken on
    trust, ``replaces`` would let any repair skip the customer's quote approval.
    """
    if request.replaces is None:
        return None
    name = request.replaces
    if flow != FLOW:
        return f"order {name} does not exist or is not a shop order: nothing to replace"
    if customer_id != request.customer.id:
        return f"order {name} belongs to another customer"
    if shop is None or shop.kind != "repair_eval":
        return f"order {name} is not a zero-price EVAL repair: only those are replaced"
    if shop.quote_decision != "approved":
        return f"the customer has not approved a price for order {name}'s repair"
    if shop.replaced_by is not None and shop.replaced_by != request.order_id:
        return f"order {name} is replaced by {shop.replaced_by} already"
    return None


def replacement_order_id(order_id: str) -> str:
    """The id of the priced order that replaces the EVAL order ``order_id``: ``<id>-r1``.

    Derived, so the start is deterministic; an id too long for ``-r1`` is shortened with
    a digest of the whole id, so two EVAL orders never share a replacement.
    """
    candidate = f"{order_id}-r1"
    if len(candidate) <= 64:
        return candidate
    digest = hashlib.sha256(order_id.encode()).hexdigest()[:12]
    return f"{order_id[:48]}-{digest}-r1"


class ShopPayPayload(Strict):
    """A new card (``payment_method``) or a purchase order number (``po_number``)."""

    payment_method: ShortText | None = None
    po_number: ShortText | None = None

    @model_validator(mode="after")
    def _one(self) -> ShopPayPayload:
        if (self.payment_method is None) == (self.po_number is None):
            raise ValueError("give exactly one of payment_method and po_number")
        return self

    def payment(self) -> ShopCardPayment | PurchaseOrderPayment:
        if self.payment_method is not None:
            return ShopCardPayment(method="card", payment_method=self.payment_method)
        assert self.po_number is not None
        return PurchaseOrderPayment(method="purchase_order", po_number=self.po_number)


class ShopCancelPayload(Strict):
    """An administrator's cancellation always carries a reason."""

    reason: LongText


class MarkEnteredPayload(Strict):
    """A CSR entered the order in Salesforce by hand: its reference there, and a note."""

    reference: ShortText | None = None
    note: LongText | None = None


CallbackEvent = Literal["evaluation_complete", "quote_approved", "quote_declined", "shipped"]


# Where each callback applies (anything else is 409).
CALLBACK_STATES: dict[str, tuple[str, ...]] = {
    "evaluation_complete": ("awaiting_evaluation",),
    "quote_approved": ("awaiting_customer_approval",),
    "quote_declined": ("awaiting_customer_approval",),
    "shipped": ("in_process", "awaiting_payment"),
}


class SalesforceCallback(Strict):
    """One event from Salesforce about an order (``POST /callbacks/salesforce``).

    ``event_id`` is Salesforce's id of the event: a callback delivered twice is applied once.
    """

    event_id: ShortText
    event: CallbackEvent
    order_id: OrderId
    repair_price: Annotated[int, Field(gt=0, le=MAX_CHARGE), JSON_NUMBER] | None = Field(
        default=None, description="evaluation_complete: the repair's price in minor units."
    )
    currency: Currency | None = Field(
        default=None, description="The repair price's currency; must be the order's."
    )
    tracking_number: ShortText | None = None
    carrier: ShortText | None = None
    note: LongText | None = None

    @model_validator(mode="after")
    def _fields(self) -> SalesforceCallback:
        if self.event == "evaluation_complete" and self.repair_price is None:
            raise ValueError("evaluation_complete needs repair_price")
        if self.event != "evaluation_complete" and self.repair_price is not None:
            raise ValueError("only evaluation_complete takes repair_price")
        if self.event != "shipped" and (self.tracking_number or self.carrier):
            raise ValueError("only shipped takes tracking_number and carrier")
        return self


class SalesforceCallbackResult(Strict):
    """What a callback did: applied now, or a duplicate of one applied before."""

    order_id: str
    event_id: str
    outcome: Literal["applied", "duplicate"]
    status: str


class SalesforceSync(Strict):
    """The order's state in Salesforce as orderclock knows it."""

    state: Literal["not_sent", "pending", "synced", "entered_manually", "stopped"] = "not_sent"
    attempts: int = 0
    last_error: str | None = None
    last_attempt_at: AwareDatetime | None = None
    next_attempt_at: AwareDatetime | None = None
    account_id: str | None = None
    opportunity_id: str | None = None
    record_type: Literal["Quote", "Order"] | None = None
    record_id: str | None = None
    synced_at: AwareDatetime | None = None
    reference: str | None = Field(
        default=None, description="The CSR's Salesforce reference for an order entered by hand."
    )


class Shipment(Strict):
    """Salesforce said the order shipped."""

    shipped_at: AwareDatetime
    tracking_number: str | None = None
    carrier: str | None = None


class ShopDetails(Strict):
    """The shop flow's own part of ``OrderView``."""

    kind: OrderKind
    skus: list[str]
    payment_method: Literal["card", "purchase_order"] | None = None
    po_number: str | None = None
    payment_in_progress: bool = False
    salesforce: SalesforceSync
    quoted_amount: int | None = Field(
        default=None, description="The repair price Salesforce's evaluation set (EVAL orders)."
    )
    quote_decision: Literal["approved", "declined"] | None = None
    shipment: Shipment | None = None
    replaces: str | None = Field(default=None, description="The EVAL order this one replaces.")
    replaced_by: str | None = Field(
        default=None, description="The priced order started when this EVAL's price was agreed."
    )
