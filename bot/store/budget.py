"""Shared API rate-limit budgets: one token bucket row per (connector, key), taken atomically.

Every call runs in the caller's write transaction: the row is created full if missing, then
locked (PostgreSQL `SELECT ... FOR UPDATE`; SQLite's write transaction is already exclusive,
`BEGIN IMMEDIATE`), updated with the kit's bucket arithmetic, and written back.
"""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from bot.store.schema import connector_budgets
from bot.store.sql import insert_ignore
from connectors.kit.ratelimit import BucketState, pause, take


def _locked(conn: Connection, connector: str, key: str, capacity: float, now: float) -> BucketState:
    insert_ignore(
        conn,
        connector_budgets,
        {
            "connector": connector,
            "key": key,
            "tokens": capacity,
            "updated_at": now,
            "paused_until": 0.0,
        },
        ["connector", "key"],
    )
    row = conn.execute(
        select(
            connector_budgets.c.tokens,
            connector_budgets.c.updated_at,
            connector_budgets.c.paused_until,
        )
        .where(connector_budgets.c.connector == connector, connector_budgets.c.key == key)
        .with_for_update()
    ).one()
    return BucketState(float(row.tokens), float(row.updated_at), float(row.paused_until))


def _write(conn: Connection, connector: str, key: str, state: BucketState) -> None:
    conn.execute(
        update(connector_budgets)
        .where(connector_budgets.c.connector == connector, connector_budgets.c.key == key)
        .values(tokens=state.tokens, updated_at=state.updated, paused_until=state.paused_until)
    )


def take_tokens(
    conn: Connection,
    connector: str,
    key: str,
    *,
    wanted: int,
    minimum: int,
    capacity: float,
    rate: float,
    now: float,
) -> tuple[int, float]:
    """Take up to `wanted` tokens (none unless `minimum`) at `now`: (granted, wait if none)."""
    before = _locked(conn, connector, key, capacity, now)
    after, granted, wait = take(
        before, wanted=wanted, minimum=minimum, capacity=capacity, rate=rate, now=now
    )
    if after != before:
        _write(conn, connector, key, after)
    return int(granted), wait


def pause_budget(
    conn: Connection, connector: str, key: str, *, until: float, capacity: float, now: float
) -> None:
    """Grant nothing from this budget before `until` (epoch seconds), and empty it."""
    _write(conn, connector, key, pause(_locked(conn, connector, key, capacity, now), until))


def budget_state(conn: Connection, connector: str, key: str) -> BucketState | None:
    """The stored bucket of (connector, key), or None."""
    row = conn.execute(
        select(
            connector_budgets.c.tokens,
            connector_budgets.c.updated_at,
            connector_budgets.c.paused_until,
        ).where(connector_budgets.c.connector == connector, connector_budgets.c.key == key)
    ).first()
    if row is None:
        return None
    return BucketState(float(row.tokens), float(row.updated_at), float(row.paused_until))
