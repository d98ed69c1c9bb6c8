"""The CRM ticket a case lives in, as its requests recorded it ("source:ticket_id")."""

from __future__ import annotations

from sqlalchemy import Connection, select

from bot.store.schema import requests


def ticket_key_of_case(conn: Connection, case_id: int) -> str | None:
    """The newest CRM ticket key among the case's requests, or None for a mail-only case."""
    value = conn.execute(
        select(requests.c.thread_key)
        .where(requests.c.case_id == case_id, requests.c.thread_key.is_not(None))
        .order_by(requests.c.id.desc())
        .limit(1)
    ).scalar()
    return str(value) if value else None
