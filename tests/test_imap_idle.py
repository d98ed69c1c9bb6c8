"""IMAP IDLE (issue 15.1) against a real Dovecot: new mail is read as soon as it is signalled.

Each source thread blocks on IDLE between polls; the poll interval stays as the safety net.
The intervals below are 300 s: a test that sees the mail stored within WAIT (60 s) could not
have passed by polling. The waits are bounded hand-offs between threads, never timings.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from structlog.testing import capture_logs

from bot.pipeline import Pipeline
from bot.registry import build_source
from bot.settings import Settings
from bot.stages import DEFAULT_STAGES
from bot.store import Store, open_store
from bot.store.schema import requests
from bot.worker import Worker
from connectors.imap import idle as imap_idle
from connectors.imap.settings import ImapSettings
from connectors.imap.source import ImapSource
from tests.helpers.mail import make_message
from tests.helpers.runtime import RunningWorker
from tests.servers.dovecot import DovecotServer, find_dovecot, free_port

WAIT = 60.0  # an upper bound for a hand-off between threads, not a measured time
SLOW_POLL = 300  # seconds: far beyond WAIT, so only IDLE can store the mail in time
# Dovecot's capabilities without IDLE (what a server lacking RFC 2177 announces).
NO_IDLE = "IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE UIDPLUS MOVE NAMESPACE UNSELECT"


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[Store, str]]:
    """A migrated SQLite store and its URL."""
    url = f"sqlite:///{tmp_path / 'crmbot.db'}"
    store = open_store(url)
    try:
        yield store, url
    finally:
        store.dispose()


@pytest.fixture
def dovecot_without_idle() -> Iterator[DovecotServer]:
    """A running Dovecot that does not announce IDLE."""
    binary = find_dovecot()
    if binary is None:
        pytest.skip("the dovecot binary is missing: apt-get install dovecot-imapd")
    root = Path(tempfile.mkdtemp(prefix="crmbot-dovecot-"))
    server = DovecotServer(root, free_port(), binary=binary, imap_capability=NO_IDLE)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _raw(dovecot: DovecotServer, **extra: Any) -> dict[str, Any]:
    return {
        "type": "imap",
        "host": dovecot.host,
        "port": dovecot.port,
        "security": "plain",
        "username": dovecot.username,
        "password": dovecot.password,
        "timeout_seconds": 5,
        "interval_seconds": SLOW_POLL,
        **extra,
    }


def _worker(dovecot: DovecotServer, store_url: str, store: Store, **extra: Any) -> Worker:
    raw = _raw(dovecot, **extra)
    settings = Settings(
        store={"url": store_url}, sources={"mailbox": raw}, worker={"tick_seconds": 0.2}
    )
    source = build_source("mailbox", raw)
    return Worker(settings, store, {"mailbox": source}, Pipeline(DEFAULT_STAGES))


def _count(store: Store) -> int:
    with store.connect() as conn:
        return conn.execute(select(func.count()).select_from(requests)).scalar_one()


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _seen(logs: list[dict[str, Any]], event: str, **fields: Any) -> int:
    """How many captured log lines are `event` with these fields."""
    return sum(
        1
        for e in list(logs)
        if e["event"] == event and all(e.get(k) == v for k, v in fields.items())
    )


# -- the worker ------------------------------------------------------------------------------


def test_mail_delivered_while_the_source_idles_is_stored_without_waiting_the_poll_interval(
    dovecot: DovecotServer, store: Store, store_url: str
) -> None:
    dovecot.append("INBOX", make_message(subject="Déjà là", sender="a@example.fr"))
    worker = _worker(dovecot, store_url, store)
    with capture_logs() as logs, RunningWorker(worker, WAIT):
        _wait_for(lambda: _seen(logs, "imap_idle_started") >= 1, "the source to enter IDLE")
        assert _count(store) == 1  # the first poll, before IDLE
        dovecot.append("INBOX", make_message(subject="New while idling", sender="b@example.fr"))
        _wait_for(lambda: _count(store) == 2, "the mail signalled by IDLE to be stored")
        # The source went back to IDLE after the poll the signal caused.
        _wait_for(lambda: _seen(logs, "imap_idle_started") >= 2, "the source to idle again")
    assert _seen(logs, "imap_idle_woken", reason="idle_signal") >= 1
    assert worker.sources["mailbox"].health.polls == 2


def test_idle_is_renewed_before_the_servers_timeout_and_still_signals_mail(
    dovecot: DovecotServer, sqlite_store: tuple[Store, str]
) -> None:
    store, url = sqlite_store
    worker = _worker(dovecot, url, store, idle_renew_seconds=1)
    with capture_logs() as logs, RunningWorker(worker, WAIT):
        _wait_for(lambda: _seen(logs, "imap_idle_renewed") >= 2, "two IDLE renewals")
        dovecot.append("INBOX", make_message(subject="Après renouvellement"))
        _wait_for(lambda: _count(store) == 1, "the mail to be stored after renewals")
    assert worker.sources["mailbox"].health.polls == 2  # no poll for the renewals themselves
    assert _seen(logs, "source_wait_interrupted") == 0


def test_a_dropped_idle_connection_reconnects_and_stores_the_mail_that_came_meanwhile(
    dovecot: DovecotServer, sqlite_store: tuple[Store, str]
) -> None:
    store, url = sqlite_store
    worker = _worker(dovecot, url, store)
    with capture_logs() as logs, RunningWorker(worker, WAIT):
        _wait_for(lambda: _seen(logs, "imap_idle_started") >= 1, "the source to enter IDLE")
        dovecot.stop()  # kills every Dovecot process: the IDLE connection drops
        _wait_for(lambda: _seen(logs, "source_wait_interrupted") >= 1, "the drop to be seen")
        dovecot.start()
        dovecot.append("INBOX", make_message(subject="Pendant la coupure"))
        _wait_for(lambda: _count(store) == 1, "the mail to be stored after reconnecting")
        _wait_for(lambda: _seen(logs, "imap_idle_started") >= 2, "the source to idle again")
        dovecot.append("INBOX", make_message(subject="After the outage", sender="z@example.fr"))
        _wait_for(lambda: _count(store) == 2, "IDLE to work on the new connection")
    assert _seen(logs, "imap_idle_reconnect") == 1
    assert _seen(logs, "source_outage") == 0  # the wait reconnected before any poll failed


def test_a_connection_the_server_closes_while_idling_is_reopened_without_losing_mail(
    dovecot: DovecotServer, sqlite_store: tuple[Store, str]
) -> None:
    store, url = sqlite_store
    worker = _worker(dovecot, url, store)
    with capture_logs() as logs, RunningWorker(worker, WAIT):
        _wait_for(lambda: _seen(logs, "imap_idle_started") >= 1, "the source to enter IDLE")
        dovecot.kick()  # doveadm kick: `* BYE` on the IDLE connection, the server stays up
        _wait_for(lambda: _seen(logs, "source_wait_interrupted") >= 1, "the BYE to be seen")
        dovecot.append("INBOX", make_message(subject="Pendant la reconnexion"))
        _wait_for(lambda: _count(store) == 1, "the mail to be stored after reconnecting")
    assert _seen(logs, "imap_idle_reconnect") == 1
    assert _seen(logs, "source_outage") == 0


def test_a_server_without_idle_falls_back_to_polling_on_the_interval(
    dovecot_without_idle: DovecotServer, sqlite_store: tuple[Store, str]
) -> None:
    store, url = sqlite_store
    worker = _worker(dovecot_without_idle, url, store, interval_seconds=1)
    with capture_logs() as logs, RunningWorker(worker, WAIT):
        _wait_for(lambda: _seen(logs, "imap_idle_unsupported") >= 1, "IDLE to be found missing")
        dovecot_without_idle.append("INBOX", make_message(subject="Par relève"))
        _wait_for(lambda: _count(store) == 1, "the mail to be stored by polling")
        _wait_for(lambda: worker.sources["mailbox"].health.polls >= 3, "more polls")
    assert _seen(logs, "imap_idle_unsupported") == 1  # said once, not at every poll
    assert _seen(logs, "imap_idle_started") == 0


def test_a_missed_idle_signal_is_recovered_by_the_interval_poll_from_the_cursor(
    dovecot: DovecotServer, sqlite_store: tuple[Store, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, url = sqlite_store
    monkeypatch.setattr(imap_idle, "signals_new_mail", lambda _responses: False)  # deaf IDLE
    worker = _worker(dovecot, url, store, interval_seconds=2)
    with capture_logs() as logs, RunningWorker(worker, WAIT):
        _wait_for(lambda: _seen(logs, "imap_idle_started") >= 1, "the source to enter IDLE")
        dovecot.append("INBOX", make_message(subject="Signal perdu"))
        _wait_for(lambda: _count(store) == 1, "the interval poll to read the missed mail")
    assert _seen(logs, "imap_idle_woken") == 0  # no signal was heard: the poll found it


def test_wake_source_ends_the_idle_wait_and_polls_at_once(
    dovecot: DovecotServer, sqlite_store: tuple[Store, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, url = sqlite_store
    monkeypatch.setattr(imap_idle, "signals_new_mail", lambda _responses: False)  # deaf IDLE
    worker = _worker(dovecot, url, store)
    assert worker.wake_source("mailbox") is False  # not running yet
    with capture_logs() as logs, RunningWorker(worker, WAIT):
        _wait_for(lambda: _seen(logs, "imap_idle_started") >= 1, "the source to enter IDLE")
        dovecot.append("INBOX", make_message(subject="Webhook"))
        assert worker.wake_source("nowhere") is False
        assert worker.wake_source("mailbox") is True  # what a webhook handler calls
        _wait_for(lambda: _count(store) == 1, "the woken source to poll")


def test_a_stop_ends_an_idle_wait_promptly(
    dovecot: DovecotServer, sqlite_store: tuple[Store, str]
) -> None:
    store, url = sqlite_store
    worker = _worker(dovecot, url, store)  # renewal every 25 minutes: only the stop can end it
    running = RunningWorker(worker, WAIT)
    with capture_logs() as logs:
        with running:
            _wait_for(lambda: _seen(logs, "imap_idle_started") >= 1, "the source to enter IDLE")
        assert not running.thread.is_alive()
    assert _seen(logs, "worker_stopped") == 1


# -- the source ------------------------------------------------------------------------------


def _source(dovecot: DovecotServer, **extra: Any) -> ImapSource:
    return ImapSource("mailbox", _raw(dovecot, **extra))


def _wait_in_thread(source: ImapSource, wake: threading.Event) -> bool | None:
    """Call wait_for_change with a bound: `wake` is set after WAIT so a bug cannot hang."""
    timer = threading.Timer(WAIT, wake.set)
    timer.start()
    try:
        return source.wait_for_change(wake)
    finally:
        timer.cancel()


def test_mail_that_came_between_the_poll_and_the_idle_ends_the_wait_at_once(
    dovecot: DovecotServer,
) -> None:
    source = _source(dovecot)
    try:
        assert list(source.poll(None, 10)) == []
        dovecot.append("INBOX", make_message(subject="Entre deux"))  # no IDLE listening yet
        with capture_logs() as logs:
            assert _wait_in_thread(source, threading.Event()) is True
        assert _seen(logs, "imap_idle_woken", reason="uidnext_moved") == 1
        assert _seen(logs, "imap_idle_started") == 0
    finally:
        source.close()


def test_a_wake_ends_the_sources_wait_and_leaves_the_connection_usable(
    dovecot: DovecotServer,
) -> None:
    source = _source(dovecot)
    wake = threading.Event()
    try:
        list(source.poll(None, 10))
        threading.Timer(0.5, wake.set).start()
        assert _wait_in_thread(source, wake) is False
        dovecot.append("INBOX", make_message(subject="Après le réveil"))
        (batch,) = list(source.poll(None, 10))  # out of IDLE: the same connection polls
        assert len(batch.records) == 1
    finally:
        source.close()


def test_idle_off_or_missing_leaves_the_waiting_to_the_runtime(
    dovecot: DovecotServer, dovecot_without_idle: DovecotServer
) -> None:
    for source in (_source(dovecot, idle=False), _source(dovecot_without_idle)):
        try:
            list(source.poll(None, 10))
            assert source.wait_for_change(threading.Event()) is None
        finally:
            source.close()


def test_idle_renewal_must_come_within_rfc_2177s_29_minutes() -> None:
    base = {"type": "imap", "host": "localhost", "username": "u", "password": "p"}
    assert ImapSettings.model_validate(base).idle_renew_seconds == 25 * 60
    assert ImapSettings.model_validate(base).idle is True
    with pytest.raises(ValidationError, match="idle_renew_seconds"):
        ImapSettings.model_validate({**base, "idle_renew_seconds": 30 * 60})
