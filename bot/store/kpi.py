"""Read-only queries behind the steering indicators (KPIs, metrics, status page, forecast).

Every function reads what the pipeline already stores: no second copy of the data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, literal, select, text

from bot.store.schema import (
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
_first_response = (
    select(func.min(outbox.c.updated_at))
    .where(
        outbox.c.case_id == cases.c.id,
        outbox.c.state == "done",
        outbox.c.action.in_(REPLY_ACTIONS),
    )
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
    columns: list[Any] = [*_CASE_COLUMNS, _first_response.label("first_response_at")]
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
    query = select(func.count()).where(
        cases.c.status.in_(CLOSED_STATUSES),
        cases.c.last_request_at >= since,
        cases.c.merged_into.is_(None),
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
    """Contacts whose cases opened since a time were chased most (follow-ups summed)."""
    chases = func.sum(cases.c.follow_up_count).label("chases")
    query = (
        select(
            contacts.c.id,
            contacts.c.name,
            contacts.c.email,
            contacts.c.company,
            chases,
            func.count(cases.c.id).label("cases"),
        )
        .select_from(cases.join(contacts, contacts.c.id == cases.c.contact_id))
        .where(cases.c.opened_at >= since, cases.c.merged_into.is_(None))
        .group_by(contacts.c.id, contacts.c.name, contacts.c.email, contacts.c.company)
        .having(func.sum(cases.c.follow_up_count) > 0)
        .order_by(chases.desc(), contacts.c.id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in conn.execute(query)]


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
