"""Old requests' raw bytes are let go after `store.raw_retention_days`; what was read from
them (headers, text, sender, case) stays, and so does every newer request's raw mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from structlog.testing import capture_logs

from bot.models import Request
from bot.settings import Settings
from bot.store import Store, retention
from bot.store.requests import insert_request
from bot.store.schema import requests
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def _request(n: int, received_at: datetime) -> Request:
    return Request(
        source="inbox",
        source_id=str(n),
        channel="email",
        message_id=f"m{n}@example.fr",
        subject="Facture incorrecte",
        body_text="Bonjour, ma facture est fausse.",
        body_clean="Bonjour, ma facture est fausse.",
        sender_email="jean@example.fr",
        received_at=received_at,
        raw=b"From: jean@example.fr\r\n\r\n" + b"x" * 1000,
    )


def _stored(store: Store) -> dict[str, tuple[bytes | None, int, str]]:
    with store.begin() as conn:
        rows = conn.execute(
            select(requests.c.source_id, requests.c.raw, requests.c.raw_size, requests.c.body_text)
        ).all()
    return {r.source_id: (r.raw, r.raw_size, r.body_text) for r in rows}


def test_raw_bytes_of_requests_older_than_the_limit_are_dropped_and_the_rest_kept(
    store: Store,
) -> None:
    with store.begin() as conn:
        for n, age in ((1, 200), (2, 91), (3, 10)):
            insert_request(
                conn, _request(n, NOW - timedelta(days=age)), case_id=None, contact_id=None,
                raw_max_bytes=10_000,
            )  # fmt: skip
        assert retention.forget_old_raw(conn, NOW - timedelta(days=90)) == 2
        assert retention.forget_old_raw(conn, NOW - timedelta(days=90)) == 0
    stored = _stored(store)
    assert stored["1"][0] is None and stored["2"][0] is None
    assert stored["3"][0] is not None and stored["3"][0].endswith(b"x" * 1000)
    # the request keeps what it weighed and everything read from it
    assert {s[1] for s in stored.values()} == {len(_request(1, NOW).raw or b"")}
    assert {s[2] for s in stored.values()} == {"Bonjour, ma facture est fausse."}


def test_raw_bytes_are_dropped_a_batch_at_a_time_oldest_first(store: Store) -> None:
    with store.begin() as conn:
        for n in range(1, 6):
            insert_request(
                conn, _request(n, NOW - timedelta(days=100 + n)), case_id=None, contact_id=None,
                raw_max_bytes=10_000,
            )  # fmt: skip
        assert retention.forget_old_raw(conn, NOW, limit=2) == 2
    stored = _stored(store)
    assert [n for n in "12345" if stored[n][0] is None] == ["4", "5"]


def _worker_settings(tmp_path: Path, store_url: str, days: int) -> Settings:
    return Settings(
        store={"url": store_url, "raw_retention_days": days},
        sources={"inbox": maildir_source(tmp_path / "inbox")},
    )


def test_the_worker_drops_old_raw_mail_in_its_housekeeping_and_says_so(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    deliver(inbox, make_message(subject="Facture fausse", body="Ma facture est fausse."))
    worker = maildir_worker(_worker_settings(tmp_path, store_url, 30), store)
    worker.run_once()
    [(raw, _size, _text)] = _stored(store).values()
    assert raw is not None
    worker.clock = lambda: datetime.now(UTC) + timedelta(days=31)
    with capture_logs() as logs:
        worker.fire_timers()
    [(raw, size, _text)] = _stored(store).values()
    assert raw is None and size > 0
    assert [e["requests"] for e in logs if e["event"] == "raw_mail_forgotten"] == [1]


def test_a_retention_of_zero_days_keeps_raw_mail_for_ever(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    deliver(inbox, make_message(subject="Facture fausse", body="Ma facture est fausse."))
    worker = maildir_worker(_worker_settings(tmp_path, store_url, 0), store)
    worker.run_once()
    worker.clock = lambda: datetime.now(UTC) + timedelta(days=3650)
    worker.fire_timers()
    [(raw, _size, _text)] = _stored(store).values()
    assert raw is not None
