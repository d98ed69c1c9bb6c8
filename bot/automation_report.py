"""`crmbot automations report`: for each automation, how often it fired, how many of its
effects reached their sink, and how many an agent undid.

Undone counts an effect the CRM refused to keep (a write-back conflict: an agent changed the
field back after crmbot wrote it) and each case reopened after the rule acted on it (a
status moved from resolved/closed back to open in the CRM). crmbot's own enrichment (the
`update_fields` write-back, and what the pipeline plans itself: update_contact, notes) is
reported under `(crmbot)`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from bot.store.automation_stats import effects_by_rule, fired_counts, reopened_cases

OWN = "(crmbot)"
NOT_PERFORMED = frozenset({"skipped", "refused", "dead"})


@dataclass(slots=True)
class RuleFigures:
    """One automation's figures."""

    rule_id: str
    fired: int = 0
    effects: int = 0
    reached_sink: int = 0
    not_performed: int = 0
    pending: int = 0
    undone: int = 0
    conflicts: int = 0
    cases_reopened: int = 0


def automation_report(conn: Any, rule_ids: list[str] | None = None) -> list[RuleFigures]:
    """Figures per automation (the rules given first, then any other seen in the store)."""
    figures: dict[str, RuleFigures] = {r: RuleFigures(r) for r in rule_ids or []}

    def of(rule_id: str | None) -> RuleFigures:
        key = rule_id or OWN
        return figures.setdefault(key, RuleFigures(key))

    for rule_id, count in fired_counts(conn).items():
        of(rule_id).fired += count
    reopened = reopened_cases(conn)
    acted_on: dict[str, set[int]] = defaultdict(set)
    for row in effects_by_rule(conn):
        f = of(row["rule_id"])
        f.effects += row["count"]
        state = row["state"]
        if state == "done":
            f.reached_sink += row["count"]
            if row["case_id"] is not None:
                acted_on[f.rule_id].add(row["case_id"])
        elif state == "conflict":
            f.conflicts += row["count"]
        elif state in NOT_PERFORMED:
            f.not_performed += row["count"]
        else:
            f.pending += row["count"]
    for rule_id, cases in acted_on.items():
        figures[rule_id].cases_reopened = len(cases & reopened)
    for f in figures.values():
        f.undone = f.conflicts + f.cases_reopened
    return sorted(figures.values(), key=lambda f: (f.rule_id == OWN, -f.fired, f.rule_id))


def as_json(rows: list[RuleFigures]) -> list[dict[str, Any]]:
    """The report as JSON-safe dicts."""
    return [asdict(r) for r in rows]
