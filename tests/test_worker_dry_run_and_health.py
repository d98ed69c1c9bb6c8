"""A dry-run worker reads each message once, stores nothing; a lost health file is logged once."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from structlog.testing import capture_logs

from bot.app import rules_provider
from bot.store import Store
from bot.store.schema import requests
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings


def test_a_dry_run_worker_reads_each_message_once_and_says_it_stored_nothing(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    for n in range(3):
        deliver(inbox, make_message(subject=f"Facture {n}", body=f"Ma facture {n} est fausse."))
    settings = make_settings(store_url, {"inbox": maildir_source(inbox)}, dry_run=True)
    worker = maildir_worker(settings, store, rules=rules_provider(settings))
    with capture_logs() as logs:
        first = worker.poll_source("inbox")
        second = worker.poll_source("inbox")  # the next interval: nothing new to plan
        deliver(inbox, make_message(subject="Nouvelle", body="Une nouvelle demande, merci."))
        third = worker.poll_source("inbox")
    assert (first, second, third) == (3, 0, 1)
    events = [e["event"] for e in logs]
    assert "request_stored" not in events and events.count("dry_run_request") == 4
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(requests)).scalar_one() == 0


def test_a_health_file_that_cannot_be_written_any_more_is_logged_once_then_its_recovery(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    health = tmp_path / "health" / "stamp"
    settings = make_settings(
        store_url, {"inbox": maildir_source(inbox)}, worker={"health_file": str(health)}
    )
    worker = maildir_worker(settings, store, rules=rules_provider(settings))
    worker.housekeeping()
    assert health.is_file()
    health.unlink()
    health.mkdir()  # writing the stamp now fails (even as root): IsADirectoryError
    with capture_logs() as logs:
        for _ in range(5):
            worker.housekeeping()
        health.rmdir()
        worker.housekeeping()
        worker.housekeeping()
    events = [e["event"] for e in logs]
    assert events.count("health_file_not_written") == 1
    assert events.count("health_file_written_again") == 1
    assert health.is_file()
