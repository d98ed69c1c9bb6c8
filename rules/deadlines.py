"""The SLA of a case under its policy, and the timers (wake-ups) for the instants ahead."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rules.calendar import BusinessCalendar
from rules.compiled import CompiledPolicy
from rules.decision import Wakeup
from rules.operators import as_datetime
from rules.sla import SlaResult, compute_sla


def case_sla(
    work: dict[str, Any],
    policy: CompiledPolicy,
    priority: str,
    calendar: BusinessCalendar,
    paused_statuses: set[str],
    warning_ratio: float,
    now: datetime,
) -> SlaResult:
    """The SLA of the case: from its creation, paused while in a paused status."""
    case, request = work["case"], work["request"]
    start = as_datetime(case.get("created_at")) or as_datetime(request.get("received_at")) or now
    pauses: list[tuple[datetime, datetime | None]] = []
    for item in case.get("pauses") or []:
        begin = as_datetime(item[0]) if len(item) > 0 else None
        end = as_datetime(item[1]) if len(item) > 1 and item[1] is not None else None
        if begin is not None:
            pauses.append((begin, end))
    if case.get("status") in paused_statuses and not any(e is None for _, e in pauses):
        pauses.append((as_datetime(case.get("updated_at")) or now, None))
    return compute_sla(
        policy.id,
        priority,
        policy.targets[priority],
        calendar,
        start,
        pauses,
        warning_ratio,
        now=now,
    )


def wakeups(
    work: dict[str, Any],
    sla: SlaResult | None,
    policy: CompiledPolicy,
    paused_statuses: set[str],
    now: datetime,
    event: str = "case.created",
) -> list[Wakeup]:
    """Timers for the SLA instants still ahead; and, for a request read after its due
    date (a first run, a catch-up after an outage), one sla.breached due at once."""
    case = work["case"]
    if sla is None or case.get("status") in paused_statuses:
        return []
    out = []
    if sla.warning_at is not None and sla.warning_at > now:
        out.append(Wakeup(sla.warning_at, "sla.warning", policy.id, "first_response"))
    if sla.first_response_due > now:
        out.append(Wakeup(sla.first_response_due, "sla.breached", policy.id))
    if sla.resolution_due > now:
        out.append(Wakeup(sla.resolution_due, "sla.breached", policy.id, "resolution"))
    first_decision = not case.get("first_response_due") and not case.get("resolution_due")
    if first_decision and not event.startswith("sla.") and sla.first_response_due <= now:
        if sla.resolution_due <= now:
            out.append(Wakeup(sla.resolution_due, "sla.breached", policy.id, "resolution"))
        else:
            out.append(Wakeup(sla.first_response_due, "sla.breached", policy.id))
    return out
