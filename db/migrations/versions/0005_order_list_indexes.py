"""Indexes for the order list: filter, then read the newest page in index order.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_orders_list": ["archived", "created_at"],
    "ix_orders_status_list": ["status", "archived", "created_at"],
    "ix_orders_flow_status_list": ["flow", "status", "archived", "created_at"],
    "ix_orders_customer_list": ["customer_id", "archived", "created_at"],
}


def upgrade() -> None:
    """Apply this revision."""
    for name, columns in INDEXES.items():
        op.create_index(name, "orders", columns)


def downgrade() -> None:
    """Revert this revision."""
    for name in INDEXES:
        op.drop_index(name, table_name="orders")
