"""Cases: creation with a human reference, attaching requests, decisions, listing.

Single cases come and go as `Case` (bot/entities.py); listings stay rows (they carry the
contact's columns too). bot/store/case_rows.py adapts the former back to rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update

from bot.entities import Case
from bot.status import OPEN_STATUSES
from bot.store.batch import (
    hold_or_insert,
    overlay_case,
    pending,
    pending_reference,
    settle,
    settle_all,
)
from bot.store.schema import case_requests, cases, contacts
from bot.store.sql import fit_to_columns, utcnow


def create_case(
    conn: Connection,
    *,
    prefix: str,
    subject: str,
    channel: str,
    language: str | None,
    contact_id: int | None,
    opened_at: datetime,
    tags: list[str] | None = None,
) -> Case:
    """Open a case; its reference is PREFIX-<id> (e.g. CB-42)."""
    now = utcnow()
    values = {
        "subject": subject[:2000],
        "status": "new",
        "channel": channel,
        "language": language,
        "contact_id": contact_id,
        "reasons": [],
        "pauses": [],
        "tags": sorted(set(tags or [])),
        "request_count": 0,
        "follow_up_count": 0,
        "duplicate_count": 0,
        "opened_at": opened_at,
        "last_request_at": opened_at,
        "created_at": now,
        "updated_at": now,
    }
    case_id = conn.execute(_INSERT_CASE, fit_to_columns(cases, values)).scalar_one()
    reference = f"{prefix}-{case_id}"
    writes = pending(conn)
    if writes is not None:  # set with the case's other changes when the batch is flushed
        writes.update_case(case_id, reference=reference)
    else:
        conn.execute(_SET_REFERENCE, {"case_id": case_id, "reference": reference})
    return Case.from_row({**values, "id": case_id, "reference": reference})


_INSERT_CASE = insert(cases).returning(cases.c.id)
_SET_REFERENCE = (
    update(cases).where(cases.c.id == bindparam("case_id")).values(reference=bindparam("reference"))
)


_CASE_BY_ID = select(cases).where(cases.c.id == bindparam("case_id"))


def get_case(conn: Connection, case_id: int) -> Case | None:
    """One case (with its held-back changes), or None."""
    row = conn.execute(_CASE_BY_ID, {"case_id": case_id}).first()
    return None if row is None else Case.from_row(overlay_case(conn, dict(row._mapping)))


def lock_cases(conn: Connection, case_ids: list[int]) -> None:
    """Lock these cases' rows until the transaction ends, in case id order (the order a batch
    takes them in, bot/store/batch.py), all in one statement; SQLite has no row locks.

    `FOR NO KEY UPDATE`: what an UPDATE of a case takes, so that rows merely referencing a
    case (requests, outbox, audit) are not held up.
    """
    if not case_ids or conn.dialect.name != "postgresql":
        return
    conn.execute(
        select(cases.c.id)
        .where(cases.c.id.in_(sorted(set(case_ids))))
        .order_by(cases.c.id)
        .with_for_update(key_share=True)
    ).all()


def case_by_reference(conn: Connection, reference: str) -> Case | None:
    """A case by its reference (case-insensitive), or None."""
    opened_now = pending_reference(conn, reference.upper())
    if opened_now is not None:
        return get_case(conn, opened_now)
    row = conn.execute(select(cases).where(cases.c.reference == reference.upper())).first()
    return None if row is None else Case.from_row(overlay_case(conn, dict(row._mapping)))


def link_request(
    conn: Connection,
    case: Case,
    request_id: int,
    *,
    relation: str,
    reason: str,
    received_at: datetime,
) -> Case:
    """Attach a stored request to a case and update its counters; returns the updated case."""
    hold_or_insert(
        conn,
        case_requests,
        {
            "case_id": case.id,
            "request_id": request_id,
            "relation": relation,
            "reason": reason,
            "created_at": utcnow(),
        },
    )
    now = utcnow()
    last_request_at = max(received_at, case.last_request_at)
    params = {
        "case_id": case.id,
        "follow_up": int(relation == "follow_up"),
        "duplicate": int(relation == "duplicate"),
        "last_request_at": last_request_at,
        "updated_at": now,
    }
    writes = pending(conn)
    if writes is not None:
        writes.update_case(
            case.id,
            request_count=1,
            follow_up_count=params["follow_up"],
            duplicate_count=params["duplicate"],
            last_request_at=last_request_at,
            updated_at=now,
        )
    else:
        conn.execute(_COUNT_REQUEST, params)
    return case.with_request(relation=relation, last_request_at=last_request_at, updated_at=now)


# Counters are incremented in SQL, so that concurrent replicas never lose a count.
_COUNT_REQUEST = (
    update(cases)
    .where(cases.c.id == bindparam("case_id"))
    .values(
        request_count=cases.c.request_count + 1,
        follow_up_count=cases.c.follow_up_count + bindparam("follow_up"),
        duplicate_count=cases.c.duplicate_count + bindparam("duplicate"),
        last_request_at=bindparam("last_request_at"),
        updated_at=bindparam("updated_at"),
    )
)


DECISION_FIELDS = (
    "category",
    "category_confidence",
    "priority",
    "impact_score",
    "reasons",
    "tags",
    "sla",
    "first_response_due",
    "resolution_due",
)
_SET_DECISION = (
    update(cases)
    .where(cases.c.id == bindparam("case_id"))
    .values({name: bindparam(name, type_=cases.c[name].type) for name in DECISION_FIELDS})
    .values(updated_at=bindparam("updated_at"))
)


def record_decision(conn: Connection, case: Case, values: dict[str, Any]) -> Case:
    """Store a decision's outcome (every field of DECISION_FIELDS) on a case; returns it."""
    kept = case.decision_values() if any(n not in values for n in DECISION_FIELDS) else {}
    params = {name: values[name] if name in values else kept[name] for name in DECISION_FIELDS}
    now = utcnow()
    writes = pending(conn)
    if writes is not None:
        writes.update_case(case.id, **params, updated_at=now)
    else:
        conn.execute(_SET_DECISION, {**params, "case_id": case.id, "updated_at": now})
    return case.with_decision(params, updated_at=now)


def update_case(conn: Connection, case_id: int, **values: Any) -> Case:
    """Set fields on a case (category, priority, SLA, reasons, status …); returns the case."""
    values["updated_at"] = utcnow()
    settle_all(conn)
    row = conn.execute(
        update(cases).where(cases.c.id == case_id).values(**values).returning(*cases.c)
    ).one()
    return Case.from_row(dict(row._mapping))


def list_cases(
    conn: Connection,
    *,
    limit: int = 200,
    status: str | None = None,
    category: str | None = None,
    priority: str | None = None,
    tag: str | None = None,
    contact: str | None = None,
    overdue_at: datetime | None = None,
) -> list[dict]:
    """Cases with their contact, most urgent first (priority, then SLA due, then age).

    Filters: exact status, category and priority; a tag (exact, or a prefix ending in ':',
    e.g. 'possible_repeat:'); a contact e-mail (case-insensitive substring); overdue as of
    `overdue_at` (see `overdue_clause`).
    """
    settle_all(conn)
    query = (
        select(
            cases, contacts.c.email.label("contact_email"), contacts.c.name.label("contact_name")
        )
        .select_from(cases.outerjoin(contacts, cases.c.contact_id == contacts.c.id))
        .where(cases.c.merged_into.is_(None))
        .order_by(
            func.coalesce(cases.c.priority, "P9"),
            func.coalesce(cases.c.first_response_due, cases.c.opened_at),
            cases.c.id,
        )
    )
    if status:
        query = query.where(cases.c.status == status)
    if category:
        query = query.where(cases.c.category == category)
    if priority:
        query = query.where(cases.c.priority == priority)
    if contact:
        query = query.where(func.lower(contacts.c.email).contains(contact.lower()))
    if overdue_at is not None:
        query = query.where(overdue_clause(overdue_at))
    if tag is None:
        return [dict(r._mapping) for r in conn.execute(query.limit(limit))]
    # Tags are a JSON list (portable across SQLite and PostgreSQL): filtered here.
    found = []
    for r in conn.execute(query):
        tags = r._mapping["tags"] or []
        if any(t == tag or (tag.endswith(":") and t.startswith(tag)) for t in tags):
            found.append(dict(r._mapping))
            if len(found) >= limit:
                break
    return found


def overdue_clause(now: datetime) -> Any:
    """SQL condition: an open case whose first-response or resolution due time has passed."""
    return and_(
        cases.c.status.in_([str(s) for s in OPEN_STATUSES]),
        or_(cases.c.first_response_due < now, cases.c.resolution_due < now),
    )


def distinct_values(conn: Connection, column: str) -> list[str]:
    """The distinct non-empty values of a case column (status, category, priority)."""
    col = cases.c[column]
    rows = conn.execute(select(col).where(col.is_not(None)).distinct()).scalars()
    return sorted(str(v) for v in rows)


def case_links(conn: Connection, case_id: int) -> dict[int, tuple[str, str]]:
    """request id -> (relation, reason) for a case's requests (merged cases' too)."""
    settle(conn)
    rows = conn.execute(
        select(case_requests.c.request_id, case_requests.c.relation, case_requests.c.reason).where(
            case_requests.c.case_id.in_(merged_into_chain(conn, case_id))
        )
    )
    return {r[0]: (r[1], r[2]) for r in rows}


def merged_into_chain(conn: Connection, case_id: int) -> list[int]:
    """The case and every case soft-merged into it (directly or through others).

    Merges are written at once, never held back in a batch: nothing to flush first.
    """
    found, frontier = [case_id], [case_id]
    while frontier:
        rows = conn.execute(select(cases.c.id).where(cases.c.merged_into.in_(frontier))).scalars()
        frontier = [r for r in rows if r not in found]
        found.extend(frontier)
    return found


def merge_cases(conn: Connection, survivor_id: int, absorbed_id: int) -> Case:
    """Soft-merge `absorbed` into `survivor`: linked, counted, never deleted. Returns survivor."""
    survivor, absorbed = get_case(conn, survivor_id), get_case(conn, absorbed_id)
    if survivor is None or absorbed is None:
        raise ValueError("both cases must exist")
    if survivor_id == absorbed_id:
        raise ValueError("a case cannot be merged into itself")
    if absorbed.merged_into is not None:
        raise ValueError(f"{absorbed.reference} is already merged")
    if survivor.merged_into is not None:
        raise ValueError(f"{survivor.reference} is itself merged into another case")
    update_case(conn, absorbed_id, merged_into=survivor_id)
    values: dict[str, Any] = {
        name: cases.c[name] + count for name, count in _counters(absorbed).items()
    }
    values["last_request_at"] = max(survivor.last_request_at, absorbed.last_request_at)
    return update_case(conn, survivor_id, **values)


def unmerge_case(conn: Connection, absorbed_id: int) -> Case:
    """Undo a soft merge; returns the case it had been merged into."""
    absorbed = get_case(conn, absorbed_id)
    if absorbed is None or absorbed.merged_into is None:
        raise ValueError("that case is not merged")
    survivor_id = absorbed.merged_into
    update_case(conn, absorbed_id, merged_into=None)
    values = {name: cases.c[name] - count for name, count in _counters(absorbed).items()}
    return update_case(conn, survivor_id, **values)


def _counters(case: Case) -> dict[str, int]:
    return {
        "request_count": case.request_count,
        "follow_up_count": case.follow_up_count,
        "duplicate_count": case.duplicate_count,
    }
