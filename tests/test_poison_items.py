"""An item that kills the process while it is handled is quarantined after a few tries."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from bot.store import Store, open_store
from bot.store.requests import quarantined
from bot.store.schema import item_attempts, requests
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings

normalise = importlib.import_module(
    "bot.stages.normalise"
)  # bot.stages.normalise is also a function
MARKER = "POISON-7f3a"


def _count(store: Store, table: object) -> int:
    with store.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _inbox(tmp_path: Path, total: int, poison_at: int) -> Path:
    maildir = make_maildir(tmp_path / "inbox")
    for i in range(total):
        body = f"Bonjour, voici ma demande {i}."
        if i == poison_at:
            body += f" {MARKER}"
        deliver(
            maildir,
            make_message(subject=f"Demande {i}", sender=f"c{i}@example.fr", body=body),
            mtime=1_790_000_000 + i,  # delivery order = message order
        )
    return maildir


class _Died(BaseException):
    """Stands for the process dying: nothing in crmbot catches it, nothing runs after it."""


def test_poison_item_is_quarantined_after_n_deaths_and_the_others_are_stored(
    store: Store, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    maildir = _inbox(tmp_path, total=25, poison_at=13)
    settings = make_settings(
        store_url,
        {"inbox": maildir_source(maildir)},
        worker={"batch_size": 10},
        budget={"poison_attempts": 3},
    )
    parse = normalise.parse_email

    def parse_or_die(raw: bytes, **kwargs: Any) -> Any:
        if MARKER.encode() in raw:
            raise _Died
        return parse(raw, **kwargs)

    monkeypatch.setattr(normalise, "parse_email", parse_or_die)
    deaths = 0
    for _ in range(10):
        worker = maildir_worker(settings, store)  # a fresh process each time
        try:
            worker.run_once()
            break
        except _Died:
            deaths += 1
    assert deaths == 3
    assert _count(store, requests) == 24
    with store.connect() as conn:
        rows = quarantined(conn)
    assert len(rows) == 1
    assert "died 3 times" in rows[0]["reason"]
    # the source moved on: a new mail is stored, the poison one is not tried again
    deliver(maildir, make_message(subject="Après", sender="late@example.fr"))
    maildir_worker(settings, store).run_once()
    assert _count(store, requests) == 25
    # only the quarantined item keeps its attempts row; the innocent ones were cleared
    with store.connect() as conn:
        left = conn.execute(select(item_attempts.c.attempts, item_attempts.c.quarantined_at)).all()
    assert len(left) == 1 and left[0].attempts == 3 and left[0].quarantined_at is not None


def test_an_ordinary_failure_of_a_batch_never_counts_as_a_death(
    store: Store, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    maildir = _inbox(tmp_path, total=5, poison_at=-1)
    settings = make_settings(
        store_url, {"inbox": maildir_source(maildir)}, budget={"poison_attempts": 2}
    )
    from bot.store import cursors

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    for _ in range(4):  # more failures than the limit: still nobody is quarantined
        with monkeypatch.context() as patch:
            patch.setattr(cursors, "save_cursor", broken)
            maildir_worker(settings, store).run_once()
    maildir_worker(settings, store).run_once()
    assert _count(store, requests) == 5
    assert _count(store, item_attempts) == 0
    with store.connect() as conn:
        assert quarantined(conn) == []


@pytest.mark.slow
def test_a_message_that_sigkills_the_worker_is_quarantined_after_three_restarts(
    tmp_path: Path,
) -> None:
    maildir = _inbox(tmp_path, total=25, poison_at=13)
    db = tmp_path / "crmbot.db"
    settings = tmp_path / "crmbot.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "store": {"url": f"sqlite:///{db}"},
                "log": {"format": "json", "level": "warning"},
                "worker": {"batch_size": 10},
                "sources": {"inbox": {"type": "maildir", "path": str(maildir)}},
            }
        )
    )
    env = {
        **os.environ,
        "CRMBOT_SECRETS_DIR": str(tmp_path / "none"),
        "CRMBOT_TEST_KILL_MARKER": MARKER,
    }
    cmd = [sys.executable, "-m", "tests.helpers.killing_worker"]
    run = [*cmd, "run", "--once", "--settings", str(settings)]
    codes = []
    for _ in range(8):
        done = subprocess.run(run, env=env, capture_output=True, timeout=300)
        codes.append(done.returncode)
        if done.returncode != -signal.SIGKILL:
            break
    assert codes == [-signal.SIGKILL] * 3 + [0], codes
    store = open_store(f"sqlite:///{db}", run_migrations=False)
    try:
        assert _count(store, requests) == 24
        with store.connect() as conn:
            rows = quarantined(conn)
        assert [r["reason"].startswith("poison item") for r in rows] == [True]
    finally:
        store.dispose()
    shown = subprocess.run(
        [*cmd, "quarantine", "--settings", str(settings)], env=env, capture_output=True, timeout=120
    )
    assert shown.returncode == 0
    assert "poison item" in shown.stdout.decode()
    again = subprocess.run(run, env=env, capture_output=True, timeout=300)
    assert again.returncode == 0  # the source has moved on: the mail is not read again


def test_the_migrations_create_the_schema_as_declared_item_attempts_included(
    store: Store,
) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from bot.store.engine import head_revision
    from bot.store.schema import metadata

    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        assert context.get_current_revision() == head_revision()  # 0002 or a later one
