"""The audit trail: every decision, with its reasons, in order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select

from bot.store.schema import audit
from bot.store.sql import utcnow

_INSERT = insert(audit)


def record(
    conn: Connection,
    event: str,
    *,
    case_id: int | None = None,
    request_id: int | None = None,
    actor: str = "crmbot",
    **detail: Any,
) -> None:
    """Append one entry to the audit trail."""
    conn.execute(
        _INSERT,
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
    rows = conn.execute(select(audit).where(audit.c.case_id == case_id).order_by(audit.c.id))
    return [dict(r._mapping) for r in rows]
