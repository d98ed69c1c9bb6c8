"""A batch reads its known senders' contacts and open cases at once (issue 8): the same
contacts, cases, duplicates and follow-ups as reading them message by message, in one
statement instead of one each."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from bot.app import rules_provider
from bot.stages import identify
from bot.stages.dedup import match_open_case
from bot.status import OPEN_STATUSES
from bot.store import Store, open_store
from bot.store.batch import batch_writes
from bot.store.contacts import read_contacts_for_batch
from bot.store.requests import read_open_requests_for_batch, recent_open_requests
from bot.store.rows import get_contact, remember_profile, update_case
from bot.store.schema import case_requests, cases, requests
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings
from tests.helpers.stores import store_url as fresh_store_url

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TOPICS = [
    ("Facture incorrecte", "Ma facture n° {n} est fausse, le montant est trop élevé."),
    ("Coupure de courant", "Plus de courant depuis ce matin au compteur {n}."),
    ("Wrong invoice", "My invoice {n} shows the wrong amount, please fix it."),
    ("Change of address", "I moved, please update the address on contract {n}."),
]
CHASES = ["Des nouvelles ?", "Any update on my request?", "Relance"]


def _stream(count: int, seed: int = 11) -> list[bytes]:
    """Mail from a few senders: new matters, exact copies, chases and same-topic repeats."""
    rng = random.Random(seed)
    sent: list[tuple[str, str, str]] = []  # sender, subject, body
    raws = []
    for i in range(count):
        sender = f"Client {i % 7} <client{rng.randrange(6)}@example.fr>"
        roll = rng.random()
        mine = [m for m in sent if m[0] == sender]
        if mine and roll < 0.25:
            _, subject, body = rng.choice(mine)  # the same text again: a duplicate
        elif mine and roll < 0.45:
            subject, body = "Re: " + rng.choice(mine)[1], rng.choice(CHASES)
        else:
            subject, template = rng.choice(TOPICS)
            body = template.format(n=rng.choice([1001, 2002, 3003, 4000 + i]))
        sent.append((sender, subject, body))
        raws.append(
            make_message(
                subject=subject,
                body=body,
                sender=sender,
                message_id=f"m{i}@example.fr",
                date=START + timedelta(minutes=7 * i),
            )
        )
    return raws


def _run(store: Store, url: str, inbox: Path, raws: list[bytes], batch: int) -> None:
    settings = make_settings(url, {"inbox": maildir_source(inbox)}, worker={"batch_size": batch})
    worker = maildir_worker(settings, store, rules=rules_provider(settings))
    for start in range(0, len(raws), batch * 2):  # several polls: cases from earlier ones
        for i, raw in enumerate(raws[start : start + batch * 2]):
            deliver(inbox, raw, mtime=1_790_000_000 + start + i)
        worker.poll_source("inbox")


def _outcome(store: Store) -> list[tuple[Any, ...]]:
    with store.connect() as conn:
        links = conn.execute(
            select(requests.c.message_id, cases.c.reference, case_requests.c.relation)
            .join(case_requests, case_requests.c.request_id == requests.c.id)
            .join(cases, cases.c.id == case_requests.c.case_id)
            .order_by(requests.c.id)
        ).all()
        decided = conn.execute(
            select(cases.c.reference, cases.c.category, cases.c.priority, cases.c.tags).order_by(
                cases.c.id
            )
        ).all()
    return [tuple(r) for r in links] + [tuple(r) for r in decided]


def test_contacts_and_open_cases_read_ahead_decide_as_reading_them_message_by_message(
    store: Store, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raws = _stream(90)
    _run(store, store_url, make_maildir(tmp_path / "ahead"), raws, batch=15)
    ahead = _outcome(store)
    relations = [row[2] for row in ahead if len(row) == 3]
    assert {"duplicate", "follow_up"} <= set(relations)  # the stream holds what is at stake

    monkeypatch.delattr(match_open_case, "prepare")  # each message reads its own
    monkeypatch.setattr(identify, "read_contacts_for_batch", lambda *_: None)
    kind = "sqlite" if store.engine.dialect.name == "sqlite" else "postgres"
    (tmp_path / "each").mkdir()
    with fresh_store_url(kind, tmp_path / "each") as url:
        other = open_store(url)
        try:
            _run(other, url, make_maildir(tmp_path / "each-inbox"), raws, batch=15)
            assert _outcome(other) == ahead
        finally:
            other.dispose()


def _reads(store: Store, run: Any) -> tuple[int, int, int]:
    """(statements reading one contact's open requests, batch reads of them, reads of one
    contact's row) during `run`."""
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(" ".join(statement.split()))

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        run()
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    single = [s for s in sent if s.startswith("SELECT requests.case_id, requests.subject")]
    batched = [s for s in sent if "row_number() OVER" in s]
    contact = [
        s
        for s in sent
        if (s.startswith("SELECT contacts.id") and "WHERE contacts.id = " in s)
        or s.startswith("SELECT id, merged_into, attributes FROM contacts")
    ]
    return len(single), len(batched), len(contact)


def test_a_batch_of_known_senders_reads_their_contacts_and_open_cases_at_once(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    settings = make_settings(store_url, {"inbox": maildir_source(inbox)}, worker={"batch_size": 50})
    worker = maildir_worker(settings, store, rules=rules_provider(settings))
    for i in range(10):
        deliver(
            inbox,
            make_message(subject=f"Facture {i}", sender=f"Client {i} <c{i}@example.fr>"),
            mtime=1_790_000_000 + i,
        )
    worker.poll_source("inbox")
    for i in range(10):
        deliver(
            inbox,
            make_message(
                subject="Des nouvelles ?", body="Des nouvelles ?", sender=f"c{i}@example.fr"
            ),
            mtime=1_790_000_100 + i,
        )
    assert _reads(store, lambda: worker.poll_source("inbox")) == (0, 1, 0)
    with store.connect() as conn:
        follow_ups = conn.execute(
            select(case_requests.c.relation).where(case_requests.c.relation == "follow_up")
        ).all()
    assert len(follow_ups) == 10  # each chase joined its sender's open case


def test_a_case_written_at_once_in_the_batch_is_read_again(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    settings = make_settings(store_url, {"inbox": maildir_source(inbox)})
    deliver(inbox, make_message(subject="Facture", sender="a@example.fr"), mtime=1_790_000_000)
    maildir_worker(settings, store, rules=None).run_once()
    with store.connect() as conn:
        contact_id, case_id = conn.execute(select(requests.c.contact_id, requests.c.case_id)).one()
    since = datetime(2000, 1, 1, tzinfo=UTC)
    with store.begin() as conn, batch_writes(conn):
        read_open_requests_for_batch(conn, [contact_id], since, OPEN_STATUSES, 20)
        assert [
            r.case_id for r in recent_open_requests(conn, contact_id, since, OPEN_STATUSES, 20)
        ] == [case_id]
        update_case(conn, case_id, status="closed")
        assert recent_open_requests(conn, contact_id, since, OPEN_STATUSES, 20) == []


def test_a_copy_of_a_new_matter_earlier_in_the_batch_is_its_duplicate(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    settings = make_settings(store_url, {"inbox": maildir_source(inbox)})
    worker = maildir_worker(settings, store, rules=rules_provider(settings))
    deliver(inbox, make_message(subject="Facture", sender="a@example.fr"), mtime=1_790_000_000)
    worker.poll_source("inbox")  # a@ is known, with an open case, before the batch
    body = "Plus de courant depuis ce matin au 12 rue des Lilas."
    for i in range(2):
        deliver(
            inbox,
            make_message(
                subject="Coupure de courant",
                body=body,
                sender="a@example.fr",
                message_id=f"copy{i}@example.fr",
            ),
            mtime=1_790_000_100 + i,
        )
    worker.poll_source("inbox")
    with store.connect() as conn:
        relations = conn.execute(
            select(requests.c.message_id, case_requests.c.relation, case_requests.c.case_id)
            .join(case_requests, case_requests.c.request_id == requests.c.id)
            .where(requests.c.message_id.like("copy%"))
            .order_by(requests.c.id)
        ).all()
    assert [r.relation for r in relations] == ["origin", "duplicate"]
    assert relations[0].case_id == relations[1].case_id


def test_a_message_asks_only_for_the_requests_of_its_own_window(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    settings = make_settings(store_url, {"inbox": maildir_source(inbox)})
    now = datetime.now(UTC)
    deliver(
        inbox,
        make_message(subject="Facture", sender="a@example.fr", date=now - timedelta(days=45)),
        mtime=1_790_000_000,
    )
    maildir_worker(settings, store, rules=None).run_once()
    with store.connect() as conn:
        contact_id = conn.execute(select(requests.c.contact_id)).scalar_one()
    with store.begin() as conn, batch_writes(conn):
        read_open_requests_for_batch(
            conn, [contact_id], now - timedelta(days=90), OPEN_STATUSES, 20
        )
        window = now - timedelta(days=30)
        assert recent_open_requests(conn, contact_id, window, OPEN_STATUSES, 20) == []
        assert (
            len(recent_open_requests(conn, contact_id, now - timedelta(days=60), OPEN_STATUSES, 20))
            == 1
        )


def test_a_contact_written_in_the_batch_is_read_again_and_reads_are_copies(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    settings = make_settings(store_url, {"inbox": maildir_source(inbox)})
    deliver(inbox, make_message(subject="Facture", sender="a@example.fr"), mtime=1_790_000_000)
    maildir_worker(settings, store, rules=None).run_once()
    with store.connect() as conn:
        contact_id = conn.execute(select(requests.c.contact_id)).scalar_one()
    with store.begin() as conn, batch_writes(conn):
        read_contacts_for_batch(conn, [contact_id])
        contact = get_contact(conn, contact_id)
        assert contact is not None
        contact["attributes"]["tier"] = "changed by the caller"
        again = get_contact(conn, contact_id)
        assert again is not None and "tier" not in again["attributes"]
        remember_profile(conn, again, {"tier": "gold"})
        after = get_contact(conn, contact_id)
        assert after is not None and after["attributes"]["tier"] == "gold"
