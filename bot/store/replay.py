"""Read what `crmbot replay` re-decides: stored requests with their case, contact and link."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from bot.store.schema import case_requests, cases, contacts, requests


def stored_requests(
    conn: Connection, since: datetime | None, limit: int, batch: int = 500
) -> Iterator[dict[str, Any]]:
    """Requests (oldest first) with `relation`, the `case` and `contact` rows, and the
    case's counters as they stood when each request arrived."""
    query = (
        select(requests, case_requests.c.relation)
        .select_from(
            requests.outerjoin(
                case_requests,
                (case_requests.c.request_id == requests.c.id)
                & (case_requests.c.case_id == requests.c.case_id),
            )
        )
        .order_by(requests.c.received_at, requests.c.id)
        .limit(limit)
    )
    if since is not None:
        query = query.where(requests.c.received_at >= since)
    rows = [dict(r._mapping) for r in conn.execute(query)]
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        case_ids = {r["case_id"] for r in chunk if r["case_id"] is not None}
        contact_ids = {r["contact_id"] for r in chunk if r["contact_id"] is not None}
        by_case = {
            r.id: dict(r._mapping)
            for r in conn.execute(select(cases).where(cases.c.id.in_(case_ids)))
        }
        by_contact = {
            r.id: dict(r._mapping)
            for r in conn.execute(select(contacts).where(contacts.c.id.in_(contact_ids)))
        }
        links = _links_before(conn, case_ids)
        for row in chunk:
            before = [rel for rid, rel in links.get(row["case_id"], []) if rid <= row["id"]]
            yield {
                **row,
                "case": by_case.get(row["case_id"]),
                "contact": by_contact.get(row["contact_id"]),
                "counts": {
                    "request_count": len(before),
                    "follow_up_count": before.count("follow_up"),
                    "duplicate_count": before.count("duplicate"),
                },
            }


def _links_before(conn: Connection, case_ids: set[int]) -> dict[int, list[tuple[int, str]]]:
    result: dict[int, list[tuple[int, str]]] = {}
    query = (
        select(case_requests.c.case_id, case_requests.c.request_id, case_requests.c.relation)
        .where(case_requests.c.case_id.in_(case_ids))
        .order_by(case_requests.c.request_id)
    )
    for case_id, request_id, relation in conn.execute(query):
        result.setdefault(case_id, []).append((request_id, relation))
    return result
