"""SLA wake-ups: at the exact instant a timer is due, the rules run again for that event."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError

from bot.pipeline import Pipeline, StageContext, Work
from bot.settings import Settings
from bot.stages import EVENT_STAGES
from bot.status import is_open
from bot.store import Store, audit
from bot.store import timers as timer_store
from bot.store.cases import get_case, lock_cases
from bot.store.contacts import get_contact
from bot.store.requests import request_from_row, requests_of_case
from bot.store.sql import lost_a_lock_race
from connectors.base import ConnectorSettings
from connectors.kit.writeback import WriteBackSettings

log = structlog.get_logger(__name__)
EVENTS = Pipeline(EVENT_STAGES)
LOCK_RACE_RETRIES = 5  # transactions redone after PostgreSQL broke a deadlock with them


def next_due(store: Store) -> datetime | None:
    """When the next timer is due, or None."""
    with store.connect() as conn:
        return timer_store.next_due_at(conn)


def fire_due_timers(
    store: Store,
    settings: Settings,
    rules: Callable[[], Any],
    now: datetime,
    limit: int = 100,
    *,
    sources: dict[str, ConnectorSettings] | None = None,
    routes: WriteBackSettings | None = None,
) -> int:
    """Run the rules for every due timer (sla.warning, sla.breached); returns how many fired.

    Timers are claimed with SKIP LOCKED on PostgreSQL, so that two replicas never fire the
    same one; each runs in a savepoint, so that one failing timer does not hold back the rest.
    Their cases are locked first, in case id order, as a batch of mail locks its own; should
    PostgreSQL still break a deadlock (or a serialization failure) by rolling us back, the
    whole transaction is redone after a short random pause: no timer is marked fired without
    its effects.
    """
    for attempt in range(1, LOCK_RACE_RETRIES + 2):
        try:
            return _fire_due(store, settings, rules, now, limit, sources or {}, routes)
        except DBAPIError as exc:
            if attempt > LOCK_RACE_RETRIES or not lost_a_lock_race(exc):
                raise
            log.warning("timers_deadlock_redone", attempt=attempt)
            time.sleep(random.uniform(0.05, 0.25) * attempt)  # the two sides part ways
    raise AssertionError("unreachable")


def _fire_due(
    store: Store,
    settings: Settings,
    rules: Callable[[], Any],
    now: datetime,
    limit: int,
    sources: dict[str, ConnectorSettings],
    routes: WriteBackSettings | None,
) -> int:
    """One transaction: claim the due timers, lock their cases, fire each in a savepoint."""
    with store.begin() as conn:
        due = timer_store.claim_due(conn, now, limit)
        if not due:
            return 0
        lock_cases(conn, [timer["case_id"] for timer in due])
        ctx = StageContext(
            conn=conn,
            settings=settings,
            now=now,
            log=log,
            rules=rules(),
            sources=sources,
            routes=routes,
        )
        for timer in due:
            timer_store.mark_fired(conn, timer["id"], now)
            savepoint = conn.begin_nested()
            try:
                _fire(ctx, timer)
                savepoint.commit()
            except Exception as exc:  # recorded, and the timer is not retried in a loop
                savepoint.rollback()
                if isinstance(exc, DBAPIError) and lost_a_lock_race(exc):
                    raise  # the whole transaction is redone: this timer must still fire
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
    if case is None or not is_open(case.status) or case.merged_into:
        return
    rows = requests_of_case(conn, case.id)
    if not rows:
        return
    # The same decide and plan stages as a request read from a source: no record was read.
    work = Work(
        record=None,
        request=request_from_row(rows[-1]),
        case=case,
        events=[timer["event"]],
        timer_due_at=timer["due_at"],
    )
    if case.contact_id is not None:
        work.contact = get_contact(conn, case.contact_id)
    audit.record(
        conn,
        "timer_fired",
        case_id=case.id,
        trigger=timer["event"],
        due_at=timer["due_at"].isoformat(),
    )
    log.info("timer_fired", case=case.reference, trigger=timer["event"])
    if ctx.rules is not None:
        EVENTS.run(ctx, work)
