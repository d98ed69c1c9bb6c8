"""SLA timers: wake-ups due at an exact instant, claimed once across replicas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from bot.store.schema import timers


def next_due_at(conn: Connection) -> datetime | None:
    """When the next timer not yet fired is due, or None."""
    return conn.execute(
        select(timers.c.due_at).where(timers.c.fired_at.is_(None)).order_by(timers.c.due_at)
    ).scalar()


def claim_due(conn: Connection, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Timers due by `now`, oldest first, locked for this transaction (SKIP LOCKED on
    PostgreSQL, so that two replicas never take the same one)."""
    query = (
        select(timers)
        .where(timers.c.fired_at.is_(None), timers.c.due_at <= now)
        .order_by(timers.c.due_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [dict(r._mapping) for r in conn.execute(query)]


def mark_fired(conn: Connection, timer_id: int, now: datetime) -> None:
    """Record that a timer fired (it never fires again)."""
    conn.execute(
        update(timers)
        .where(timers.c.id == timer_id, timers.c.fired_at.is_(None))
        .values(fired_at=now)
    )
