"""A store outage is logged once and its recovery once, not an error per part and per tick."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from bot.store import open_store
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings


def test_a_store_outage_is_logged_once_and_its_recovery_once(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    url = f"sqlite:///{folder / 'crmbot.db'}"
    store = open_store(url)
    inbox = make_maildir(tmp_path / "inbox")
    deliver(inbox, make_message(subject="Avant la panne"))
    worker = maildir_worker(make_settings(url, {"inbox": maildir_source(inbox)}), store)
    worker.run_once()
    try:
        with capture_logs() as logs:
            folder.rename(tmp_path / "away")  # the database is gone: every query fails
            for _ in range(5):
                worker.housekeeping()
            (tmp_path / "away").rename(folder)
            for _ in range(3):
                worker.housekeeping()
    finally:
        store.dispose()
    errors = [e["event"] for e in logs if e["log_level"] in ("error", "critical")]
    events = [e["event"] for e in logs]
    assert errors == ["store_outage"]
    assert events.count("store_recovered") == 1
    assert "housekeeping_failed" not in events
