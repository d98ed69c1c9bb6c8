"""From a Maildir to stored, explained cases: exact threading, dedup of re-reads, containment."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.store import Store
from bot.store.audit import trail
from bot.store.cases import list_cases
from bot.store.requests import quarantined
from bot.store.schema import cases, requests
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings


def _count(store: Store, table: object) -> int:
    with store.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _cases(store: Store) -> list[dict]:
    with store.connect() as conn:
        return sorted(list_cases(conn), key=lambda c: c["id"])


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    return make_maildir(tmp_path / "inbox")


def test_each_new_message_opens_one_case_and_a_rerun_changes_nothing(
    store: Store, store_url: str, inbox: Path
) -> None:
    for i in range(5):
        deliver(inbox, make_message(subject=f"Demande {i}", sender=f"client{i}@example.fr"))
    settings = make_settings(store_url, {"inbox": maildir_source(inbox)})
    worker = maildir_worker(settings, store)
    assert worker.run_once() == 5
    assert worker.run_once() == 0
    assert _count(store, requests) == 5 and _count(store, cases) == 5
    assert [c["reference"] for c in _cases(store)] == [f"CB-{c['id']}" for c in _cases(store)]


def test_reply_headers_attach_to_the_case_and_count_a_follow_up(
    store: Store, store_url: str, inbox: Path
) -> None:
    deliver(inbox, make_message(message_id="orig@example.fr", subject="Coupure de courant"))
    deliver(
        inbox,
        make_message(
            message_id="r1@example.fr",
            in_reply_to="orig@example.fr",
            subject="Re: Coupure de courant",
            body="Je relance, toujours rien.",
        ),
    )
    deliver(
        inbox,
        make_message(
            message_id="r2@example.fr",
            references=["orig@example.fr", "r1@example.fr"],
            subject="RE: Coupure",
            body="2e relance !",
        ),
    )
    worker = maildir_worker(make_settings(store_url, {"inbox": maildir_source(inbox)}), store)
    worker.run_once()
    (case,) = _cases(store)
    assert (case["request_count"], case["follow_up_count"]) == (3, 2)
    with store.connect() as conn:
        events = [e["event"] for e in trail(conn, case["id"])]
        reasons = [e["detail"].get("reasons") for e in trail(conn, case["id"])]
    assert events == ["case_opened", "request_attached", "request_attached"]
    assert "In-Reply-To" in str(reasons[1]) and "References" in str(reasons[2])


def test_a_case_reference_in_the_subject_attaches_mail_from_the_same_contact(
    store: Store, store_url: str, inbox: Path
) -> None:
    deliver(inbox, make_message(subject="Facture incorrecte"))
    worker = maildir_worker(make_settings(store_url, {"inbox": maildir_source(inbox)}), store)
    worker.run_once()
    ref = _cases(store)[0]["reference"]
    deliver(inbox, make_message(subject=f"Re: [#{ref}] Facture incorrecte", body="Et alors ?"))
    worker.run_once()
    (case,) = _cases(store)
    assert case["request_count"] == 2 and case["follow_up_count"] == 1


def test_a_case_reference_quoted_by_someone_else_is_flagged_not_merged(
    store: Store, store_url: str, inbox: Path
) -> None:
    deliver(inbox, make_message(subject="Facture incorrecte"))
    worker = maildir_worker(make_settings(store_url, {"inbox": maildir_source(inbox)}), store)
    worker.run_once()
    ref = _cases(store)[0]["reference"]
    deliver(inbox, make_message(subject=f"Re: [#{ref}] Facture", sender="autre@example.com"))
    worker.run_once()
    first, second = _cases(store)
    assert first["request_count"] == 1 and second["request_count"] == 1
    with store.connect() as conn:
        detail = trail(conn, second["id"])[0]["detail"]
    assert any(r["code"] == "foreign_reference" for r in detail["reasons"])


def test_the_same_message_in_two_mailboxes_is_one_request(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    a, b = make_maildir(tmp_path / "a"), make_maildir(tmp_path / "b")
    raw = make_message(message_id="shared@example.fr")
    deliver(a, raw)
    deliver(b, raw)
    sources = {"a": maildir_source(a), "b": maildir_source(b)}
    maildir_worker(make_settings(store_url, sources), store).run_once()
    assert _count(store, requests) == 1 and _count(store, cases) == 1


def test_auto_replies_and_bounces_are_stored_without_opening_a_case(
    store: Store, store_url: str, inbox: Path
) -> None:
    deliver(
        inbox,
        make_message(
            subject="Réponse automatique : absence du bureau",
            headers={"Auto-Submitted": "auto-replied"},
        ),
    )
    deliver(
        inbox,
        make_message(
            subject="Undelivered Mail Returned to Sender", sender="MAILER-DAEMON@mx.example.fr"
        ),
    )
    maildir_worker(make_settings(store_url, {"inbox": maildir_source(inbox)}), store).run_once()
    assert _count(store, requests) == 2 and _count(store, cases) == 0


def test_a_message_over_the_cap_is_quarantined_with_its_reason(
    store: Store, store_url: str, inbox: Path
) -> None:
    deliver(inbox, make_message(body="x" * 5000, subject="Pièce jointe énorme"))
    deliver(inbox, make_message(subject="Petit message"))
    settings = make_settings(store_url, {"inbox": maildir_source(inbox, max_message_bytes=3000)})
    maildir_worker(settings, store).run_once()
    with store.connect() as conn:
        (item,) = quarantined(conn)
    assert "over the 3000-byte cap" in item["reason"]
    assert _count(store, cases) == 1


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\x01\x02 not a mail at all \xff\xfe",
        b"From: =?x-unknown?Q?=E9t=E9?= <a@b>\nSubject: \xe9\xe9\nContent-Type: text/plain; "
        b"charset=x-bogus\n\n\xe9t\xe9 \x00",
        b"Content-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: text/html\n\n<p>hi",
    ],
)
def test_malformed_mail_never_stops_the_batch(
    store: Store, store_url: str, inbox: Path, raw: bytes
) -> None:
    deliver(inbox, raw)
    deliver(inbox, make_message(subject="Message normal"))
    maildir_worker(make_settings(store_url, {"inbox": maildir_source(inbox)}), store).run_once()
    with store.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(requests)).scalar_one()
        held = len(quarantined(conn))
    assert stored + held == 2  # every item is either a request or in quarantine: none lost


def test_over_long_header_values_are_cut_to_fit_and_the_message_is_stored(
    store: Store, store_url: str, inbox: Path
) -> None:
    long_name = "Jean-" + "Baptiste " * 60  # ~540 characters: over the 300 of the column
    deliver(inbox, make_message(sender=f'"{long_name}" <jb@example.fr>', subject="Nom long"))
    deliver(inbox, make_message(subject="Suivant", sender="next@example.fr"))
    maildir_worker(make_settings(store_url, {"inbox": maildir_source(inbox)}), store).run_once()
    with store.connect() as conn:
        names = conn.execute(select(requests.c.sender_name)).scalars().all()
        held = quarantined(conn)
    assert len(names) == 2 and not held
    assert max(len(n or "") for n in names) == 300
