"""Isolation (issue 8.5): each source, the dispatcher and the timers run on their own thread.

A slow CRM delays nobody else, acknowledgements leave while a backlog is still being read,
and a thread that crashes is logged and restarted by the supervisor. The waits below are
bounded hand-offs between threads (events), never timing assertions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from bot.app import rules_provider
from bot.registry import build_sink, build_source
from bot.store import Store, open_store
from bot.store.schema import requests
from bot.worker import Worker
from connectors.base import Batch, Cursor
from tests.fakes.hubspot import FakeHubSpot
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import RunningWorker, maildir_source, maildir_worker, make_settings
from tests.servers.smtp import PASSWORD, USERNAME, running_smtp

WAIT = 60.0  # an upper bound for a hand-off between threads, not a measured time


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _count(store: Store) -> int:
    with store.connect() as conn:
        return conn.execute(select(func.count()).select_from(requests)).scalar_one()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[Store, str]]:
    """A migrated SQLite store and its URL."""
    url = f"sqlite:///{tmp_path / 'crmbot.db'}"
    store = open_store(url)
    try:
        yield store, url
    finally:
        store.dispose()


class SlowHubSpot(FakeHubSpot):
    """A HubSpot that answers only when the test releases it (a CRM taking its time)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.release = threading.Event()
        self.waiting = threading.Event()

    def handle(self, method: str, path: str, *args: Any) -> Any:
        """Hold every request until released (at most WAIT seconds)."""
        self.waiting.set()
        self.release.wait(WAIT)
        return super().handle(method, path, *args)


def test_a_slow_crm_source_does_not_delay_mail_from_a_maildir_source(
    sqlite_store: tuple[Store, str], tmp_path: Path
) -> None:
    store, url = sqlite_store
    inbox = make_maildir(tmp_path / "inbox")
    with SlowHubSpot(search_lag=0.0) as crm:
        settings = make_settings(
            url,
            {
                # the CRM first: a shared loop would poll it before the mailbox
                "crm": {
                    "type": "hubspot",
                    "base_url": crm.url,
                    "token": crm.token,
                    "search_lag_seconds": 0,
                    "interval_seconds": 1,
                },
                "inbox": maildir_source(inbox),
            },
            worker={"tick_seconds": 0.2},
        )
        worker = maildir_worker(settings, store)
        try:
            with RunningWorker(worker, WAIT):
                assert crm.waiting.wait(WAIT), "the CRM was never polled"
                deliver(inbox, make_message(subject="Compteur bloqué"))
                _wait_for(lambda: _count(store) == 1, "the mail to be stored")
                assert worker.sources["crm"].health.polls == 0  # its poll is still waiting
                crm.release.set()
        finally:
            crm.release.set()


class GatedSource:
    """Wraps a source: after `open_batches` batches, waits for the test to open the gate."""

    def __init__(self, inner: Any, open_batches: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.open_batches = open_batches
        self.gate = threading.Event()
        self.held = threading.Event()

    def check(self) -> str:
        """The wrapped source's check."""
        return str(self.inner.check())

    def poll(self, cursor: Cursor | None, batch_size: int) -> Iterator[Batch]:
        """The wrapped batches; mid-backlog, hold until the gate opens."""
        for n, batch in enumerate(self.inner.poll(cursor, batch_size)):
            if n == self.open_batches:
                self.held.set()
                self.gate.wait(WAIT)
            yield batch

    def close(self) -> None:
        """Close the wrapped source."""
        self.inner.close()


def test_acknowledgements_leave_before_a_large_backlog_finishes_ingesting(
    sqlite_store: tuple[Store, str], tmp_path: Path
) -> None:
    store, url = sqlite_store
    inbox = make_maildir(tmp_path / "inbox")
    total = 60
    for i in range(total):
        deliver(
            inbox,
            make_message(
                subject=f"Facture fausse n°{i}",
                body=f"Bonjour, ma facture {1000 + i} est fausse : {i + 90} € au lieu de 95 €.",
                sender=f"client{i}@client.example",
            ),
        )
    with running_smtp() as server:
        settings = make_settings(
            url,
            {"inbox": maildir_source(inbox)},
            sinks={
                "mail": {
                    "type": "smtp",
                    "host": "127.0.0.1",
                    "port": server.port,
                    "security": "plain",
                    "username": USERNAME,
                    "password": PASSWORD,
                    "from_address": "support@acme-energie.fr",
                    "timeout_seconds": 5,
                    "max_per_minute": 10_000,
                }
            },
            worker={"batch_size": 10, "tick_seconds": 0.2},
        )
        source, conf = build_source("inbox", settings.sources["inbox"])
        gated = GatedSource(source, open_batches=2)
        worker = Worker(
            settings,
            store,
            {"inbox": (gated, conf)},  # type: ignore[dict-item]
            maildir_worker(settings, store).pipeline,
            sinks={"mail": build_sink("mail", settings.sinks["mail"])[0]},
            rules=rules_provider(settings),
        )
        try:
            with RunningWorker(worker, WAIT):
                assert gated.held.wait(WAIT), "the backlog never reached the gate"
                _wait_for(lambda: len(server.messages) > 0, "a first acknowledgement")
                assert _count(store) < total  # the backlog is still being read
                gated.gate.set()
                _wait_for(lambda: len(server.messages) == total, "every acknowledgement")
        finally:
            gated.gate.set()
    assert _count(store) == total


def test_a_thread_that_crashes_is_logged_and_restarted_by_the_supervisor(
    sqlite_store: tuple[Store, str], tmp_path: Path
) -> None:
    store, url = sqlite_store
    inbox = make_maildir(tmp_path / "inbox")
    deliver(inbox, make_message(subject="Après le plantage"))
    settings = make_settings(url, {"inbox": maildir_source(inbox)}, worker={"tick_seconds": 0.2})
    worker = maildir_worker(settings, store)
    real_poll = worker.poll_source
    calls: list[str] = []

    def crash_once(name: str) -> int:
        calls.append(name)
        if len(calls) == 1:
            raise SystemError("a bug outside the source's own error handling")
        return real_poll(name)

    worker.poll_source = crash_once  # type: ignore[method-assign]
    with capture_logs() as logs, RunningWorker(worker, WAIT):
        _wait_for(lambda: _count(store) == 1, "the mail to be stored by the restarted thread")
    events = [(e["event"], e.get("unit")) for e in logs]
    assert ("worker_thread_crashed", "source:inbox") in events
    assert ("worker_thread_restarted", "source:inbox") in events


def test_sources_writing_together_on_sqlite_lose_nothing_and_never_see_a_locked_database(
    sqlite_store: tuple[Store, str], tmp_path: Path
) -> None:
    store, url = sqlite_store
    boxes = {f"box{n}": make_maildir(tmp_path / f"box{n}") for n in range(4)}
    for name, box in boxes.items():
        for i in range(40):
            deliver(
                box,
                make_message(
                    subject=f"{name} demande {i}",
                    body=f"Bonjour, voici la demande {i} de {name}.",
                    sender=f"{name}-{i}@client.example",
                ),
            )
    settings = make_settings(
        url,
        {name: maildir_source(box) for name, box in boxes.items()},
        worker={"batch_size": 5, "tick_seconds": 0.2},
    )
    worker = maildir_worker(settings, store)
    with capture_logs() as logs, RunningWorker(worker, WAIT):
        _wait_for(lambda: _count(store) == 160, "every mail of the four sources")
    problems = [e for e in logs if e["log_level"] in ("error", "warning")]
    assert problems == []
    assert all(s.health.failing_since is None for s in worker.sources.values())
