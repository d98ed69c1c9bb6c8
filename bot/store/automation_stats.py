"""What the automation report reads: rules fired, their outbox rows, cases reopened."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from sqlalchemy import Connection, func, select

from bot.store.schema import audit, outbox

_REOPEN = re.compile(r"\b(?:resolved|closed)\s*→\s*(?!resolved|closed)\w+")
_BATCH = 5_000


def fired_counts(conn: Connection) -> Counter[str]:
    """How many decisions each rule fired in (from the `case_decided` audit entries)."""
    counts: Counter[str] = Counter()
    last = 0
    while True:
        rows = conn.execute(
            select(audit.c.id, audit.c.detail)
            .where(audit.c.event == "case_decided", audit.c.id > last)
            .order_by(audit.c.id)
            .limit(_BATCH)
        ).all()
        for row in rows:
            counts.update(str(r) for r in (row.detail or {}).get("rules_fired") or [])
        if len(rows) < _BATCH:
            return counts
        last = rows[-1].id


def effects_by_rule(conn: Connection) -> list[dict[str, Any]]:
    """Outbox rows counted by rule, state and case (rule None: crmbot's own enrichment)."""
    rows = conn.execute(
        select(outbox.c.rule_id, outbox.c.state, outbox.c.case_id, func.count()).group_by(
            outbox.c.rule_id, outbox.c.state, outbox.c.case_id
        )
    )
    return [{"rule_id": r[0], "state": r[1], "case_id": r[2], "count": int(r[3])} for r in rows]


def reopened_cases(conn: Connection) -> set[int]:
    """Cases a CRM status moved from resolved/closed back to an open status."""
    found: set[int] = set()
    rows = conn.execute(
        select(audit.c.case_id, audit.c.detail).where(
            audit.c.event.in_(("request_attached", "case_opened")), audit.c.case_id.is_not(None)
        )
    )
    for case_id, detail in rows:
        for reason in (detail or {}).get("reasons") or []:
            if reason.get("code") == "status_changed" and _REOPEN.search(
                str(reason.get("message", ""))
            ):
                found.add(int(case_id))
    return found
