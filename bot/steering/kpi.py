"""Steering indicators computed from the store: volumes, backlog, SLA, chases, automation.

Definitions (the same for `crmbot report`, the status page and /metrics):
- a case is *closed* in status resolved or closed; its closing time is its last request's
  time (the CRM update that carried the closed status);
- its *first response* is the first `send_reply` the outbox performed for it;
- *breached*: a response or resolution came after its due date, or is still missing past it;
  *at risk*: open, not breached, and a due date falls within `at_risk_hours`;
  *met*: closed (or answered, for first response only) without a breach;
- *automated*: at least one outbox action done and no change made by a person (audit actor).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection

from bot.store import kpi as kpi_store
from bot.store import overflow as overflow_store
from rules.calendar import BusinessCalendar

Dimension = Literal["category", "priority", "source", "language", "team"]
Period = Literal["day", "week"]
DIMENSIONS: tuple[str, ...] = ("category", "priority", "source", "language", "team")
IN_HOUSE = "in_house"
CLOSED = frozenset(kpi_store.CLOSED_STATUSES)


def percentile(values: list[float], q: float) -> float | None:
    """The q-quantile (0..1) by linear interpolation, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def sla_state(case: dict[str, Any], now: datetime, at_risk: timedelta) -> str:
    """met | breached | at_risk | on_track | none for one case at `now`."""
    closed = case["status"] in CLOSED
    closed_at = case["last_request_at"] if closed else None
    answered = case.get("first_response_at")
    frd, rd = case.get("first_response_due"), case.get("resolution_due")
    if frd is None and rd is None:
        return "none"
    if frd is not None and ((answered or closed_at or now) > frd):
        return "breached"
    if rd is not None and ((closed_at or now) > rd):
        return "breached"
    if closed:
        return "met"
    pending = [d for d in ((None if answered else frd), rd) if d is not None]
    if pending and min(pending) - now <= at_risk:
        return "at_risk"
    return "on_track"


def period_key(at: datetime, period: Period, zone: Any = UTC) -> str:
    """The day (YYYY-MM-DD) or ISO week (YYYY-Www) of an instant, in the calendar's zone."""
    local = at.astimezone(zone)
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return local.date().isoformat()


def group_value(row: dict[str, Any], by: str | None) -> str:
    """The row's value for a dimension ('all' without one, '-' when unknown)."""
    if by is None:
        return "all"
    value = row.get(by)
    return str(value) if value else "-"


@dataclass(slots=True)
class _Bucket:
    requests_in: int = 0
    duplicates: int = 0
    opened: int = 0
    closed: int = 0
    chases: int = 0
    chased: int = 0
    automated: int = 0
    sla: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    first_response_h: list[float] = field(default_factory=list)
    first_response_bh: list[float] = field(default_factory=list)
    resolution_h: list[float] = field(default_factory=list)
    resolution_bh: list[float] = field(default_factory=list)


def _hours(delta: timedelta) -> float:
    return max(0.0, delta.total_seconds() / 3600)


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(slots=True)
class KpiReport:
    """Flow indicators per period and group, and the current backlog per group."""

    since: datetime
    now: datetime
    by: str | None
    period: str
    rows: list[dict[str, Any]]
    backlog: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "since": self.since.isoformat(),
            "now": self.now.isoformat(),
            "by": self.by or "all",
            "period": self.period,
            "rows": self.rows,
            "backlog": self.backlog,
            "handling_time": None,  # no connector reports agents' handling time yet
        }


def compute_kpis(
    conn: Connection,
    *,
    since: datetime,
    now: datetime,
    calendar: BusinessCalendar,
    by: str | None = None,
    period: Period = "day",
    at_risk_hours: float = 4.0,
    team: str = "outsourced",
) -> KpiReport:
    """Every indicator for cases and requests since `since`, grouped by period and `by`
    (by="team": the cases ever routed to the outsourced `team`, and the others)."""
    if by is not None and by not in DIMENSIONS:
        raise ValueError(f"by: one of {', '.join(DIMENSIONS)}, not {by!r}")
    at_risk = timedelta(hours=at_risk_hours)
    zone = calendar.zone
    routed = overflow_store.routed_case_ids(conn) if by == "team" else set()

    def with_team(row: dict[str, Any], case_id: int | None) -> dict[str, Any]:
        if by == "team":
            row["team"] = team if case_id in routed else IN_HOUSE
        return row

    buckets: dict[tuple[str, str], _Bucket] = defaultdict(_Bucket)
    for req in kpi_store.requests_received(conn, since):
        req = with_team(req, req["case_id"])
        b = buckets[(period_key(req["received_at"], period, zone), group_value(req, by))]
        b.requests_in += 1
        b.duplicates += req["relation"] == "duplicate"
    automated = kpi_store.automated_case_ids(conn, since)
    for case in kpi_store.cases_opened(conn, since, with_source=True):
        case = with_team(case, case["id"])
        b = buckets[(period_key(case["opened_at"], period, zone), group_value(case, by))]
        b.opened += 1
        b.chases += case["follow_up_count"]
        b.chased += case["follow_up_count"] > 0
        b.automated += case["id"] in automated
        b.sla[sla_state(case, now, at_risk)] += 1
        if case["first_response_at"] is not None:
            b.first_response_h.append(_hours(case["first_response_at"] - case["opened_at"]))
            b.first_response_bh.append(
                _hours(calendar.elapsed(case["opened_at"], case["first_response_at"]))
            )
    for case in kpi_store.cases_closed_since(conn, since):
        case = with_team(case, case["id"])
        closed_at = case["last_request_at"]
        b = buckets[(period_key(closed_at, period, zone), group_value(case, by))]
        b.closed += 1
        b.resolution_h.append(_hours(closed_at - case["opened_at"]))
        b.resolution_bh.append(_hours(calendar.elapsed(case["opened_at"], closed_at)))
    rows = [_row(key, b) for key, b in sorted(buckets.items())]
    backlog = backlog_by_group(
        [with_team(c, c["id"]) for c in kpi_store.open_cases(conn, with_source=by == "source")],
        now,
        by,
    )
    return KpiReport(since, now, by, period, rows, backlog)


def _row(key: tuple[str, str], b: _Bucket) -> dict[str, Any]:
    decided = b.sla.get("met", 0) + b.sla.get("breached", 0)
    return {
        "period": key[0],
        "group": key[1],
        "requests_in": b.requests_in,
        "cases_opened": b.opened,
        "cases_closed": b.closed,
        "first_response_median_h": _round(percentile(b.first_response_h, 0.5)),
        "first_response_p90_h": _round(percentile(b.first_response_h, 0.9)),
        "first_response_median_bh": _round(percentile(b.first_response_bh, 0.5)),
        "first_response_p90_bh": _round(percentile(b.first_response_bh, 0.9)),
        "resolution_median_h": _round(percentile(b.resolution_h, 0.5)),
        "resolution_p90_h": _round(percentile(b.resolution_h, 0.9)),
        "resolution_median_bh": _round(percentile(b.resolution_bh, 0.5)),
        "resolution_p90_bh": _round(percentile(b.resolution_bh, 0.9)),
        "sla_met": b.sla.get("met", 0),
        "sla_breached": b.sla.get("breached", 0),
        "sla_at_risk": b.sla.get("at_risk", 0),
        "sla_compliance": _round(b.sla.get("met", 0) / decided, 3) if decided else None,
        "chases_per_case": _round(b.chases / b.opened, 3) if b.opened else None,
        "share_chased": _round(b.chased / b.opened, 3) if b.opened else None,
        "duplicates_absorbed": b.duplicates,
        "automation_rate": _round(b.automated / b.opened, 3) if b.opened else None,
    }


def backlog_by_group(
    open_cases: Iterable[dict[str, Any]], now: datetime, by: str | None
) -> list[dict[str, Any]]:
    """Open cases per group: how many, their median and oldest age in hours."""
    ages: dict[str, list[float]] = defaultdict(list)
    for case in open_cases:
        ages[group_value(case, by)].append(_hours(now - case["opened_at"]))
    return [
        {
            "group": group,
            "backlog": len(values),
            "age_median_h": _round(percentile(values, 0.5)),
            "age_max_h": _round(max(values)),
        }
        for group, values in sorted(ages.items())
    ]


def cases_due_soon(
    open_cases: Iterable[dict[str, Any]], now: datetime, hours: float
) -> list[dict[str, Any]]:
    """Open cases not yet breached whose next due date falls within `hours`, soonest first."""
    horizon = now + timedelta(hours=hours)
    due: list[tuple[datetime, dict[str, Any]]] = []
    for case in open_cases:
        pending = [
            d
            for d in (
                None if case.get("first_response_at") else case.get("first_response_due"),
                case.get("resolution_due"),
            )
            if d is not None
        ]
        if pending and now <= min(pending) <= horizon:
            due.append((min(pending), case))
    return [{**case, "due_at": at} for at, case in sorted(due, key=lambda item: item[0])]
