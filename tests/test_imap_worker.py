"""IMAP through the whole worker, against a real Dovecot: resume, UIDVALIDITY, cap, outage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from structlog.testing import capture_logs

from bot.pipeline import Pipeline
from bot.registry import build_source
from bot.settings import Settings
from bot.stages import DEFAULT_STAGES
from bot.store import Store
from bot.store.requests import quarantined
from bot.store.schema import cases, requests
from bot.worker import Worker
from tests.helpers.mail import make_message
from tests.servers.dovecot import DovecotServer


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _worker(dovecot: DovecotServer, store: Store, store_url: str, **extra: Any) -> Worker:
    raw = {
        "type": "imap",
        "host": dovecot.host,
        "port": dovecot.port,
        "security": "plain",
        "username": dovecot.username,
        "password": dovecot.password,
        "timeout_seconds": 5,
        **extra,
    }
    settings = Settings(store={"url": store_url}, sources={"mailbox": raw})
    source = build_source("mailbox", raw)
    return Worker(settings, store, {"mailbox": source}, Pipeline(DEFAULT_STAGES))


def _count(store: Store, table: Any) -> int:
    with store.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_new_mail_is_read_once_and_a_restarted_worker_resumes_from_the_cursor(
    dovecot: DovecotServer, store: Store, store_url: str
) -> None:
    for i in range(3):
        dovecot.append("INBOX", make_message(subject=f"Demande {i}", sender=f"c{i}@example.fr"))
    first = _worker(dovecot, store, store_url)
    assert first.run_once() == 3
    first.close()
    dovecot.append("INBOX", make_message(subject="Une de plus", sender="c9@example.fr"))
    second = _worker(dovecot, store, store_url)
    assert second.run_once() == 1
    second.close()
    assert _count(store, requests) == 4 and _count(store, cases) == 4


def test_a_recreated_folder_loses_nothing_and_duplicates_nothing(
    dovecot: DovecotServer, store: Store, store_url: str
) -> None:
    folder = "Support"
    dovecot.create_folder(folder)
    old = [make_message(subject=f"Ancien {i}", sender=f"c{i}@example.fr") for i in range(3)]
    for raw in old:
        dovecot.append(folder, raw)
    worker = _worker(dovecot, store, store_url, folder=folder)
    assert worker.run_once() == 3
    worker.close()
    before = dovecot.uidvalidity(folder)
    dovecot.delete_folder(folder)
    dovecot.create_folder(folder)
    assert dovecot.uidvalidity(folder) != before
    for raw in old:  # the same mail, restored after the folder was recreated
        dovecot.append(folder, raw)
    dovecot.append(folder, make_message(subject="Nouveau", sender="new@example.fr"))
    with capture_logs() as logs:
        assert worker.run_once() == 1
    assert any(e["event"] == "source_cursor_reset" for e in logs)
    assert _count(store, requests) == 4 and _count(store, cases) == 4


def test_a_message_over_the_cap_is_quarantined_and_the_next_ones_still_come(
    dovecot: DovecotServer, store: Store, store_url: str
) -> None:
    dovecot.append("INBOX", make_message(body="x" * 6000, subject="Énorme"))
    dovecot.append("INBOX", make_message(subject="Normal"))
    _worker(dovecot, store, store_url, max_message_bytes=3000).run_once()
    with store.connect() as conn:
        (item,) = quarantined(conn)
    assert "over the 3000-byte cap" in item["reason"] and item["raw_size"] > 6000
    assert _count(store, requests) == 1


def test_dovecot_stopping_mid_run_is_one_outage_then_one_recovery(
    dovecot: DovecotServer, store: Store, store_url: str
) -> None:
    worker = _worker(dovecot, store, store_url)
    clock = _Clock()
    worker.clock = clock
    dovecot.append("INBOX", make_message(subject="Avant la panne"))
    with capture_logs() as logs:
        worker.run_once()
        dovecot.stop()
        for _ in range(3):
            clock.now += timedelta(minutes=10)
            worker.run_once()
        dovecot.start()
        dovecot.append("INBOX", make_message(subject="Après la panne", sender="b@example.fr"))
        clock.now += timedelta(minutes=10)
        worker.run_once()
        clock.now += timedelta(minutes=10)
        worker.run_once()
    events = [e["event"] for e in logs]
    assert events.count("source_outage") == 1
    assert events.count("source_recovered") == 1
    assert _count(store, requests) == 2
    worker.close()
