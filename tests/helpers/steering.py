"""Synthetic cases for the steering tests and bench: complete rows through bot/store/kpi."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from bot.store import kpi as kpi_store


@dataclass(slots=True)
class CaseSpec:
    """One case of a synthetic history, with what happened to it."""

    opened_at: datetime
    category: str = "billing"
    priority: str = "P3"
    source: str = "mail"
    language: str = "fr"
    status: str = "new"
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    replied_at: datetime | None = None
    closed_at: datetime | None = None
    follow_ups: int = 0
    duplicates: int = 0
    contact_id: int | None = None
    agent_touched: bool = False
    tags: list[str] = field(default_factory=list)


def case_rows(specs: list[CaseSpec], first_id: int) -> dict[str, list[dict[str, Any]]]:
    """The rows of every table for these cases, ids from first_id."""
    rows: dict[str, list[dict[str, Any]]] = {
        "cases": [],
        "requests": [],
        "case_requests": [],
        "outbox": [],
        "audit": [],
    }
    for offset, spec in enumerate(specs):
        cid = first_id + offset
        last = spec.closed_at or spec.opened_at
        rows["cases"].append(
            {
                "id": cid,
                "reference": f"CB-{cid}",
                "contact_id": spec.contact_id,
                "subject": f"Demande {cid}",
                "status": spec.status,
                "channel": "email",
                "language": spec.language,
                "category": spec.category,
                "category_confidence": 0.9,
                "priority": spec.priority,
                "impact_score": 0.0,
                "reasons": [],
                "tags": spec.tags,
                "sla": None,
                "pauses": [],
                "first_response_due": spec.first_response_due,
                "resolution_due": spec.resolution_due,
                "request_count": 1 + spec.follow_ups + spec.duplicates,
                "follow_up_count": spec.follow_ups,
                "duplicate_count": spec.duplicates,
                "merged_into": None,
                "opened_at": spec.opened_at,
                "last_request_at": last,
                "created_at": spec.opened_at,
                "updated_at": last,
            }
        )
        relations = ["origin"] + ["follow_up"] * spec.follow_ups + ["duplicate"] * spec.duplicates
        for n, relation in enumerate(relations):
            rid = cid * 100 + n
            rows["requests"].append(
                {
                    "id": rid,
                    "source": spec.source,
                    "source_id": str(rid),
                    "channel": "email",
                    "message_id": f"<{rid}@example.test>",
                    "in_reply_to": None,
                    "references": [],
                    "thread_key": None,
                    "sender_email": None,
                    "sender_name": None,
                    "subject": f"Demande {cid}",
                    "body_text": "",
                    "body_clean": "",
                    "body_hash": "0" * 64,
                    "language": spec.language,
                    "received_at": spec.opened_at,
                    "attachments": [],
                    "auto_reply": None,
                    "headers": {},
                    "defects": [],
                    "raw": None,
                    "raw_size": 0,
                    "raw_truncated": False,
                    "contact_id": spec.contact_id,
                    "case_id": cid,
                    "created_at": spec.opened_at,
                }
            )
            rows["case_requests"].append(
                {
                    "case_id": cid,
                    "request_id": rid,
                    "relation": relation,
                    "reason": relation,
                    "created_at": spec.opened_at,
                }
            )
        if spec.replied_at is not None:
            rows["outbox"].append(
                {
                    "idempotency_key": f"reply:{cid}",
                    "case_id": cid,
                    "sink": "smtp",
                    "action": "send_reply",
                    "payload": {},
                    "rule_id": "answer",
                    "state": "done",
                    "attempts": 1,
                    "available_at": spec.opened_at,
                    "claimed_by": None,
                    "claimed_until": None,
                    "last_error": None,
                    "result": None,
                    "created_at": spec.opened_at,
                    "updated_at": spec.replied_at,
                }
            )
        if spec.agent_touched:
            rows["audit"].append(
                {
                    "case_id": cid,
                    "request_id": None,
                    "event": "case_merged",
                    "actor": "admin:agent",
                    "detail": {},
                    "created_at": spec.opened_at,
                }
            )
    return rows


def seed(conn: Connection, specs: list[CaseSpec]) -> None:
    """Insert these cases (with their requests, links, replies) into the store."""
    rows = case_rows(specs, kpi_store.next_id(conn, "cases"))
    for table in ("cases", "requests", "case_requests", "outbox", "audit"):
        kpi_store.load_rows(conn, table, rows[table])
