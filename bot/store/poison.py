"""Handling attempts of items, so that an item that kills the process is recognised."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Connection, bindparam, delete, select, update

from bot.store.schema import item_attempts
from bot.store.sql import insert_ignore, insert_ignore_many, utcnow

_CHUNK = 500  # ids per IN list (well under SQLite's and PostgreSQL's bind limits)


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def attempts_of(conn: Connection, source: str, source_ids: list[str]) -> dict[str, int]:
    """Recorded attempts of these items (only those with a row: tried and not finished)."""
    found: dict[str, int] = {}
    for chunk in _chunks(list(dict.fromkeys(source_ids))):
        rows = conn.execute(
            select(item_attempts.c.source_id, item_attempts.c.attempts).where(
                item_attempts.c.source == source, item_attempts.c.source_id.in_(chunk)
            )
        )
        found.update((row.source_id, row.attempts) for row in rows)
    return found


def mark_batch(conn: Connection, source: str, source_ids: list[str], owner: str) -> None:
    """Record one attempt for each item of a batch about to be handled in one transaction."""
    now = utcnow()
    rows = [
        {
            "source": source,
            "source_id": ident,
            "attempts": 1,
            "first_attempt_at": now,
            "last_attempt_at": now,
            "last_owner": owner,
        }
        for ident in dict.fromkeys(source_ids)
    ]
    for start in range(0, len(rows), _CHUNK):
        insert_ignore_many(
            conn, item_attempts, rows[start : start + _CHUNK], ["source", "source_id"]
        )


_INCREMENT = (
    update(item_attempts)
    .where(
        item_attempts.c.source == bindparam("s"),
        item_attempts.c.source_id == bindparam("i"),
    )
    .values(
        attempts=item_attempts.c.attempts + 1,
        last_attempt_at=bindparam("now"),
        last_owner=bindparam("owner"),
    )
)


def begin_attempt(conn: Connection, source: str, source_id: str, owner: str, limit: int) -> int:
    """Record one more attempt at an item, unless it has `limit` already; return the count
    of attempts made before this one."""
    now = utcnow()
    tried = conn.execute(
        select(item_attempts.c.attempts).where(
            item_attempts.c.source == source, item_attempts.c.source_id == source_id
        )
    ).scalar()
    if tried is None:
        insert_ignore(
            conn,
            item_attempts,
            {
                "source": source,
                "source_id": source_id,
                "attempts": 1,
                "first_attempt_at": now,
                "last_attempt_at": now,
                "last_owner": owner,
            },
            ["source", "source_id"],
        )
        return 0
    if tried < limit:
        conn.execute(_INCREMENT, {"s": source, "i": source_id, "now": now, "owner": owner})
    return int(tried)


def undo_attempt(conn: Connection, source: str, source_id: str) -> None:
    """Take back the last attempt (it ended in an ordinary error, the process did not die)."""
    conn.execute(
        update(item_attempts)
        .where(
            item_attempts.c.source == source,
            item_attempts.c.source_id == source_id,
            item_attempts.c.quarantined_at.is_(None),
            item_attempts.c.attempts > 0,
        )
        .values(attempts=item_attempts.c.attempts - 1)
    )


def mark_quarantined(conn: Connection, source: str, source_id: str) -> None:
    """Keep the item's row (a re-read skips it again) and say when it was quarantined."""
    conn.execute(
        update(item_attempts)
        .where(item_attempts.c.source == source, item_attempts.c.source_id == source_id)
        .values(quarantined_at=utcnow())
    )


def clear_attempts(conn: Connection, source: str, source_ids: list[str]) -> None:
    """Forget the attempts of items handled to the end (quarantined ones are kept)."""
    for chunk in _chunks(list(dict.fromkeys(source_ids))):
        conn.execute(
            delete(item_attempts).where(
                item_attempts.c.source == source,
                item_attempts.c.source_id.in_(chunk),
                item_attempts.c.quarantined_at.is_(None),
            )
        )
