"""Read-only queries behind the steering indicators (KPIs, metrics, status page, forecast).

Every function reads what the pipeline already stores: no second copy of the data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, or_, select, text

from bot.store.schema import (
    CLOSED_CASES_SQL,
    CONTACT_CASES_SQL,
    OPEN_CASES_SQL,
    audit,
    case_requests,
    cases,
    contacts,
    outbox,
    requests,
    source_cursors,
)

CLOSED_STATUSES = ("resolved", "closed")
REPLY_ACTIONS = ("send_reply",)

_origin_source = (
    select(requests.c.source)
    .select_from(case_requests.join(requests, requests.c.id == case_requests.c.request_id))
    .where(case_requests.c.case_id == cases.c.id, case_requests.c.relation == "origin")
    .limit(1)
    .scalar_subquery()
)
_CASE_COLUMNS = (
    cases.c.id,
    cases.c.reference,
    cases.c.contact_id,
    cases.c.status,
    cases.c.channel,
    cases.c.language,
    cases.c.category,
    cases.c.priority,
    cases.c.impact_score,
    cases.c.tags,
    cases.c.first_response_due,
    cases.c.resolution_due,
    cases.c.request_count,
    cases.c.follow_up_count,
    cases.c.duplicate_count,
    cases.c.opened_at,
    cases.c.last_request_at,
)


def _case_query(with_source: bool) -> Any:
    columns: list[Any] = [*_CASE_COLUMNS, cases.c.first_response_at]
    columns.append(_origin_source.label("source") if with_source else literal(None).label("source"))
    return select(*columns).where(cases.c.merged_into.is_(None))


def cases_opened(
    conn: Connection, since: datetime, until: datetime | None = None, *, with_source: bool = True
) -> list[dict[str, Any]]:
    """Cases opened in [since, until) (merged ones excluded), with first response and source."""
    query = _case_query(with_source).where(cases.c.opened_at >= since)
    if until is not None:
        query = query.where(cases.c.opened_at < until)
    return [dict(r._mapping) for r in conn.execute(query)]


def cases_closed_since(conn: Connection, since: datetime) -> list[dict[str, Any]]:
    """Cases in a closed status whose last request (the CRM's closing update) is after since."""
    query = _case_query(True).where(
        cases.c.status.in_(CLOSED_STATUSES), cases.c.last_request_at >= since
    )
    return [dict(r._mapping) for r in conn.execute(query)]


def count_closed_since(conn: Connection, since: datetime) -> int:
    """How many cases were closed (last request in a closed status) since a time."""
    query = (
        select(func.count())
        .select_from(cases)
        .where(text(CLOSED_CASES_SQL), cases.c.last_request_at >= since)
    )
    return int(conn.execute(query).scalar_one())


def due_spans(conn: Connection, limit: int = 2000) -> list[tuple[datetime, datetime | None]]:
    """(opened_at, first due date) of the most recently opened cases."""
    query = (
        select(cases.c.opened_at, func.coalesce(cases.c.first_response_due, cases.c.resolution_due))
        .where(cases.c.merged_into.is_(None))
        .order_by(cases.c.opened_at.desc())
        .limit(limit)
    )
    return [(r[0], r[1]) for r in conn.execute(query)]


def arrivals_per_hour(conn: Connection, since: datetime) -> list[tuple[datetime, int]]:
    """Cases opened (merged ones included: they arrived) per UTC hour since a time."""
    if conn.dialect.name == "postgresql":
        hour: Any = func.date_trunc("hour", func.timezone("UTC", cases.c.opened_at))
    else:
        hour = func.strftime("%Y-%m-%d %H:00:00", cases.c.opened_at)
    query = (
        select(hour.label("hour"), func.count()).where(cases.c.opened_at >= since).group_by(hour)
    )
    result = []
    for value, n in conn.execute(query):
        at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        result.append((at.replace(tzinfo=UTC), int(n)))
    return result


def open_cases(conn: Connection, *, with_source: bool = False) -> list[dict[str, Any]]:
    """Every open case (not resolved, closed nor merged): the backlog (partial index)."""
    query = _case_query(with_source).where(text(OPEN_CASES_SQL))
    return [dict(r._mapping) for r in conn.execute(query)]


# -- the open backlog summed in SQL (status page, /metrics); the same rules as
#    bot/steering/kpi.sla_state and cases_due_soon, which tests compare them with.
_T = cases.c.resolution_due.type  # binds a time the way the due columns are stored


def _earlier(a: Any, b: Any) -> Any:
    """The earlier of two nullable times (SQLite's min() is NULL when either is)."""
    return case((a.is_(None), b), (b.is_(None), a), (a < b, a), else_=b)


# an open case's next due date: first response while unanswered, then resolution
_next_due = _earlier(
    case((cases.c.first_response_at.is_(None), cases.c.first_response_due), else_=None),
    cases.c.resolution_due,
)


def _breached(done: Any) -> Any:
    """Answered (or else closed) after the first-response due date, or closed after the
    resolution due date; `done` is the closing time, or `now` for an open case."""
    return or_(
        and_(
            cases.c.first_response_due.is_not(None),
            func.coalesce(cases.c.first_response_at, done) > cases.c.first_response_due,
        ),
        and_(cases.c.resolution_due.is_not(None), done > cases.c.resolution_due),
    )


def open_summary(
    conn: Connection, now: datetime, at_risk: timedelta, since: datetime
) -> dict[str, Any]:
    """The open cases summed: how many per (category, priority), how many breached and at
    risk at `now`, and how many fell due between `since` and `now` (read through the
    partial index ix_cases_open)."""
    at = literal(now, _T)
    breached = _breached(at)
    query = (
        select(
            cases.c.category,
            cases.c.priority,
            func.count().label("n"),
            func.sum(case((breached, 1), else_=0)).label("breached"),
            func.sum(
                case((and_(~breached, _next_due <= literal(now + at_risk, _T)), 1), else_=0)
            ).label("at_risk"),
            func.sum(
                case((and_(_next_due >= literal(since, _T), _next_due <= at), 1), else_=0)
            ).label("fell_due"),
        )
        .where(text(OPEN_CASES_SQL))
        .group_by(cases.c.category, cases.c.priority)
    )
    rows = [dict(r._mapping) for r in conn.execute(query)]
    return {
        "backlog": [
            {"category": r["category"], "priority": r["priority"], "n": int(r["n"])} for r in rows
        ],
        "total": sum(int(r["n"]) for r in rows),
        "breached": sum(int(r["breached"] or 0) for r in rows),
        "at_risk": sum(int(r["at_risk"] or 0) for r in rows),
        "fell_due": sum(int(r["fell_due"] or 0) for r in rows),
    }


def due_soon(conn: Connection, now: datetime, until: datetime, limit: int) -> list[dict]:
    """Open cases whose next due date falls in [now, until], soonest first."""
    due = _next_due.label("due_at")
    query = (
        select(cases.c.id, cases.c.reference, cases.c.category, cases.c.priority, due)
        .where(text(OPEN_CASES_SQL), due >= literal(now, _T), due <= literal(until, _T))
        .order_by(due, cases.c.id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in conn.execute(query)]


def closed_breached_since(conn: Connection, since: datetime) -> int:
    """Cases closed since a time whose SLA was breached (partial index ix_cases_closed)."""
    query = (
        select(func.count())
        .select_from(cases)
        .where(
            text(CLOSED_CASES_SQL),
            cases.c.last_request_at >= since,
            _breached(cases.c.last_request_at),
        )
    )
    return int(conn.execute(query).scalar_one())


def per_hour(conn: Connection, what: str, since: datetime) -> list[tuple[datetime, int]]:
    """Requests received ('arrivals') or cases closed ('closings') per UTC hour since a time."""
    column = requests.c.received_at if what == "arrivals" else cases.c.last_request_at
    if conn.dialect.name == "postgresql":
        hour: Any = func.date_trunc("hour", func.timezone("UTC", column))
    else:
        hour = func.strftime("%Y-%m-%d %H:00:00", column)
    query = select(hour, func.count()).where(column >= since).group_by(hour)
    if what == "closings":
        query = query.where(text(CLOSED_CASES_SQL))
    result = []
    for value, n in conn.execute(query):
        at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        result.append((at.replace(tzinfo=UTC), int(n)))
    return result


def open_cases_due(conn: Connection) -> list[dict[str, Any]]:
    """Every open case with only what the forecast's simulation reads (covering partial
    index ix_cases_open_due)."""
    query = select(
        cases.c.id,
        cases.c.reference,
        cases.c.category,
        cases.c.priority,
        cases.c.first_response_due,
        cases.c.resolution_due,
        cases.c.first_response_at,
    ).where(text(OPEN_CASES_SQL))
    return [dict(r._mapping) for r in conn.execute(query)]


def tags_and_impact(
    conn: Connection, case_ids: list[int]
) -> dict[int, tuple[list[str], float | None]]:
    """case id -> (tags, impact score) for these cases."""
    found: dict[int, tuple[list[str], float | None]] = {}
    for first in range(0, len(case_ids), 500):
        query = select(cases.c.id, cases.c.tags, cases.c.impact_score).where(
            cases.c.id.in_(case_ids[first : first + 500])
        )
        found.update({r[0]: (r[1] or [], r[2]) for r in conn.execute(query)})
    return found


def requests_received(conn: Connection, since: datetime) -> list[dict[str, Any]]:
    """Requests received since a time: when, from which source, language, relation to a case."""
    query = (
        select(
            requests.c.received_at,
            requests.c.case_id,
            requests.c.source,
            requests.c.language,
            cases.c.category,
            cases.c.priority,
            case_requests.c.relation,
        )
        .select_from(
            requests.outerjoin(cases, cases.c.id == requests.c.case_id).outerjoin(
                case_requests,
                and_(
                    case_requests.c.request_id == requests.c.id,
                    case_requests.c.case_id == requests.c.case_id,
                ),
            )
        )
        .where(requests.c.received_at >= since)
    )
    return [dict(r._mapping) for r in conn.execute(query)]


def automated_case_ids(conn: Connection, since: datetime) -> set[int]:
    """Cases opened since a time with an outbox action done and no change by a person."""
    touched = select(audit.c.case_id).where(
        audit.c.case_id == cases.c.id, audit.c.actor != "crmbot"
    )
    query = select(cases.c.id).where(
        cases.c.opened_at >= since,
        cases.c.merged_into.is_(None),
        select(outbox.c.id)
        .where(outbox.c.case_id == cases.c.id, outbox.c.state == "done")
        .exists(),
        ~touched.exists(),
    )
    return set(conn.execute(query).scalars())


def most_chased_contacts(conn: Connection, since: datetime, limit: int = 10) -> list[dict]:
    """Contacts whose cases opened since a time were chased most (follow-ups summed); the
    cases are summed per contact first, through the partial index ix_cases_contact_opened."""
    per_contact = (
        select(
            cases.c.contact_id,
            func.sum(cases.c.follow_up_count).label("chases"),
            func.count().label("cases"),
        )
        .where(text(CONTACT_CASES_SQL), cases.c.opened_at >= since)
        .group_by(cases.c.contact_id)
        .having(func.sum(cases.c.follow_up_count) > 0)
        .subquery()
    )
    query = (
        select(
            contacts.c.id,
            contacts.c.name,
            contacts.c.email,
            contacts.c.company,
            per_contact.c.chases,
            per_contact.c.cases,
        )
        .select_from(per_contact.join(contacts, contacts.c.id == per_contact.c.contact_id))
        .order_by(per_contact.c.chases.desc(), contacts.c.id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in conn.execute(query)]


def first_responses(conn: Connection) -> dict[int, datetime]:
    """Each answered case's first reply done, recomputed from the outbox (what the trigger of
    migration 0006 keeps in cases.first_response_at; tests compare the two)."""
    query = (
        select(outbox.c.case_id, func.min(outbox.c.updated_at))
        .where(
            outbox.c.case_id.is_not(None),
            outbox.c.state == "done",
            outbox.c.action.in_(REPLY_ACTIONS),
        )
        .group_by(outbox.c.case_id)
    )
    return {case_id: at for case_id, at in conn.execute(query)}


def stored_first_responses(conn: Connection) -> dict[int, datetime]:
    """cases.first_response_at of every answered case."""
    query = select(cases.c.id, cases.c.first_response_at).where(
        cases.c.first_response_at.is_not(None)
    )
    return {case_id: at for case_id, at in conn.execute(query)}


# The four counts below scan whole tables: /metrics reads the same figures from the tallies
# (bot/store/tallies.py); these are the reference the tallies are tested against.
def case_counts(conn: Connection) -> list[dict[str, Any]]:
    """Number of cases (merged excluded) by category, priority and status."""
    query = (
        select(cases.c.category, cases.c.priority, cases.c.status, func.count().label("n"))
        .where(cases.c.merged_into.is_(None))
        .group_by(cases.c.category, cases.c.priority, cases.c.status)
    )
    return [dict(r._mapping) for r in conn.execute(query)]


def case_totals(conn: Connection) -> dict[str, int]:
    """Totals over every case: follow-ups and duplicates absorbed."""
    row = conn.execute(
        select(
            func.coalesce(func.sum(cases.c.follow_up_count), 0),
            func.coalesce(func.sum(cases.c.duplicate_count), 0),
        )
    ).one()
    return {"follow_ups": int(row[0]), "duplicates": int(row[1])}


def requests_by_source(conn: Connection) -> dict[str, int]:
    """Number of stored requests per source."""
    query = select(requests.c.source, func.count()).group_by(requests.c.source)
    return {r[0]: int(r[1]) for r in conn.execute(query)}


def outbox_by_state(conn: Connection) -> list[dict[str, Any]]:
    """Outbox rows by sink, action and state."""
    query = select(
        outbox.c.sink, outbox.c.action, outbox.c.state, func.count().label("n")
    ).group_by(outbox.c.sink, outbox.c.action, outbox.c.state)
    return [dict(r._mapping) for r in conn.execute(query)]


_arrival = (
    select(func.max(requests.c.received_at))
    .where(requests.c.case_id == outbox.c.case_id, requests.c.created_at <= outbox.c.created_at)
    .scalar_subquery()
)


def write_back_latencies_after(
    conn: Connection, after: datetime | None, limit: int = 100_000
) -> tuple[datetime | None, list[float]]:
    """Seconds from arrival (the case's latest request before the action was planned) to
    each outbox action done after a time; returns (newest done time, seconds)."""
    query = (
        select(outbox.c.updated_at, func.coalesce(_arrival, cases.c.opened_at))
        .select_from(outbox.join(cases, cases.c.id == outbox.c.case_id))
        .where(outbox.c.state == "done")
        .order_by(outbox.c.updated_at)
        .limit(limit)
    )
    if after is not None:
        query = query.where(outbox.c.updated_at > after)
    rows = conn.execute(query).all()
    if not rows:
        return after, []
    return rows[-1][0], [max(0.0, (done - arrived).total_seconds()) for done, arrived in rows]


def source_health(conn: Connection) -> list[dict[str, Any]]:
    """Each source's last successful poll, last error and failing-since time."""
    query = select(
        source_cursors.c.source,
        source_cursors.c.polled_at,
        source_cursors.c.last_error,
        source_cursors.c.failing_since,
    ).order_by(source_cursors.c.source)
    return [dict(r._mapping) for r in conn.execute(query)]


def ping(conn: Connection) -> bool:
    """True when the store answers a trivial query."""
    return conn.execute(text("SELECT 1")).scalar() == 1


_TABLES = {
    t.name: t for t in (cases, requests, case_requests, outbox, audit, contacts, source_cursors)
}


def load_rows(conn: Connection, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert many complete rows in one executemany (synthetic histories: tests, benches)."""
    if rows:
        conn.execute(_TABLES[table].insert(), rows)


def next_id(conn: Connection, table: str) -> int:
    """One more than the highest id of a table (to number synthetic rows)."""
    return (
        int(conn.execute(select(func.coalesce(func.max(_TABLES[table].c.id), 0))).scalar_one()) + 1
    )
