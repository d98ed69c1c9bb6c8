"""steering: indexes for the KPI queries, and each source's last successful poll

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# the text of bot/store/schema.OPEN_CASES_SQL when this revision was written
OPEN_CASES_SQL = "status NOT IN ('resolved', 'closed') AND merged_into IS NULL"

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source_cursors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("polled_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_cases_opened_at", "cases", ["opened_at"], unique=False)
    op.create_index(
        "ix_cases_status_resolution_due", "cases", ["status", "resolution_due"], unique=False
    )
    op.create_index("ix_cases_last_request_at", "cases", ["last_request_at"], unique=False)
    op.create_index(
        "ix_cases_open",
        "cases",
        ["opened_at"],
        unique=False,
        sqlite_where=sa.text(OPEN_CASES_SQL),
        postgresql_where=sa.text(OPEN_CASES_SQL),
    )
    op.create_index("ix_requests_received_at", "requests", ["received_at"], unique=False)
    op.create_index("ix_outbox_state_updated_at", "outbox", ["state", "updated_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outbox_state_updated_at", table_name="outbox")
    op.drop_index("ix_requests_received_at", table_name="requests")
    op.drop_index("ix_cases_open", table_name="cases")
    op.drop_index("ix_cases_last_request_at", table_name="cases")
    op.drop_index("ix_cases_status_resolution_due", table_name="cases")
    op.drop_index("ix_cases_opened_at", table_name="cases")
    with op.batch_alter_table("source_cursors", schema=None) as batch_op:
        batch_op.drop_column("polled_at")
