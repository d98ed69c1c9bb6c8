"""Source cursors, outage bookkeeping, and the lease that lets one replica poll a source."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, or_, select, update

from bot.store.schema import source_cursors
from bot.store.sql import insert_ignore, utcnow


def _ensure_row(conn: Connection, source: str) -> None:
    insert_ignore(
        conn, source_cursors, {"source": source, "cursor": None, "updated_at": utcnow()}, ["source"]
    )


def load_cursor(conn: Connection, source: str) -> dict[str, Any] | None:
    """The saved cursor of a source, or None before its first poll."""
    return conn.execute(
        select(source_cursors.c.cursor).where(source_cursors.c.source == source)
    ).scalar()


def save_cursor(conn: Connection, source: str, cursor: dict[str, Any]) -> None:
    """Move a source's cursor; call it in the transaction that stored what was read."""
    _ensure_row(conn, source)
    conn.execute(
        update(source_cursors)
        .where(source_cursors.c.source == source)
        .values(cursor=cursor, updated_at=utcnow())
    )


def acquire_lease(
    conn: Connection, source: str, owner: str, seconds: float, now: datetime | None = None
) -> bool:
    """Take or renew the polling lease on a source; False when another replica holds it."""
    now = now or utcnow()
    _ensure_row(conn, source)
    result = conn.execute(
        update(source_cursors)
        .where(source_cursors.c.source == source)
        .where(
            or_(
                source_cursors.c.lease_owner.is_(None),
                source_cursors.c.lease_owner == owner,
                source_cursors.c.lease_until < now,
            )
        )
        .values(lease_owner=owner, lease_until=now + timedelta(seconds=seconds))
    )
    return result.rowcount == 1


def release_lease(conn: Connection, source: str, owner: str) -> None:
    """Give the lease back so that another replica can poll at once."""
    conn.execute(
        update(source_cursors)
        .where(source_cursors.c.source == source, source_cursors.c.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )


def record_health(conn: Connection, source: str, error: str | None) -> None:
    """Store a source's last error (None when it works), for `crmbot check` and health."""
    _ensure_row(conn, source)
    values: dict[str, Any] = {"last_error": error}
    if error is None:
        values["failing_since"] = None
        values["polled_at"] = utcnow()
    row = conn.execute(
        select(source_cursors.c.failing_since).where(source_cursors.c.source == source)
    ).first()
    if error is not None and (row is None or row[0] is None):
        values["failing_since"] = utcnow()
    conn.execute(update(source_cursors).where(source_cursors.c.source == source).values(**values))


def source_states(conn: Connection) -> list[dict[str, Any]]:
    """Every source's cursor, lease and health."""
    return [dict(r._mapping) for r in conn.execute(select(source_cursors))]
