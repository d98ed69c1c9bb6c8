"""Retention: the raw bytes of old requests are let go; everything read from them is kept.

A mail's raw bytes (up to `store.raw_max_bytes` each) are what makes a store grow for
months: crmbot reads them once, at ingest (parse, bounce reports), and keeps the parsed
request (headers, text, attachments' names, sender, case) for ever. After
`store.raw_retention_days` the bytes are dropped (`raw` set to NULL, `raw_size` kept, so the
request shows what it weighed); 0 keeps them for ever. Quarantined items keep theirs: they
are what an operator replays.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from bot.store.schema import requests

BATCH_ROWS = 500


def forget_old_raw(conn: Connection, before: datetime, limit: int = BATCH_ROWS) -> int:
    """Drop the raw bytes of up to `limit` requests received before `before`; how many."""
    ids = list(
        conn.execute(
            select(requests.c.id)
            .where(requests.c.received_at < before, requests.c.raw.is_not(None))
            .order_by(requests.c.received_at)
            .limit(limit)
        ).scalars()
    )
    if not ids:
        return 0
    conn.execute(update(requests).where(requests.c.id.in_(ids)).values(raw=None))
    return len(ids)
