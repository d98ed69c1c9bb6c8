"""SLA wake-ups: at the exact instant a timer is due, the rules run again for that event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select, update

from bot.models import SourceRecord
from bot.pipeline import StageContext, Work
from bot.settings import Settings
from bot.stages.decide import decide
from bot.stages.outbox import plan_actions
from bot.status import is_open
from bot.store import Store, audit
from bot.store.cases import get_case
from bot.store.contacts import get_contact
from bot.store.requests import request_from_row, requests_of_case
from bot.store.schema import timers

log = structlog.get_logger(__name__)


def next_due(store: Store) -> datetime | None:
    """When the next timer is due, or None."""
    with store.connect() as conn:
        return conn.execute(
            select(timers.c.due_at).where(timers.c.fired_at.is_(None)).order_by(timers.c.due_at)
        ).scalar()


def fire_due_timers(
    store: Store, settings: Settings, rules: Callable[[], Any], now: datetime, limit: int = 100
) -> int:
    """Run the rules for every due timer (sla.warning, sla.breached); returns how many fired.

    Timers are claimed with SKIP LOCKED on PostgreSQL, so that two replicas never fire the
    same one; each runs in a savepoint, so that one failing timer does not hold back the rest.
    """
    with store.begin() as conn:
        query = (
            select(timers)
            .where(timers.c.fired_at.is_(None), timers.c.due_at <= now)
            .order_by(timers.c.due_at)
            .limit(limit)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        due = [dict(r._mapping) for r in conn.execute(query)]
        if not due:
            return 0
        ctx = StageContext(conn=conn, settings=settings, now=now, log=log, rules=rules())
        for timer in due:
            conn.execute(
                update(timers)
                .where(timers.c.id == timer["id"], timers.c.fired_at.is_(None))
                .values(fired_at=now)
            )
            savepoint = conn.begin_nested()
            try:
                _fire(ctx, timer)
                savepoint.commit()
            except Exception as exc:  # recorded, and the timer is not retried in a loop
                savepoint.rollback()
                log.error("timer_failed", timer=timer["id"], error=f"{type(exc).__name__}: {exc}")
                audit.record(
                    conn,
                    "timer_failed",
                    case_id=timer["case_id"],
                    trigger=timer["event"],
                    error=f"{type(exc).__name__}: {exc}"[:500],
                )
    return len(due)


def _fire(ctx: StageContext, timer: dict[str, Any]) -> None:
    conn = ctx.conn
    case = get_case(conn, timer["case_id"])
    if case is None or not is_open(case["status"]) or case["merged_into"]:
        return
    rows = requests_of_case(conn, case["id"])
    if not rows:
        return
    req = request_from_row(rows[-1])
    record = SourceRecord(source=req.source, source_id=req.source_id, kind="email")
    work = Work(
        record=record,
        request=req,
        case=case,
        events=[timer["event"]],
        timer_due_at=timer["due_at"],
    )
    if case["contact_id"] is not None:
        work.contact = get_contact(conn, case["contact_id"])
    audit.record(
        conn,
        "timer_fired",
        case_id=case["id"],
        trigger=timer["event"],
        due_at=timer["due_at"].isoformat(),
    )
    log.info("timer_fired", case=case["reference"], trigger=timer["event"])
    if ctx.rules is not None:
        decided = decide(ctx, work)
        if decided is not None:
            plan_actions(ctx, decided)
