"""The outbox: planned effects, recorded with their idempotency key before they happen.

A dispatcher claims rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never take
the same row), performs them, and marks them done; a claim whose worker died is recovered
when its `claimed_until` has passed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, update

from bot.store.schema import outbox
from bot.store.sql import insert_ignore, utcnow

MAX_ATTEMPTS = 8


def enqueue(
    conn: Connection,
    *,
    idempotency_key: str,
    sink: str,
    action: str,
    payload: dict[str, Any],
    case_id: int | None,
    rule_id: str | None = None,
    available_at: datetime | None = None,
) -> int | None:
    """Plan an effect; None when an effect with this key was planned already (harmless)."""
    now = utcnow()
    return insert_ignore(
        conn,
        outbox,
        {
            "idempotency_key": idempotency_key[:300],
            "case_id": case_id,
            "sink": sink,
            "action": action,
            "payload": payload,
            "rule_id": rule_id,
            "state": "pending",
            "attempts": 0,
            "available_at": available_at or now,
            "created_at": now,
            "updated_at": now,
        },
        ["idempotency_key"],
    )


def claim(
    conn: Connection, owner: str, *, limit: int = 50, lease_seconds: float = 300.0
) -> list[dict[str, Any]]:
    """Claim due pending rows (and stalled claims) for this worker; call inside a transaction."""
    now = utcnow()
    due = ((outbox.c.state == "pending") & (outbox.c.available_at <= now)) | (
        (outbox.c.state == "claimed") & (outbox.c.claimed_until < now)
    )
    query = select(outbox.c.id).where(due).order_by(outbox.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(conn.execute(query).scalars())
    if not ids:
        return []
    conn.execute(
        update(outbox)
        .where(outbox.c.id.in_(ids))
        .values(
            state="claimed",
            claimed_by=owner,
            claimed_until=now + timedelta(seconds=lease_seconds),
            attempts=outbox.c.attempts + 1,
            updated_at=now,
        )
    )
    rows = conn.execute(select(outbox).where(outbox.c.id.in_(ids)).order_by(outbox.c.id))
    return [dict(r._mapping) for r in rows]


def finish(conn: Connection, outbox_id: int, state: str, result: dict[str, Any]) -> None:
    """Mark a claimed row done, skipped or conflict, with what the sink said."""
    conn.execute(
        update(outbox)
        .where(outbox.c.id == outbox_id)
        .values(state=state, result=result, claimed_until=None, updated_at=utcnow())
    )


def retry_later(conn: Connection, row: dict[str, Any], error: str, delay: float) -> str:
    """Put a failed row back for later, or mark it dead after too many attempts."""
    state = "dead" if row["attempts"] >= MAX_ATTEMPTS else "pending"
    conn.execute(
        update(outbox)
        .where(outbox.c.id == row["id"])
        .values(
            state=state,
            last_error=error[:2000],
            available_at=utcnow() + timedelta(seconds=delay),
            claimed_until=None,
            updated_at=utcnow(),
        )
    )
    return state


def counts(conn: Connection) -> dict[str, int]:
    """Number of outbox rows in each state."""
    rows = conn.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state))
    return {state: n for state, n in rows}


def rows_of_case(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    """A case's planned and performed effects, oldest first."""
    rows = conn.execute(select(outbox).where(outbox.c.case_id == case_id).order_by(outbox.c.id))
    return [dict(r._mapping) for r in rows]
