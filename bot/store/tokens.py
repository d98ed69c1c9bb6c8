"""Shared OAuth2 tokens: one row per credential, read, and locked while one replica refreshes.

The row holds secrets (access and refresh tokens), sealed by the caller with `secrets_key`
(bot/sealing.py, bot/shared.py) or, on a local SQLite store without a key, in clear. Nothing
here logs a value.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from bot.store.schema import connector_tokens
from bot.store.sql import insert_ignore, utcnow

_COLUMNS = (
    connector_tokens.c.access_token,
    connector_tokens.c.refresh_token,
    connector_tokens.c.expires_at,
    connector_tokens.c.version,
)


def read_tokens(conn: Connection, key: str) -> dict[str, Any] | None:
    """The stored tokens of credential `key` (access_token, refresh_token, expires_at, version)."""
    row = conn.execute(select(*_COLUMNS).where(connector_tokens.c.key == key)).first()
    return None if row is None else dict(row._mapping)


def lock_tokens(conn: Connection, key: str, connector: str, seed: str) -> dict[str, Any]:
    """The stored tokens, locked until the transaction ends (created from `seed` if missing).

    PostgreSQL: the row is locked `FOR UPDATE`; SQLite: the write transaction (BEGIN
    IMMEDIATE) already keeps every other writer out.
    """
    insert_ignore(
        conn,
        connector_tokens,
        {
            "key": key,
            "connector": connector,
            "access_token": None,
            "refresh_token": seed,
            "expires_at": None,
            "version": 0,
        },
        ["key"],
    )
    row = conn.execute(
        select(*_COLUMNS).where(connector_tokens.c.key == key).with_for_update()
    ).one()
    return dict(row._mapping)


def save_tokens(
    conn: Connection,
    key: str,
    *,
    access_token: str,
    refresh_token: str,
    expires_at: float | None,
    version: int,
) -> None:
    """Store a refreshed token set (the caller holds the row's lock)."""
    conn.execute(
        update(connector_tokens)
        .where(connector_tokens.c.key == key)
        .values(
            access_token=access_token,
            refresh_token=refresh_token,
            expires_at=expires_at,
            version=version,
            refreshed_at=utcnow(),
        )
    )


def lock_all_tokens(conn: Connection, *, lock: bool = True) -> list[dict[str, Any]]:
    """Every stored credential (key, connector, access_token, refresh_token), locked until
    the transaction ends (unless `lock` is false), so that their values can be sealed again."""
    query = select(
        connector_tokens.c.key,
        connector_tokens.c.connector,
        connector_tokens.c.access_token,
        connector_tokens.c.refresh_token,
    ).order_by(connector_tokens.c.key)
    if lock:
        query = query.with_for_update()
    return [dict(r._mapping) for r in conn.execute(query)]


def rewrite_values(
    conn: Connection, key: str, *, access_token: str | None, refresh_token: str
) -> None:
    """Replace a credential's stored values by the same tokens, sealed otherwise."""
    conn.execute(
        update(connector_tokens)
        .where(connector_tokens.c.key == key)
        .values(access_token=access_token, refresh_token=refresh_token)
    )
