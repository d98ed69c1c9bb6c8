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
    state: str = "pending",
    result: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> int | None:
    """Plan an effect; None when an effect with this key was planned already (harmless).

    `state="refused"` records an action no sink performs, with `result={"reason": ...}`.
    """
    # `now` is the pipeline's clock (when the decision was taken: the reply limits count it);
    # due times stay on the store's clock, which the dispatcher's claim compares with.
    stored_at = utcnow()
    now = now or stored_at
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
            "state": state,
            "result": result,
            "attempts": 0,
            "available_at": available_at or stored_at,
            "created_at": now,
            "updated_at": stored_at,
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


def _ours(row: dict[str, Any]) -> Any:
    """Only the claim we hold: a claim that expired and was taken by another replica is theirs."""
    return (
        (outbox.c.id == row["id"])
        & (outbox.c.state == "claimed")
        & (outbox.c.claimed_by == row["claimed_by"])
    )


def finish(conn: Connection, row: dict[str, Any], state: str, result: dict[str, Any]) -> bool:
    """Mark our claimed row done, skipped or conflict; False if the claim was lost meanwhile."""
    done = conn.execute(
        update(outbox)
        .where(_ours(row))
        .values(state=state, result=result, claimed_until=None, updated_at=utcnow())
    )
    return done.rowcount == 1


def retry_later(
    conn: Connection, row: dict[str, Any], error: str, delay: float, *, attempted: bool = True
) -> str | None:
    """Put our failed row back for later, or mark it dead after too many real attempts.

    `attempted=False` (a deferral: rate limit, greylisting) does not use up an attempt.
    Returns the new state, or None if the claim had been lost to another replica.
    """
    attempts = row["attempts"] if attempted else row["attempts"] - 1
    state = "dead" if attempts >= MAX_ATTEMPTS else "pending"
    done = conn.execute(
        update(outbox)
        .where(_ours(row))
        .values(
            state=state,
            attempts=attempts,
            last_error=error[:2000],
            available_at=utcnow() + timedelta(seconds=delay),
            claimed_until=None,
            updated_at=utcnow(),
        )
    )
    return state if done.rowcount == 1 else None


def requeue_dead(conn: Connection) -> int:
    """Give every dead row a fresh start (after the admin fixed the cause); returns how many."""
    return conn.execute(
        update(outbox)
        .where(outbox.c.state == "dead")
        .values(state="pending", attempts=0, available_at=utcnow(), updated_at=utcnow())
    ).rowcount


def dead_rows(conn: Connection, limit: int = 200) -> list[dict[str, Any]]:
    """Rows given up on, newest first, with their last error."""
    rows = conn.execute(
        select(outbox).where(outbox.c.state == "dead").order_by(outbox.c.id.desc()).limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def refused_rows(conn: Connection, limit: int = 200) -> list[dict[str, Any]]:
    """Rows not performed (refused or skipped), newest first, with the reason in `result`."""
    rows = conn.execute(
        select(outbox)
        .where(outbox.c.state.in_(("refused", "skipped")))
        .order_by(outbox.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def counts(conn: Connection) -> dict[str, int]:
    """Number of outbox rows in each state."""
    rows = conn.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state))
    return {state: n for state, n in rows}


def rows_of_case(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    """A case's planned and performed effects, oldest first."""
    rows = conn.execute(select(outbox).where(outbox.c.case_id == case_id).order_by(outbox.c.id))
    return [dict(r._mapping) for r in rows]
