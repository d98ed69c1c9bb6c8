"""The store behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from bot.models import Request, SourceRecord
from bot.store import Store, cursors, open_store, outbox
from bot.store.requests import (
    body_fingerprint,
    find_seen,
    insert_request,
    quarantine_record,
    quarantined,
)
from bot.store.rows import create_case, get_case, link_request
from bot.store.schema import outbox as outbox_table
from bot.store.schema import requests
from tests.helpers.stores import postgres_schema_url

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def _request(source_id: str = "1", message_id: str = "m1@example.com") -> Request:
    return Request(
        source="inbox",
        source_id=source_id,
        channel="email",
        message_id=message_id,
        subject="Facture incorrecte",
        body_text="Bonjour, ma facture est fausse.",
        body_clean="Bonjour, ma facture est fausse.",
        sender_email="jean@example.fr",
        received_at=NOW,
        raw=b"x" * 100,
    )


def test_migrations_are_idempotent(store_url: str) -> None:
    first = open_store(store_url)
    first.dispose()
    second = open_store(store_url)
    with second.connect() as conn:
        assert conn.execute(select(func.count()).select_from(requests)).scalar() == 0
    second.dispose()


def test_cursor_round_trips_and_moves_only_when_saved(store: Store) -> None:
    with store.begin() as conn:
        assert cursors.load_cursor(conn, "inbox") is None
        cursors.save_cursor(conn, "inbox", {"uidvalidity": 7, "last_uid": 42})
    with pytest.raises(RuntimeError), store.begin() as conn:
        cursors.save_cursor(conn, "inbox", {"uidvalidity": 7, "last_uid": 99})
        raise RuntimeError("crash before commit")
    with store.begin() as conn:
        assert cursors.load_cursor(conn, "inbox") == {"uidvalidity": 7, "last_uid": 42}


def test_lease_is_exclusive_until_it_expires_or_is_released(store: Store) -> None:
    with store.begin() as conn:
        assert cursors.acquire_lease(conn, "crm", "replica-a", 60, now=NOW)
        assert not cursors.acquire_lease(conn, "crm", "replica-b", 60, now=NOW)
        assert cursors.acquire_lease(conn, "crm", "replica-a", 60, now=NOW)  # renewal
        later = NOW + timedelta(seconds=61)
        assert cursors.acquire_lease(conn, "crm", "replica-b", 60, now=later)
        cursors.release_lease(conn, "crm", "replica-b")
        assert cursors.acquire_lease(conn, "crm", "replica-a", 60, now=later)


def test_a_request_is_stored_once_per_source_id(store: Store) -> None:
    with store.begin() as conn:
        first = insert_request(conn, _request(), case_id=None, contact_id=None, raw_max_bytes=50)
        again = insert_request(conn, _request(), case_id=None, contact_id=None, raw_max_bytes=50)
        assert first is not None and again is None
        row = conn.execute(select(requests).where(requests.c.id == first)).one()._mapping
        assert row["raw_size"] == 100 and len(row["raw"]) == 50 and row["raw_truncated"]
        assert row["received_at"] == NOW  # aware UTC back, on both databases
        seen = find_seen(conn, "other-box", "77", "m1@example.com")
        assert seen is not None and seen["id"] == first


def test_case_reference_and_counters(store: Store) -> None:
    with store.begin() as conn:
        case = create_case(
            conn,
            prefix="CB",
            subject="s",
            channel="email",
            language="fr",
            contact_id=None,
            opened_at=NOW,
        )
        assert case["reference"] == f"CB-{case['id']}"
        r1 = insert_request(
            conn, _request("1", "a@x"), case_id=case["id"], contact_id=None, raw_max_bytes=10
        )
        r2 = insert_request(
            conn, _request("2", "b@x"), case_id=case["id"], contact_id=None, raw_max_bytes=10
        )
        link_request(conn, case, r1, relation="origin", reason="new", received_at=NOW)
        case = link_request(
            conn,
            get_case(conn, case["id"]),
            r2,
            relation="follow_up",
            reason="In-Reply-To",
            received_at=NOW + timedelta(hours=1),
        )
        assert (case["request_count"], case["follow_up_count"]) == (2, 1)
        assert case["last_request_at"] == NOW + timedelta(hours=1)


def test_quarantine_keeps_the_item_and_its_reason_once(store: Store) -> None:
    record = SourceRecord(source="inbox", source_id="9", kind="email", raw=b"hdr", size=9_000_000)
    with store.begin() as conn:
        assert quarantine_record(conn, record, "over the cap", raw_max_bytes=1000)
        assert not quarantine_record(conn, record, "over the cap", raw_max_bytes=1000)
        (row,) = quarantined(conn)
        assert row["reason"] == "over the cap" and row["raw_size"] == 9_000_000


def test_outbox_key_makes_a_repeat_harmless(store: Store) -> None:
    with store.begin() as conn:
        first = outbox.enqueue(
            conn,
            idempotency_key="CB-1:ack:reply",
            sink="smtp",
            action="send_reply",
            payload={"body": "hi"},
            case_id=None,
        )
        again = outbox.enqueue(
            conn,
            idempotency_key="CB-1:ack:reply",
            sink="smtp",
            action="send_reply",
            payload={"body": "hi"},
            case_id=None,
        )
        assert first is not None and again is None
        assert outbox.counts(conn) == {"pending": 1}


def test_outbox_claims_are_exclusive_and_stalled_claims_come_back(store: Store) -> None:
    with store.begin() as conn:
        for i in range(5):
            outbox.enqueue(
                conn,
                idempotency_key=f"k{i}",
                sink="crm",
                action="add_note",
                payload={},
                case_id=None,
            )
    with store.begin() as conn:
        mine = outbox.claim(conn, "a", limit=3, lease_seconds=300)
    with store.begin() as conn:
        theirs = outbox.claim(conn, "b", limit=10, lease_seconds=-1)  # already stalled
    assert len(mine) == 3 and len(theirs) == 2
    assert not {r["id"] for r in mine} & {r["id"] for r in theirs}
    with store.begin() as conn:
        recovered = outbox.claim(conn, "c", limit=10)
    assert {r["id"] for r in recovered} == {r["id"] for r in theirs}
    assert all(r["attempts"] == 0 for r in mine)  # a claim is not an attempt
    # taking over a stalled claim is: its holder died while performing it
    assert all(r["attempts"] == 1 for r in recovered)
    stalled = [r["id"] for r in theirs]
    for expected in (2, None):
        with store.begin() as conn:
            conn.execute(
                update(outbox_table)
                .where(outbox_table.c.id.in_(stalled))
                .values(claimed_until=datetime.now(UTC) - timedelta(days=1))
            )
            again = outbox.claim(conn, "d", limit=10, max_attempts=3)
        if expected is None:
            assert again == []  # the third death: dead, with why
        else:
            assert [r["attempts"] for r in again] == [expected] * len(stalled)
    with store.connect() as conn:
        dead = outbox.dead_rows(conn)
    assert {r["id"] for r in dead} == {r["id"] for r in theirs}
    assert all("stopped while performing it 3 times" in r["last_error"] for r in dead)


@pytest.mark.postgres
def test_postgres_claims_skip_rows_locked_by_another_replica() -> None:
    with postgres_schema_url() as url:
        _claims_skip_locked_rows(open_store(url))


def _claims_skip_locked_rows(store: Store) -> None:
    with store.begin() as conn:
        for i in range(4):
            outbox.enqueue(
                conn,
                idempotency_key=f"k{i}",
                sink="crm",
                action="add_note",
                payload={},
                case_id=None,
            )
    with store.engine.connect() as first:
        tx = first.begin()
        held = outbox.claim(first, "a", limit=2)  # row locks held until commit
        with store.begin() as second:
            other = outbox.claim(second, "b", limit=10)
        tx.commit()
    assert len(held) == 2 and len(other) == 2
    assert not {r["id"] for r in held} & {r["id"] for r in other}
    store.dispose()


def test_body_fingerprint_ignores_case_and_spacing() -> None:
    assert body_fingerprint("Bonjour,\n  ma  FACTURE") == body_fingerprint("bonjour, ma facture")
    assert body_fingerprint("a") != body_fingerprint("b")
