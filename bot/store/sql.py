"""Small SQL helpers that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@cache
def _insert_ignore_statement(dialect_name: str, table: Table, conflict: tuple[str, ...]) -> Any:
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    pk = next(iter(table.primary_key.columns))
    return dialect.insert(table).on_conflict_do_nothing(index_elements=conflict).returning(pk)


def insert_ignore(
    conn: Connection, table: Table, values: dict[str, Any], conflict: list[str]
) -> int | None:
    """Insert a row unless it conflicts on `conflict`; return its new primary key or None."""
    stmt = _insert_ignore_statement(conn.dialect.name, table, tuple(conflict))
    row = conn.execute(stmt, values).first()
    return None if row is None else row[0]


@cache
def _insert_ignore_many_statement(
    dialect_name: str, table: Table, conflict: tuple[str, ...]
) -> Any:
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=conflict)


def insert_ignore_many(
    conn: Connection, table: Table, rows: list[dict[str, Any]], conflict: list[str]
) -> None:
    """Insert many rows in one round trip, skipping those that conflict on `conflict`."""
    conn.execute(_insert_ignore_many_statement(conn.dialect.name, table, tuple(conflict)), rows)


# PostgreSQL aborted the transaction to break a deadlock, or a serialization failure: the
# same work done again a moment later succeeds.
_RETRY_SQLSTATES = frozenset({"40P01", "40001"})


def lost_a_lock_race(exc: BaseException) -> bool:
    """True when the database rolled the transaction back to break a deadlock (or a
    serialization failure): redoing it at once is safe and usually succeeds."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in _RETRY_SQLSTATES


def fit_to_columns(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """Cut strings to their column's length: a 400-character display name must not make
    PostgreSQL refuse the row (SQLite does not check lengths, PostgreSQL does)."""
    fitted = dict(values)
    for name, value in values.items():
        if isinstance(value, str):
            length = getattr(table.c[name].type, "length", None)
            if length is not None and len(value) > length:
                fitted[name] = value[:length]
    return fitted
