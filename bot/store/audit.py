"""The audit trail: every decision, with its reasons, in order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from bot.store.batch import hold_or_insert, settle
from bot.store.schema import audit
from bot.store.sql import utcnow


def record(
    conn: Connection,
    event: str,
    *,
    case_id: int | None = None,
    request_id: int | None = None,
    actor: str = "crmbot",
    **detail: Any,
) -> None:
    """Append one entry to the audit trail (held back until the batch is flushed)."""
    hold_or_insert(
        conn,
        audit,
        {
            "case_id": case_id,
            "request_id": request_id,
            "event": event,
            "actor": actor,
            "detail": detail,
            "created_at": utcnow(),
        },
    )


def trail(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    """A case's audit entries, oldest first."""
    settle(conn)
    rows = conn.execute(select(audit).where(audit.c.case_id == case_id).order_by(audit.c.id))
    return [dict(r._mapping) for r in rows]
