"""SLA wake-ups fire at the due instant: the rules run again for sla.warning / sla.breached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.app import rules_provider
from bot.store import Store
from bot.store.audit import trail
from bot.store.cases import list_cases
from bot.store.schema import timers
from bot.timers import next_due
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings

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
