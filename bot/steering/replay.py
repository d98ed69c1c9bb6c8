"""Shadow mode for a rules change: re-decide stored requests with two rule sets, compare.

Both rule sets decide the same facts, rebuilt from the store as each request arrived (the
case's counters at that moment, no category yet for the request that opened it), at the
request's arrival time, so SLA due dates compare exactly. Nothing is stored or performed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.entities import Case, Contact
from bot.facts import build_facts
from bot.store.replay import stored_requests
from bot.store.requests import request_from_row

EVENT_OF_RELATION = {
    "origin": "case.created",
    "follow_up": "case.follow_up",
    "duplicate": "case.updated",
    "update": "case.updated",
}
COMPARED = ("category", "priority", "first_response_due", "resolution_due", "actions")


@dataclass(slots=True)
class ReplayResult:
    """How many requests were replayed, and what would change for each that differs."""

    replayed: int
    changes: list[dict[str, Any]]

    def summary(self) -> dict[str, int]:
        """Number of requests whose each compared field changes."""
        return {f: sum(1 for c in self.changes if f in c["changes"]) for f in COMPARED}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "replayed": self.replayed,
            "changed": len(self.changes),
            **{
                "summary": self.summary(),
                "changes": self.changes,
            },
        }


def _outcome(decision: Any) -> dict[str, Any]:
    sla = decision.sla
    return {
        "category": decision.category,
        "priority": decision.priority,
        "first_response_due": sla.first_response_due.isoformat() if sla else None,
        "resolution_due": sla.resolution_due.isoformat() if sla else None,
        "actions": sorted(f"{a.type}:{a.rule_id}" for a in decision.actions),
    }


def _case_then(row: dict[str, Any]) -> Case | None:
    """The request's case as it stood when the request arrived (its counters then; nothing
    decided yet for the request that opened it)."""
    case = row["case"]
    if case is None:
        return None
    then = {**case, **row["counts"]}
    if row["relation"] in (None, "origin"):
        then.update(category=None, priority=None, first_response_due=None, resolution_due=None)
    return Case.from_row(then)


def replay(
    conn: Any, baseline: Any, candidate: Any, *, since: datetime | None, limit: int
) -> ReplayResult:
    """Decide each stored request with both rule sets; keep the differences."""
    changes: list[dict[str, Any]] = []
    replayed = 0
    for row in stored_requests(conn, since, limit):
        if row["case_id"] is None:
            continue
        req = request_from_row(row)
        case = _case_then(row)
        event = EVENT_OF_RELATION.get(row["relation"] or "origin", "request.received")
        contact = Contact.from_row(row["contact"]) if row["contact"] else None
        facts = build_facts(req, contact, case)
        at = row["received_at"]
        before = _outcome(baseline.decide(facts, event=event, now=at))
        after = _outcome(candidate.decide(facts, event=event, now=at))
        replayed += 1
        diff = {k: [before[k], after[k]] for k in COMPARED if before[k] != after[k]}
        if diff:
            changes.append(
                {
                    "request_id": row["id"],
                    "case": row["case"]["reference"],
                    "event": event,
                    "received_at": at.isoformat(),
                    "changes": diff,
                }
            )
    return ReplayResult(replayed, changes)
