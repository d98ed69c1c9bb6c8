"""Overflow: route the least critical cases to an outsourced team while breaches are expected.

The forecast's facts (`forecast.breach_expected`, `.breach_hour`, `.breach_cases`) are given
to the rules with the event `forecast.updated`, one open case at a time, least critical first
(lowest priority, then lowest impact score, then latest due date). An `assign` action that
an automation plans is what routes a case: it goes to the outbox like any action, the case
is tagged `overflow:<team>`, and the move is in the audit trail. Cases with a protected tag or
reason (strategic customer, legal risk, blocking) are offered only when a rule also adds the
tag `overflow:allowed`. When the forecast expects no breach any more, routed cases go back to
their previous queue.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection

from bot.entities import Case, ThreadKey
from bot.facts import build_facts
from bot.store import audit
from bot.store import outbox as outbox_store
from bot.store import overflow as overflow_store
from bot.store.cases import update_case
from bot.store.contacts import get_contact
from bot.store.requests import request_from_row, requests_of_case
from connectors.kit.writeback import WriteBackSettings

log = structlog.get_logger(__name__)
ALLOW_TAG = "overflow:allowed"
_RANK = {"P1": 0, "P2": 1, "P3": 2, "P4": 3}


@dataclass(slots=True)
class OverflowResult:
    """The references routed out and routed back in one run."""

    routed: list[str] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)


def team_tag(team: str) -> str:
    """The tag a case carries while the outsourced team has it."""
    return f"overflow:{team}"


def is_protected(case: Case, protected: list[str]) -> bool:
    """True when the case has a protected tag or a reason whose code is protected."""
    marks = set(case.tags)
    for reason in case.reasons:
        if isinstance(reason, dict):
            marks.update(str(reason.get(k)) for k in ("code", "rule_id", "id") if reason.get(k))
    return bool(marks & set(protected))


def least_critical_first(cases: list[Case]) -> list[Case]:
    """Lowest priority first, then lowest impact, then the latest resolution due date."""

    def key(case: Case) -> tuple:
        due = case.resolution_due
        return (
            -_RANK.get(case.priority or "P4", 3),
            case.impact_score or 0.0,
            -(due.timestamp() if due else float("inf")),
            case.id,
        )

    return sorted(cases, key=key)


def _facts(conn: Connection, case: Case, forecast_facts: dict[str, Any]) -> dict:
    rows = requests_of_case(conn, case.id)
    contact = get_contact(conn, case.contact_id) if case.contact_id else None
    facts = build_facts(request_from_row(rows[0]), contact, case)
    facts["forecast"] = dict(forecast_facts)
    return facts


def _sink(settings: Any, source: str) -> str | None:
    if settings.overflow.sink:
        return settings.overflow.sink
    return WriteBackSettings.of(settings.sources).sink_for(source)


def run_overflow(
    conn: Connection, *, ruleset: Any, forecast: Any, settings: Any, now: datetime
) -> OverflowResult:
    """One overflow pass in the caller's transaction: route out or back, audited."""
    cfg = settings.overflow
    tag = team_tag(cfg.team)
    facts_now = forecast.facts()
    result = OverflowResult()
    open_cases = overflow_store.open_cases_full(conn)
    routed = [c for c in open_cases if tag in c.tags]
    if not forecast.breach_expected:
        for case in routed[: cfg.max_cases_per_run]:
            _route_back(conn, case, settings, tag, facts_now, now)
            result.returned.append(case.reference)
        return result
    wanted = min(cfg.max_cases_per_run, max(0, len(forecast.breaches) - len(routed)))
    for case in least_critical_first([c for c in open_cases if tag not in c.tags]):
        if len(result.routed) >= wanted:
            break
        facts = _facts(conn, case, facts_now)
        decision = ruleset.decide(facts, event="forecast.updated", now=now)
        assigns = [a for a in decision.actions if a.type == "assign" and a.params.get("queue")]
        if not assigns:
            continue
        if is_protected(case, cfg.protected) and ALLOW_TAG not in decision.tags:
            continue
        if _route_out(conn, case, assigns[0], settings, tag, facts_now, now):
            result.routed.append(case.reference)
    return result


def _enqueue(
    conn: Connection,
    case: Case,
    queue: str,
    sink: str,
    key: str,
    rule_id: str | None,
    now: datetime,
) -> None:
    _, target = _origin_source(conn, case)
    outbox_store.enqueue(
        conn,
        idempotency_key=key,
        sink=sink,
        action="assign",
        payload={"queue": queue, "case_reference": case.reference, "target": target},
        case_id=case.id,
        rule_id=rule_id,
        now=now,
    )


def _origin_source(conn: Connection, case: Case) -> tuple[str, dict[str, Any]]:
    row = requests_of_case(conn, case.id)[0]
    target = (
        {"type": "ticket", "id": ThreadKey.parse(row["thread_key"]).ticket_id}
        if row["thread_key"]
        else {}
    )
    return row["source"], target


def _route_out(
    conn: Connection,
    case: Case,
    action: Any,
    settings: Any,
    tag: str,
    facts: dict[str, Any],
    now: datetime,
) -> bool:
    source, _ = _origin_source(conn, case)
    sink = getattr(action, "sink", "") or action.params.get("sink") or _sink(settings, source)
    queue = str(action.params["queue"])
    if not sink:
        audit.record(conn, "overflow_not_routed", case_id=case.id, why="no sink performs assign")
        return False
    move = overflow_store.moves_of_case(conn, case.id) + 1
    previous = overflow_store.previous_queue(conn, case.id, queue) or settings.overflow.home_queue
    _enqueue(conn, case, queue, sink, f"{case.reference}/overflow/{move}", action.rule_id, now)
    update_case(conn, case.id, tags=sorted({*(case.tags), tag}))
    audit.record(
        conn,
        "overflow_routed",
        case_id=case.id,
        team=settings.overflow.team,
        queue=queue,
        previous_queue=previous,
        rule_id=action.rule_id,
        forecast=facts,
    )
    log.info("overflow_routed", case=case.reference, queue=queue, rule_id=action.rule_id)
    return True


def _route_back(
    conn: Connection,
    case: Case,
    settings: Any,
    tag: str,
    facts: dict[str, Any],
    now: datetime,
) -> None:
    source, _ = _origin_source(conn, case)
    sink = _sink(settings, source)
    queue = (
        overflow_store.previous_queue(conn, case.id, _current_queue(conn, case) or "")
        or settings.overflow.home_queue
    )
    move = overflow_store.moves_of_case(conn, case.id) + 1
    if sink and queue:
        _enqueue(conn, case, queue, sink, f"{case.reference}/overflow/{move}", None, now)
    update_case(conn, case.id, tags=sorted(set(case.tags) - {tag}))
    audit.record(
        conn,
        "overflow_returned",
        case_id=case.id,
        team=settings.overflow.team,
        queue=queue,
        forecast=facts,
    )
    log.info("overflow_returned", case=case.reference, queue=queue)


def _current_queue(conn: Connection, case: Case) -> str | None:
    return overflow_store.previous_queue(conn, case.id, "")


class OverflowLoop:
    """Runs `run_overflow` every `overflow.interval_seconds` in a daemon thread."""

    def __init__(self, steering: Any) -> None:
        self.steering = steering
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="crmbot-overflow", daemon=True)

    def run_once(self) -> OverflowResult:
        """One pass: a fresh forecast, then route out or back in one transaction."""
        from bot.steering.forecast import forecast_from_store

        steering = self.steering
        rules = steering.rules()
        now = steering.clock()
        with steering.store.begin() as conn:
            forecast = forecast_from_store(
                conn,
                now=now,
                calendar=rules.calendar(),
                steering_settings=steering.settings.steering,
            )
            return run_overflow(
                conn, ruleset=rules, forecast=forecast, settings=steering.settings, now=now
            )

    def _run(self) -> None:
        interval = self.steering.settings.overflow.interval_seconds
        while not self._stop.wait(interval):
            try:
                self.run_once()
            except Exception as exc:  # a failed pass is retried at the next interval
                log.warning("overflow_failed", error=f"{type(exc).__name__}: {exc}"[:300])

    def start(self) -> OverflowLoop:
        """Start the loop."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop the loop (after the current pass)."""
        self._stop.set()
        self.thread.join(timeout=10)
