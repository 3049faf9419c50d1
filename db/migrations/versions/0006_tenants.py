"""Tenants: the tenant of an API key, and of the orders and accounts its holder created.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("api_keys", "orders", "accounts")
LIST_INDEX = "ix_orders_tenant_list"


def upgrade() -> None:
    """Apply this revision."""
    # Nullable: keys, orders and accounts from before tenants belong to none.
    for table in TABLES:
        op.add_column(table, sa.Column("tenant", sa.String(length=64), nullable=True))
    op.create_index(LIST_INDEX, "orders", ["tenant", "archived", "created_at"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(LIST_INDEX, table_name="orders")
    for table in TABLES:
        # Batch mode: SQLite rebuilds the table, PostgreSQL drops the column in place.
        with op.batch_alter_table(table) as batch:
            batch.drop_column("tenant")
