"""Small SQL helpers that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def insert_ignore(
    conn: Connection, table: Table, values: dict[str, Any], conflict: list[str]
) -> int | None:
    """Insert a row unless it conflicts on `conflict`; return its new primary key or None."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=conflict)
    pk = next(iter(table.primary_key.columns))
    row = conn.execute(stmt.returning(pk)).first()
    return None if row is None else row[0]
