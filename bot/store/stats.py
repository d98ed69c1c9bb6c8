"""Totals of the store, for the end-of-run summary and the progress display."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from bot.store.schema import cases, outbox, quarantine, requests


def totals(conn: Connection) -> dict[str, int]:
    """Counts that a run moves: requests, cases, follow-ups, duplicates, quarantine, outbox."""
    case_row = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(cases.c.follow_up_count), 0),
            func.coalesce(func.sum(cases.c.duplicate_count), 0),
        ).select_from(cases)
    ).one()
    return {
        "stored": conn.execute(select(func.count()).select_from(requests)).scalar_one(),
        "new_cases": int(case_row[0]),
        "follow_ups": int(case_row[1]),
        "duplicates": int(case_row[2]),
        "quarantined": conn.execute(select(func.count()).select_from(quarantine)).scalar_one(),
        "actions_planned": conn.execute(select(func.count()).select_from(outbox)).scalar_one(),
    }


def stored_requests(conn: Connection) -> int:
    """How many requests the store holds (cheap enough to poll for a progress display)."""
    return conn.execute(select(func.count()).select_from(requests)).scalar_one()
