"""SLA wake-ups fire at the due instant: the rules run again for sla.warning / sla.breached."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from bot.app import rules_provider
from bot.store import Store, open_store
from bot.store.audit import trail
from bot.store.cases import list_cases
from bot.store.schema import audit, case_requests, timers
from bot.timers import fire_due_timers, next_due
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings
from tests.helpers.stores import postgres_schema_url

MONDAY_9 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 in Paris


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_a_breached_first_response_escalates_the_case_exactly_once(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    deliver(
        inbox,
        make_message(
            subject="Box qui redémarre",  # an incident, not blocking: P3, room to escalate
            date=MONDAY_9,
            body="Ma box redémarre toute seule deux ou trois fois par jour depuis lundi.",
        ),
    )
    settings = make_settings(store_url, {"inbox": maildir_source(inbox)})
    worker = maildir_worker(settings, store, rules=rules_provider(settings))
    clock = Clock(MONDAY_9 + timedelta(minutes=5))
    worker.clock = clock
    worker.run_once()
    with store.connect() as conn:
        (case,) = list_cases(conn)
    due = case["first_response_due"]
    assert due is not None and due > clock.now
    assert next_due(store) is not None and next_due(store) <= due
    clock.now = due - timedelta(seconds=1)
    worker.housekeeping()
    with store.connect() as conn:
        assert "sla:breached" not in list_cases(conn)[0]["tags"]
    clock.now = due + timedelta(seconds=1)
    worker.housekeeping()
    worker.housekeeping()  # a second pass fires nothing again
    with store.connect() as conn:
        (after,) = list_cases(conn)
        events = [e["event"] for e in trail(conn, after["id"])]
        fired = conn.execute(select(timers.c.fired_at).where(timers.c.fired_at.is_not(None)))
        fired_count = len(fired.all())
    assert "sla:breached" in after["tags"] and "sla:warning" not in after["tags"]
    assert after["priority"] < case["priority"]  # "P2" < "P3": escalated one level
    assert events.count("timer_fired") == fired_count >= 1
    assert any(r["code"] == "escalated" for r in after["reasons"])


class _PausingRules:
    """The rule set, whose `pause_at`-th decision waits until `resume` is set."""

    def __init__(self, inner: Any, pause_at: int) -> None:
        self.inner = inner
        self.pause_at = pause_at
        self.calls = 0
        self.paused = threading.Event()
        self.resume = threading.Event()

    def decide(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == self.pause_at:
            self.paused.set()
            self.resume.wait(120)
        return self.inner.decide(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _blocked_by(store: Store, application_name: str) -> bool:
    """True when some backend waits for a lock held by the session of that name."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity waiting, pg_stat_activity holder "
        "WHERE holder.application_name = :name "
        "AND holder.pid = ANY(pg_blocking_pids(waiting.pid))"
    )
    with store.connect() as conn:
        return bool(conn.execute(query, {"name": application_name}).scalar_one())


@pytest.mark.postgres
@pytest.mark.slow
def test_timers_and_a_batch_on_the_same_cases_never_deadlock_and_every_timer_fires_once(
    tmp_path: Path,
) -> None:
    """Timers due in the reverse order of their cases fire while a batch of follow-ups
    updates the same cases (in case id order). The timer transaction is paused near its end
    until the batch waits for one of its cases, then goes on: on PostgreSQL it used to take
    its cases one by one, from the highest id down, and so to need a case the waiting batch
    held: a deadlock, the timer's savepoint rolled back (`timer_failed`), the timer marked
    fired without its effects. The batch's session checks for deadlocks late, so that the
    timer's is the one PostgreSQL would roll back."""
    n = 40
    inbox = make_maildir(tmp_path / "inbox")
    for i in range(n):
        deliver(
            inbox,
            make_message(
                subject=f"Box {i} qui redémarre",
                sender=f"Client {i} <client{i}@example.fr>",
                message_id=f"box-{i}@example.fr",
                date=MONDAY_9,
                body=f"Ma box {i} redémarre toute seule deux ou trois fois par jour.",
            ),
        )
    with postgres_schema_url() as url:
        store = open_store(url + "%20-cdeadlock_timeout%3D60000")
        name = f"crmbot_timers_{uuid.uuid4().hex[:8]}"
        timer_store = open_store(f"{url}&application_name={name}", run_migrations=False)
        try:
            settings = make_settings(
                url, {"inbox": maildir_source(inbox)}, worker={"batch_size": n}
            )
            worker = maildir_worker(settings, store, rules=rules_provider(settings))
            worker.clock = Clock(MONDAY_9 + timedelta(minutes=5))
            assert worker.poll_source("inbox") == n
            with store.begin() as conn:
                rows = conn.execute(select(timers.c.id, timers.c.case_id)).all()
                # due in the reverse order of the cases: timers fired in due order reach
                # their cases from the highest id down, a batch locks its own from the lowest up
                for rank, (timer_id, _) in enumerate(sorted(rows, key=lambda r: -r[1])):
                    due = MONDAY_9 + timedelta(minutes=10, seconds=rank)
                    conn.execute(update(timers).where(timers.c.id == timer_id).values(due_at=due))
            assert len({case_id for _, case_id in rows}) == n and len(rows) > 20
            for i in range(n):
                deliver(
                    inbox,
                    make_message(
                        subject=f"Re: Box {i} qui redémarre",
                        sender=f"Client {i} <client{i}@example.fr>",
                        in_reply_to=f"box-{i}@example.fr",
                        date=MONDAY_9 + timedelta(minutes=6),
                        body=f"Toujours en panne, la box {i}. Merci de faire vite.",
                    ),
                )
            later = MONDAY_9 + timedelta(days=30)
            limit = 100
            pausing = _PausingRules(worker.rules(), pause_at=min(len(rows), limit) - 10)
            errors: list[BaseException] = []

            def fire() -> None:
                try:
                    fire_due_timers(timer_store, settings, lambda: pausing, later, limit)
                except BaseException as exc:  # seen by the assertions below
                    errors.append(exc)

            def ingest() -> None:
                try:
                    worker.poll_source("inbox")
                except BaseException as exc:
                    errors.append(exc)

            timer_thread = threading.Thread(target=fire)
            timer_thread.start()
            assert pausing.paused.wait(120), "the timers never reached the pause"
            ingest_thread = threading.Thread(target=ingest)
            ingest_thread.start()
            for _ in range(1200):  # the batch reached a case the timers hold (2 min at most)
                if _blocked_by(store, name) or not ingest_thread.is_alive():
                    break
                time.sleep(0.1)
            pausing.resume.set()
            timer_thread.join(timeout=120)
            ingest_thread.join(timeout=120)
            assert not errors
            while fire_due_timers(store, settings, worker.rules, later):  # the rest, and new
                pass
            with store.connect() as conn:
                failed = conn.execute(select(audit.c.detail).where(audit.c.event == "timer_failed"))
                assert [row[0] for row in failed] == []
                fired = Counter(
                    (row.case_id, row.detail["trigger"], row.detail["due_at"])
                    for row in conn.execute(
                        select(audit.c.case_id, audit.c.detail).where(
                            audit.c.event == "timer_fired"
                        )
                    )
                )
                due = {
                    (row.case_id, row.event, row.due_at.isoformat())
                    for row in conn.execute(select(timers))
                }
                follow_ups = conn.execute(
                    select(func.count())
                    .select_from(case_requests)
                    .where(case_requests.c.relation == "follow_up")
                ).scalar_one()
            assert follow_ups == n  # the batch did update every case
            assert set(fired) == due and set(fired.values()) == {1}
        finally:
            timer_store.dispose()
            store.dispose()


class _Deadlock(Exception):
    sqlstate = "40P01"  # what psycopg's DeadlockDetected carries


def test_a_timer_whose_transaction_loses_a_deadlock_is_fired_again_not_marked_failed(
    store: Store, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should PostgreSQL still roll the timers back to break a deadlock, the whole
    transaction is redone: the timer fires once, with its effects, and no `timer_failed`."""
    import bot.timers

    inbox = make_maildir(tmp_path / "inbox")
    deliver(inbox, make_message(subject="Box qui redémarre", date=MONDAY_9))
    settings = make_settings(store_url, {"inbox": maildir_source(inbox)})
    worker = maildir_worker(settings, store, rules=rules_provider(settings))
    worker.clock = Clock(MONDAY_9 + timedelta(minutes=5))
    worker.run_once()
    real_fire = bot.timers._fire
    calls = []

    def fire_once_deadlocked(ctx: Any, timer: dict[str, Any]) -> None:
        calls.append(timer["id"])
        if len(calls) == 1:
            raise DBAPIError("UPDATE cases ...", {}, _Deadlock("deadlock detected"))
        real_fire(ctx, timer)

    monkeypatch.setattr(bot.timers, "_fire", fire_once_deadlocked)
    monkeypatch.setattr(bot.timers.time, "sleep", lambda _: None)
    later = MONDAY_9 + timedelta(days=30)
    with store.connect() as conn:
        due = conn.execute(select(func.count()).select_from(timers)).scalar_one()
    assert fire_due_timers(store, settings, worker.rules, later) == due
    with store.connect() as conn:
        events = Counter(row[0] for row in conn.execute(select(audit.c.event)))
        unfired = conn.execute(select(timers).where(timers.c.fired_at.is_(None))).all()
    assert calls[0] == calls[1]  # the deadlocked timer was tried again
    assert events["timer_failed"] == 0
    assert events["timer_fired"] == due and unfired == []
