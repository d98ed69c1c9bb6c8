"""SLA on a backlog: mail already past its due date when it is read fires sla.breached once,
and `crmbot cases --overdue` lists the overdue cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from bot.app import rules_provider
from bot.cli import app
from bot.store import Store
from bot.store.audit import trail
from bot.store.cases import list_cases
from bot.store.schema import timers
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday 10:00 in Paris
TWO_WEEKS_AGO = NOW - timedelta(days=14)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Facture de novembre fausse", "Bonjour, ma facture de novembre est fausse. Merci."),
        ("Wrong November invoice", "Hello, my November invoice is wrong, please fix it."),
    ],
)
def test_mail_read_after_its_due_date_breaches_once_at_once(
    store: Store, store_url: str, tmp_path: Path, subject: str, body: str
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    deliver(inbox, make_message(subject=subject, body=body, date=TWO_WEEKS_AGO))
    settings = make_settings(store_url, {"inbox": maildir_source(inbox)})
    worker = maildir_worker(settings, store, rules=rules_provider(settings))
    worker.clock = Clock(NOW)
    worker.run_once()  # a first run over an old mailbox
    with store.connect() as conn:
        (case,) = list_cases(conn)
    assert case["first_response_due"] < NOW
    assert "sla:breached" in case["tags"]
    assert any(r["code"] == "escalated" for r in case["reasons"])
    deliver(
        inbox,
        make_message(subject=f"Re: [#{case['reference']}] {subject}", body="Relance.", date=NOW),
    )
    worker.clock.now = NOW + timedelta(hours=1)
    worker.run_once()
    worker.housekeeping()
    with store.connect() as conn:
        (after,) = list_cases(conn)
        fired = [e for e in trail(conn, after["id"]) if e["event"] == "timer_fired"]
        breached = conn.execute(
            select(timers.c.id).where(
                timers.c.event == "sla.breached", timers.c.fired_at.is_not(None)
            )
        ).all()
    assert after["follow_up_count"] == 1
    assert len(fired) == 1 and len(breached) == 1  # once, not again on the chase


def test_fresh_mail_is_not_breached_on_reading(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    deliver(inbox, make_message(subject="Facture", body="Ma facture est fausse.", date=NOW))
    settings = make_settings(store_url, {"inbox": maildir_source(inbox)})
    worker = maildir_worker(settings, store, rules=rules_provider(settings))
    worker.clock = Clock(NOW + timedelta(minutes=5))
    worker.run_once()
    with store.connect() as conn:
        (case,) = list_cases(conn)
    assert "sla:breached" not in case["tags"]


def test_cases_overdue_lists_only_the_open_cases_past_their_due_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    inbox = make_maildir(tmp_path / "inbox")
    now = datetime.now(UTC)
    deliver(inbox, make_message(subject="Old invoice", body="Wrong.", date=now - timedelta(30)))
    deliver(
        inbox,
        make_message(
            subject="New invoice",
            body="Also wrong, another one.",
            sender="other@example.com",
            date=now,
        ),
    )
    path = tmp_path / "crmbot.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "store": {"url": "sqlite:///var/crmbot.db"},
                "log": {"format": "json", "level": "warning"},
                "sources": {"inbox": {"type": "maildir", "path": str(inbox)}},
            }
        )
    )
    runner = CliRunner()
    assert runner.invoke(app, ["run", "--once", "--settings", str(path)]).exit_code == 0
    result = runner.invoke(app, ["cases", "--overdue", "--json", "--settings", str(path)])
    assert result.exit_code == 0, result.output
    overdue = json.loads(result.output)
    assert [c["subject"] for c in overdue] == ["Old invoice"]
    everything = runner.invoke(app, ["cases", "--json", "--settings", str(path)])
    assert len(json.loads(everything.output)) == 2
