"""The worker contains failures: a source down does not stop the others; kill -9 loses nothing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from structlog.testing import capture_logs

from bot.store import Store, open_store
from bot.store.schema import cases, requests
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings


class StepClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _count(store: Store, table: object) -> int:
    with store.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_failing_source_does_not_stop_the_others_and_is_logged_once(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    good, bad = make_maildir(tmp_path / "good"), make_maildir(tmp_path / "bad")
    settings = make_settings(store_url, {"bad": maildir_source(bad), "good": maildir_source(good)})
    worker = maildir_worker(settings, store)
    hidden = tmp_path / "hidden"
    bad.rename(hidden)
    clock = StepClock()
    worker.clock = clock
    with capture_logs() as logs:
        for i in range(3):
            deliver(good, make_message(subject=f"Toujours là {i}"))
            worker.run_once()
            clock.advance(400)  # past any backoff
        hidden.rename(bad)
        deliver(bad, make_message(subject="De retour"))
        worker.run_once()
        clock.advance(400)
        worker.run_once()
    events = [e["event"] for e in logs if e.get("source") == "bad"]
    assert events.count("source_outage") == 1
    assert events.count("source_recovered") == 1
    assert _count(store, requests) == 4


def _settings_file(tmp_path: Path, maildir: Path, db: Path) -> Path:
    path = tmp_path / "crmbot.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "store": {"url": f"sqlite:///{db}"},
                "log": {"format": "json", "level": "warning"},
                "http": {"port": 0},  # a port of its own: replicas side by side
                "worker": {"batch_size": 10},
                "sources": {"inbox": {"type": "maildir", "path": str(maildir)}},
            }
        )
    )
    return path


@pytest.mark.slow
def test_kill_9_mid_run_then_restart_gives_each_message_exactly_one_request(
    tmp_path: Path,
) -> None:
    maildir = make_maildir(tmp_path / "inbox")
    total = 400
    for i in range(total):
        deliver(
            maildir,
            make_message(
                subject=f"Demande numéro {i}",
                sender=f"c{i}@example.fr",
                body=f"Bonjour, voici ma demande {i}.",
            ),
        )
    db = tmp_path / "crmbot.db"
    settings = _settings_file(tmp_path, maildir, db)
    cmd = [sys.executable, "-m", "bot.cli", "run", "--once", "--settings", str(settings)]
    env = {**os.environ, "CRMBOT_SECRETS_DIR": str(tmp_path / "none")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = None
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if db.exists():
                store = store or open_store(f"sqlite:///{db}", run_migrations=False)
                try:
                    if _count(store, requests) >= 50:
                        break
                except Exception:  # tables not created yet
                    pass
            if proc.poll() is not None:
                pytest.fail(f"worker ended before the kill: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert store is not None
        killed_at = _count(store, requests)
        assert killed_at < total, "the kill came too late to prove anything"
        rerun = subprocess.run(cmd, env=env, capture_output=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
        assert _count(store, requests) == total
        assert _count(store, cases) == total
        with store.connect() as conn:
            distinct = conn.execute(
                select(func.count(func.distinct(requests.c.message_id)))
            ).scalar()
        assert distinct == total
    finally:
        if proc.poll() is None:
            proc.kill()
        if store is not None:
            store.dispose()
        shutil.rmtree(tmp_path / "inbox", ignore_errors=True)


@pytest.mark.slow
def test_sigterm_stops_after_the_current_batch_and_a_restart_finishes_the_rest(
    tmp_path: Path,
) -> None:
    maildir = make_maildir(tmp_path / "inbox")
    total = 300
    for i in range(total):
        deliver(maildir, make_message(subject=f"Question {i}", sender=f"t{i}@example.fr"))
    db = tmp_path / "crmbot.db"
    settings = _settings_file(tmp_path, maildir, db)
    env = {**os.environ, "CRMBOT_SECRETS_DIR": str(tmp_path / "none")}
    base = [sys.executable, "-m", "bot.cli", "run", "--settings", str(settings)]
    proc = subprocess.Popen(base, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if db.exists():
                store = store or open_store(f"sqlite:///{db}", run_migrations=False)
                try:
                    if _count(store, requests) >= 20:
                        break
                except Exception:  # tables not created yet
                    pass
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr.decode()[-2000:]
        assert store is not None
        stopped_at = _count(store, requests)
        assert stopped_at % 10 == 0  # whole batches only: the current unit was finished
        rerun = subprocess.run([*base, "--once"], env=env, capture_output=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
        assert _count(store, requests) == total
    finally:
        if proc.poll() is None:
            proc.kill()
        if store is not None:
            store.dispose()
