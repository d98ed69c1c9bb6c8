"""What the overflow job reads: open cases to offer, routed cases, their previous queue."""

from __future__ import annotations

from sqlalchemy import Connection, select

from bot.entities import Case
from bot.store.kpi import CLOSED_STATUSES
from bot.store.schema import audit, cases, outbox


def open_cases_full(conn: Connection) -> list[Case]:
    """Every open, unmerged case."""
    query = select(cases).where(
        cases.c.merged_into.is_(None), cases.c.status.not_in(CLOSED_STATUSES)
    )
    return [Case.from_row(dict(r._mapping)) for r in conn.execute(query)]


def previous_queue(conn: Connection, case_id: int, other_than: str) -> str | None:
    """The last queue an `assign` outbox action gave this case, other than `other_than`."""
    query = (
        select(outbox.c.payload)
        .where(outbox.c.case_id == case_id, outbox.c.action == "assign")
        .order_by(outbox.c.id.desc())
    )
    for payload in conn.execute(query).scalars():
        queue = (payload or {}).get("queue")
        if queue and queue != other_than:
            return str(queue)
    return None


def moves_of_case(conn: Connection, case_id: int) -> int:
    """How many overflow moves (out and back) the audit trail holds for a case."""
    query = select(audit.c.id).where(
        audit.c.case_id == case_id, audit.c.event.in_(("overflow_routed", "overflow_returned"))
    )
    return len(conn.execute(query).all())


def routed_case_ids(conn: Connection) -> set[int]:
    """Cases ever routed to an outsourced team (audit event overflow_routed)."""
    query = select(audit.c.case_id).where(audit.c.event == "overflow_routed").distinct()
    return {r for r in conn.execute(query).scalars() if r is not None}
