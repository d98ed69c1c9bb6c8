"""shared API budgets and OAuth tokens: one rate-limit budget and one token per connector

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_budgets",
        sa.Column("connector", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("paused_until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("connector", "key", name=op.f("pk_connector_budgets")),
    )
    op.create_table(
        "connector_tokens",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("connector", sa.String(length=200), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=True),
        sa.Column("refresh_token", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_connector_tokens")),
    )


def downgrade() -> None:
    op.drop_table("connector_tokens")
    op.drop_table("connector_budgets")
