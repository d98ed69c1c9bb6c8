"""Counts of cases, requests and outbox rows, read from the tallies the database keeps.

Triggers (migration 0006) update the tally tables in the same transaction as the rows they
count, so a scrape reads a few dozen rows instead of counting millions. The straightforward
counts they must equal are in `bot/store/kpi.py` (`case_counts`, `case_totals`,
`requests_by_source`, `outbox_by_state`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select, text

from bot.store.schema import case_tallies, outbox_tallies, request_tallies

_KEYS = {
    case_tallies.name: ("category", "priority", "status", "merged"),
    request_tallies.name: ("source",),
    outbox_tallies.name: ("sink", "action", "state"),
}
_SUMS = {
    case_tallies.name: ("cases", "follow_ups", "duplicates"),
    request_tallies.name: ("requests",),
    outbox_tallies.name: ("actions",),
}


def _none(value: str) -> str | None:
    return value or None


def case_counts(conn: Connection) -> list[dict[str, Any]]:
    """Number of cases (merged excluded) by category, priority and status."""
    n = func.sum(case_tallies.c.cases)
    query = (
        select(case_tallies.c.category, case_tallies.c.priority, case_tallies.c.status, n)
        .where(case_tallies.c.merged.is_(False))
        .group_by(case_tallies.c.category, case_tallies.c.priority, case_tallies.c.status)
        .having(n != 0)
    )
    return [
        {"category": _none(c), "priority": _none(p), "status": s, "n": int(count)}
        for c, p, s, count in conn.execute(query)
    ]


def case_totals(conn: Connection) -> dict[str, int]:
    """Totals over every case: follow-ups and duplicates absorbed."""
    row = conn.execute(
        select(
            func.coalesce(func.sum(case_tallies.c.follow_ups), 0),
            func.coalesce(func.sum(case_tallies.c.duplicates), 0),
        )
    ).one()
    return {"follow_ups": int(row[0]), "duplicates": int(row[1])}


def requests_by_source(conn: Connection) -> dict[str, int]:
    """Number of stored requests per source."""
    n = func.sum(request_tallies.c.requests)
    query = select(request_tallies.c.source, n).group_by(request_tallies.c.source).having(n != 0)
    return {source: int(count) for source, count in conn.execute(query)}


def outbox_by_state(conn: Connection) -> list[dict[str, Any]]:
    """Outbox rows by sink, action and state."""
    t = outbox_tallies
    n = func.sum(t.c.actions)
    query = (
        select(t.c.sink, t.c.action, t.c.state, n)
        .group_by(t.c.sink, t.c.action, t.c.state)
        .having(n != 0)
    )
    return [
        {"sink": sink, "action": action, "state": state, "n": int(count)}
        for sink, action, state, count in conn.execute(query)
    ]


def compact(conn: Connection) -> int:
    """Fold every committed transaction's tally rows into tx = 0 (PostgreSQL; a no-op on
    SQLite); returns the rows folded. Skipped while another replica is compacting."""
    if conn.dialect.name != "postgresql":
        return 0
    if not conn.execute(
        text("SELECT pg_try_advisory_xact_lock(hashtext('crmbot_tallies'))")
    ).scalar():
        return 0
    folded = 0
    for table, keys in _KEYS.items():
        sums = _SUMS[table]
        columns = ", ".join([*keys, "tx", *sums])
        totals = ", ".join(f"sum({c})" for c in sums)
        key_list = ", ".join(keys)
        result = conn.execute(
            text(
                f"WITH moved AS (DELETE FROM {table} WHERE tx <> 0 RETURNING *), "
                f"folded AS (INSERT INTO {table} AS t ({columns}) "
                f"SELECT {key_list}, 0, {totals} FROM moved GROUP BY {key_list} "
                f"ORDER BY {key_list} ON CONFLICT ({key_list}, tx) DO UPDATE SET "
                + ", ".join(f"{c} = t.{c} + excluded.{c}" for c in sums)
                + " RETURNING 1) SELECT (SELECT count(*) FROM moved)"
            )
        )
        folded += int(result.scalar() or 0)
    return folded
