"""The migrations and the schema module describe the same database (procrastinate's rule)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.store import Store
from bot.store.schema import metadata


def _differences(store: Store) -> list[object]:
    with store.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": False}
        )
        return list(compare_metadata(context, metadata))


def test_the_migrated_database_matches_the_schema_module(store: Store) -> None:
    # `store` is migrated from empty by the Alembic revisions alone (SQLite and PostgreSQL).
    assert _differences(store) == []
