"""What auto-handling reads about a case: the queue crmbot's rules assigned it to."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, select

from bot.store.schema import outbox

_LAST_ASSIGN = (
    select(outbox.c.payload)
    .where(
        outbox.c.case_id == bindparam("case_id"),
        outbox.c.action.in_(("assign", "escalate")),
        outbox.c.state.in_(("pending", "claimed", "done")),
    )
    .order_by(outbox.c.id.desc())
    .limit(20)
)


def assigned_queue(conn: Connection, case_id: int) -> str | None:
    """The queue of the case's latest assignment (or escalation to a queue), if any."""
    for (payload,) in conn.execute(_LAST_ASSIGN, {"case_id": case_id}):
        queue = (payload or {}).get("queue")
        if queue:
            return str(queue)
    return None
