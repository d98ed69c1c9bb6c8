"""contact bounces: the contact's address that bounced, and since when

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("bouncing_email", sa.String(length=320), nullable=True))
        batch.add_column(sa.Column("bouncing_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("bounce_reason", sa.String(length=300), nullable=True))
        batch.create_index(batch.f("ix_contacts_bouncing_email"), ["bouncing_email"])


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.drop_index(batch.f("ix_contacts_bouncing_email"))
        batch.drop_column("bounce_reason")
        batch.drop_column("bouncing_since")
        batch.drop_column("bouncing_email")
