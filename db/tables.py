"""The order database: a read model of every order and its audit trail.

Written only by activities (``activities.records``); the API reads it through
``db.queries``. Table models stay in this layer: workflows and activity inputs use the
plain pydantic models of ``models``.

String lengths follow the bounds the request models already validate (order ids up
to 64 characters, party ids 128, names 200); free text is unbounded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from db.types import UTCDateTime

ORDER_ID = sa.String(64)
PARTY_ID = sa.String(128)
NAME = sa.String(200)
EMAIL = sa.String(320)
CODE = sa.String(64)  # flow, status, stage, action and event names made by the code
KEY = sa.String(255)  # idempotency keys and provider ids
CURRENCY = sa.String(3)
MONEY = sa.BigInteger()  # minor units: up to 10**12 fits 64 bits, not 32
TEXT = sa.Text()
AWARE = UTCDateTime()
KEY_NAME = sa.String(64)  # an API key's name (alice, checkout-service)
TENANT = sa.String(64)  # the tenant an API key, and what it creates, belongs to
SHA256_HEX = sa.String(64)


def _order_fk(table: str) -> Any:
    """The ``order_id`` column of a child table, with a named foreign key to ``orders``."""
    fk = sa.ForeignKey("orders.order_id", ondelete="CASCADE", name=f"fk_{table}_order_id")
    return Field(sa_type=ORDER_ID, sa_column_args=[fk])


class OrderBase(SQLModel):
    """The searchable columns of an order: what a list row shows."""

    order_id: str = Field(primary_key=True, sa_type=ORDER_ID)
    # The tenant of the key that created the order (None: created by a key without one).
    tenant: str | None = Field(default=None, sa_type=TENANT)
    flow: str = Field(index=True, sa_type=CODE)
    status: str = Field(index=True, sa_type=CODE)
    stage: str = Field(sa_type=CODE)
    customer_id: str = Field(index=True, sa_type=PARTY_ID)
    customer_name: str = Field(sa_type=NAME)
    customer_email: str = Field(sa_type=EMAIL)
    provider_id: str | None = Field(default=None, index=True, sa_type=PARTY_ID)
    currency: str = Field(sa_type=CURRENCY)
    amount_total: int = Field(sa_type=MONEY)
    amount_paid: int = Field(sa_type=MONEY)
    amount_refunded: int = Field(sa_type=MONEY)
    next_deadline_name: str | None = Field(default=None, sa_type=CODE)
    # Indexed for "what is due in the next hour", the operators' favourite filter.
    next_deadline_at: datetime | None = Field(default=None, index=True, sa_type=AWARE)
    needs_attention: bool = Field(default=False)
    # Hidden from the default list (the dealer flow's "archived" tab).
    archived: bool = Field(
        default=False, index=True, sa_column_kwargs={"server_default": sa.false()}
    )
    attention_reason: str | None = Field(default=None, sa_type=TEXT)
    created_at: datetime = Field(index=True, sa_type=AWARE)
    updated_at: datetime = Field(sa_type=AWARE)
    closed_at: datetime | None = Field(default=None, sa_type=AWARE)
    version: int = Field(default=0)


class OrderRow(OrderBase, table=True):
    """One order: its searchable columns plus the whole ``OrderView`` as JSON."""

    __tablename__ = "orders"
    # GET /orders filters and then takes the newest page: these let the database read the
    # page in order from an index instead of sorting every matching row (bench/scale.py).
    __table_args__ = (
        sa.Index("ix_orders_list", "archived", "created_at"),
        sa.Index("ix_orders_status_list", "status", "archived", "created_at"),
        sa.Index("ix_orders_flow_status_list", "flow", "status", "archived", "created_at"),
        sa.Index("ix_orders_customer_list", "customer_id", "archived", "created_at"),
        sa.Index("ix_orders_tenant_list", "tenant", "archived", "created_at"),
    )

    view_json: dict[str, Any] = Field(sa_type=sa.JSON())


class OrderSummary(OrderBase):
    """An order as a list shows it (``GET /orders``): no view, no history."""


class TransitionRow(SQLModel, table=True):
    """One step of an order's history; ``seq`` numbers them per order."""

    __tablename__ = "transitions"
    __table_args__ = (sa.UniqueConstraint("order_id", "seq", name="uq_transitions_order_id_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = _order_fk("transitions")
    seq: int
    at: datetime = Field(sa_type=AWARE)
    actor_role: str = Field(sa_type=CODE)
    actor_id: str | None = Field(default=None, sa_type=PARTY_ID)
    action: str = Field(sa_type=CODE)
    from_status: str | None = Field(default=None, sa_type=CODE)
    to_status: str = Field(sa_type=CODE)
    reason: str | None = Field(default=None, sa_type=TEXT)
    # The API key the action came through (None for orderclock's own steps and old rows).
    key_name: str | None = Field(default=None, sa_type=KEY_NAME)


class NotificationRow(SQLModel, table=True):
    """One email an order sent, skipped or failed to send."""

    __tablename__ = "notifications"
    __table_args__ = (
        sa.UniqueConstraint(
            "order_id", "idempotency_key", name="uq_notifications_order_id_idempotency_key"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = _order_fk("notifications")
    idempotency_key: str = Field(sa_type=KEY)
    event: str = Field(sa_type=CODE)
    recipient_role: str = Field(sa_type=CODE)
    to_address: str = Field(sa_type=EMAIL)
    status: str = Field(sa_type=CODE)
    detail: str | None = Field(default=None, sa_type=TEXT)
    at: datetime = Field(sa_type=AWARE)


class PaymentRow(SQLModel, table=True):
    """One payment operation (charge, refund) of an order."""

    __tablename__ = "payments"
    __table_args__ = (
        sa.UniqueConstraint(
            "order_id", "idempotency_key", name="uq_payments_order_id_idempotency_key"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = _order_fk("payments")
    idempotency_key: str = Field(sa_type=KEY)
    seq: int
    kind: str = Field(sa_type=CODE)
    amount: int = Field(sa_type=MONEY)
    currency: str = Field(sa_type=CURRENCY)
    outcome: str = Field(sa_type=CODE)
    provider_id: str | None = Field(default=None, sa_type=KEY)  # the Stripe object's id
    failure_reason: str | None = Field(default=None, sa_type=TEXT)
    at: datetime = Field(sa_type=AWARE)


class PayoutRow(SQLModel, table=True):
    """The provider's one payout for a closed order."""

    __tablename__ = "payouts"
    __table_args__ = (
        sa.UniqueConstraint("order_id", name="uq_payouts_order_id"),
        sa.UniqueConstraint("idempotency_key", name="uq_payouts_idempotency_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = _order_fk("payouts")
    idempotency_key: str = Field(sa_type=KEY)
    provider_id: str = Field(sa_type=PARTY_ID)  # the provider party, not a Stripe id
    amount: int = Field(sa_type=MONEY)
    currency: str = Field(sa_type=CURRENCY)
    due_at: datetime = Field(sa_type=AWARE)
    paid_at: datetime = Field(sa_type=AWARE)
    reference: str = Field(sa_type=KEY)


class ApiKeyRow(SQLModel, table=True):
    """An API key of the HTTP API: its name, role and hash (the key itself is never stored)."""

    __tablename__ = "api_keys"
    __table_args__ = (
        sa.UniqueConstraint("name", name="uq_api_keys_name"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=KEY_NAME)
    role: str = Field(sa_type=CODE)  # service, support or admin
    key_hash: str = Field(sa_type=SHA256_HEX)
    created_at: datetime = Field(sa_type=AWARE)
    revoked_at: datetime | None = Field(default=None, sa_type=AWARE)
    # A key with a tenant sees and acts on its tenant's orders only (None: every order).
    tenant: str | None = Field(default=None, sa_type=TENANT)


class AccountRow(SQLModel, table=True):
    """A customer account (account orders belong to one); one account per email address."""

    __tablename__ = "accounts"
    __table_args__ = (sa.UniqueConstraint("email_key", name="uq_accounts_email_key"),)

    id: str = Field(primary_key=True, sa_type=PARTY_ID)
    name: str = Field(sa_type=NAME)
    email: str = Field(sa_type=EMAIL)
    # The address lowercased: one account per email, whatever its case.
    email_key: str = Field(sa_type=EMAIL)
    created_at: datetime = Field(sa_type=AWARE)
    created_by: str | None = Field(default=None, sa_type=KEY_NAME)
    # The tenant of the key that created it; keys of other tenants do not see it.
    tenant: str | None = Field(default=None, sa_type=TENANT)


class InvoiceRow(SQLModel, table=True):
    """An account order's invoice from a bill-cycle run: one per order and cycle."""

    __tablename__ = "invoices"
    __table_args__ = (sa.UniqueConstraint("order_id", "cycle", name="uq_invoices_order_id_cycle"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = _order_fk("invoices")
    cycle: str = Field(index=True, sa_type=sa.String(7))  # YYYY-MM
    number: str = Field(sa_type=KEY)
    account_id: str = Field(index=True, sa_type=PARTY_ID)
    currency: str = Field(sa_type=CURRENCY)
    amount: int = Field(sa_type=MONEY)
    completed_at: datetime = Field(sa_type=AWARE)
    created_at: datetime = Field(sa_type=AWARE)


TABLES = (
    OrderRow,
    TransitionRow,
    NotificationRow,
    PaymentRow,
    PayoutRow,
    ApiKeyRow,
    AccountRow,
    InvoiceRow,
)

# The Core tables, for upserts and column selects (typed, unlike ``OrderRow.__table__``).
ORDERS = SQLModel.metadata.tables["orders"]
TRANSITIONS = SQLModel.metadata.tables["transitions"]
NOTIFICATIONS = SQLModel.metadata.tables["notifications"]
PAYMENTS = SQLModel.metadata.tables["payments"]
PAYOUTS = SQLModel.metadata.tables["payouts"]
API_KEYS = SQLModel.metadata.tables["api_keys"]
ACCOUNTS = SQLModel.metadata.tables["accounts"]
INVOICES = SQLModel.metadata.tables["invoices"]
