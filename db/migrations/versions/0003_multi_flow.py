"""Every flow in one read model: the provider is optional, archived orders are hidden.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    # Batch mode: SQLite rebuilds the table, PostgreSQL alters it in place.
    with op.batch_alter_table("orders") as batch:
        batch.alter_column("provider_id", existing_type=sa.String(length=128), nullable=True)
        batch.add_column(
            sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_index("ix_orders_archived", ["archived"])


def downgrade() -> None:
    """Revert this revision (orders without a provider get an empty provider id)."""
    op.execute(sa.text("UPDATE orders SET provider_id = '' WHERE provider_id IS NULL"))
    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_archived")
        batch.drop_column("archived")
        batch.alter_column("provider_id", existing_type=sa.String(length=128), nullable=False)
