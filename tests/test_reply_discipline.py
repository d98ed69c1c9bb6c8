"""Reply discipline: caps per case and per sender, loop detection, cleaned echoes (RFC 3834)."""

from __future__ import annotations

import random
import unicodedata
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from bot.app import rules_provider
from bot.echo import clean_name, clean_subject
from bot.registry import build_sink
from bot.replies import admit_reply, answers_to_our_replies
from bot.settings import ReplySettings
from bot.store import Store
from bot.store import outbox as outbox_store
from bot.store.rows import create_case
from bot.store.schema import audit
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings
from tests.servers.smtp import PASSWORD, USERNAME, running_smtp

OUR_ADDRESS = "support@acme-energie.fr"


def _smtp_sink(port: int) -> dict[str, Any]:
    return {
        "type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "security": "plain",
        "username": USERNAME,
        "password": PASSWORD,
        "from_address": OUR_ADDRESS,
        "timeout_seconds": 5,
    }


def _unrelated_text(rng: random.Random) -> tuple[str, str]:
    """A subject and a body that share nothing with any other one (made-up words)."""
    words = ["".join(rng.choices("bcdfgklmnprstvz", k=3)) + "ou" for _ in range(10)]
    return " ".join(words[:3]).capitalize(), "Bonjour, " + " ".join(words) + ". Merci."


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _suppressed(store: Store) -> list[dict[str, Any]]:
    with store.connect() as conn:
        rows = conn.execute(select(audit.c.detail).where(audit.c.event == "reply_suppressed"))
        return [dict(r) for r in rows.scalars()]


def _worker(store: Store, store_url: str, inbox: Path, port: int, **replies: Any) -> Any:
    settings = make_settings(
        store_url,
        {"inbox": maildir_source(inbox)},
        sinks={"mail": _smtp_sink(port)},
        replies=replies,
        # Each made-up text is its own topic: no follow-up grouping gets in the way here.
        dedup={"similar_text": 0.99, "similar_text_same_category": 0.99},
    )
    sinks = {"mail": build_sink("mail", settings.sinks["mail"])[0]}
    return maildir_worker(settings, store, rules=rules_provider(settings), sinks=sinks)


def test_a_flood_from_one_sender_gets_at_most_the_hourly_cap_of_acknowledgements(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    rng = random.Random(7)
    now = _now()
    for i in range(40):
        subject, body = _unrelated_text(rng)
        deliver(
            inbox,
            make_message(
                subject=f"{subject} {i}",
                body=body,
                sender="Flood <flood@client.example>",
                date=now - timedelta(seconds=40 - i),
            ),
        )
    deliver(
        inbox,
        make_message(
            subject="Facture fausse",
            body="Bonjour, ma facture de novembre est fausse, 412 € au lieu de 95 €.",
            sender="Chloé Martin <chloe@other.example>",
            date=now,
        ),
    )
    with running_smtp() as server:
        _worker(store, store_url, inbox, server.port).run_once()
        recipients = [parseaddr(m.message()["To"])[1] for m in server.messages]
    assert recipients.count("flood@client.example") == 3  # the default per_sender_per_hour
    assert recipients.count("chloe@other.example") == 1  # not queued behind the flood
    codes = [d["code"] for d in _suppressed(store)]
    assert len(codes) == 37 and set(codes) <= {"sender_hourly_limit", "reply_loop"}
    with store.connect() as conn:
        assert outbox_store.counts(conn) == {"done": 4}  # the suppressed were never queued


def _peer_answers(
    server: Any, inbox: Path, seen: int, *, threaded: bool, rng: random.Random
) -> int:
    """The other robot answers each of our replies it has not answered yet."""
    for mail in server.messages[seen:]:
        ours = mail.message()
        if parseaddr(ours["To"])[1] != "robot@peer.example":
            continue
        subject, body = _unrelated_text(rng)
        deliver(
            inbox,
            make_message(
                subject=(f"Re: {ours['Subject']}" if threaded else subject),
                body="Any update on my request?" if threaded else body,
                sender="Peer Robot <robot@peer.example>",
                in_reply_to=ours["Message-ID"].strip("<>") if threaded else None,
                date=_now(),
            ),
        )
    return len(server.messages)


def _run_two_robots(
    store: Store, store_url: str, tmp_path: Path, *, threaded: bool, **replies: Any
) -> int:
    inbox = make_maildir(tmp_path / "inbox")
    rng = random.Random(11)
    subject, body = _unrelated_text(rng)
    if threaded:  # a status question, answered by the status automation
        subject, body = "Order 0", "Any update on my request?"
    deliver(
        inbox,
        make_message(
            subject=subject,
            body=body,
            sender="Peer Robot <robot@peer.example>",
            date=_now(),
        ),
    )
    with running_smtp() as server:
        worker = _worker(store, store_url, inbox, server.port, **replies)
        seen = 0
        for _ in range(15):
            worker.run_once()
            seen = _peer_answers(server, inbox, seen, threaded=threaded, rng=rng)
        return sum(parseaddr(m.message()["To"])[1] == "robot@peer.example" for m in server.messages)


def test_a_robot_answering_each_reply_on_the_same_thread_gets_one_answer_a_day(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    assert _run_two_robots(store, store_url, tmp_path, threaded=True) == 1
    assert {d["code"] for d in _suppressed(store)} == {"case_daily_limit"}


def test_a_robot_opening_a_new_thread_each_time_is_stopped_as_a_loop(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    sent = _run_two_robots(
        store, store_url, tmp_path, threaded=False, per_sender_per_hour=100, per_sender_per_day=100
    )
    assert sent == 3  # the loop threshold: the third answer to our replies stops them
    assert "reply_loop" in {d["code"] for d in _suppressed(store)}


def test_a_huge_subject_and_a_hostile_display_name_are_cut_and_cleaned_in_the_reply(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    hostile_name = "Win a prize at http://evil.example/claim \u202enow"
    deliver(
        inbox,
        make_message(
            subject="Facture " + "très longue " * 1400,  # ~17 KB
            body="Bonjour, ma facture de novembre est fausse. Merci de corriger.",
            sender=f'"{hostile_name}" <victim@client.example>',
            date=_now(),
        ),
    )
    with running_smtp() as server:
        _worker(store, store_url, inbox, server.port).run_once()
        (mail,) = server.messages
    reply = mail.message()
    body = reply.get_content()
    assert len(str(reply["Subject"])) <= 200
    assert len(body) < 2_000
    assert "evil.example" not in body and "http" not in body
    assert "\u202e" not in body and "\u202e" not in str(reply["Subject"])


def test_a_request_written_by_a_machine_is_never_admitted_for_a_reply(store: Store) -> None:
    with store.begin() as conn:
        case = create_case(
            conn,
            prefix="CB",
            subject="x",
            channel="email",
            language="fr",
            contact_id=None,
            opened_at=_now(),
        )
        verdict = admit_reply(
            conn,
            ReplySettings(),
            case_id=case["id"],
            contact_id=None,
            recipient="someone@client.example",
            trigger_auto_reply="out_of_office_subject",
            now=_now(),
        )
        no_reply = admit_reply(
            conn,
            ReplySettings(),
            case_id=case["id"],
            contact_id=None,
            recipient="no-reply@client.example",
            trigger_auto_reply=None,
            now=_now(),
        )
    assert (verdict.allowed, verdict.code) == (False, "machine_sent_request")
    assert (no_reply.allowed, no_reply.code) == (False, "automated_recipient")


def test_the_case_limit_counts_only_the_last_day(store: Store) -> None:
    now = _now()
    with store.begin() as conn:
        case = create_case(
            conn,
            prefix="CB",
            subject="x",
            channel="email",
            language="fr",
            contact_id=None,
            opened_at=now,
        )

        def admit(at: datetime) -> bool:
            return admit_reply(
                conn,
                ReplySettings(),
                case_id=case["id"],
                contact_id=None,
                recipient="jean@client.example",
                trigger_auto_reply=None,
                now=at,
            ).allowed

        outbox_store.enqueue(
            conn,
            idempotency_key="k1",
            sink="mail",
            action="send_reply",
            payload={"to": "jean@client.example"},
            case_id=case["id"],
            now=now - timedelta(hours=30),
        )
        assert admit(now)  # yesterday's reply is older than a day
        outbox_store.enqueue(
            conn,
            idempotency_key="k2",
            sink="mail",
            action="send_reply",
            payload={"to": "jean@client.example"},
            case_id=case["id"],
            now=now - timedelta(hours=2),
        )
        assert not admit(now)
        assert admit(now + timedelta(hours=23))


def test_only_messages_soon_after_our_replies_count_as_answers_to_them() -> None:
    t0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
    replied = [(t0, 1), (t0 + timedelta(hours=1), 3)]
    received = [
        (t0 - timedelta(seconds=1), 1),  # the first reply's own trigger, not an answer
        (t0 + timedelta(seconds=30), 2),  # answers the first reply
        (t0 + timedelta(minutes=30), 3),  # too late for the first, before the second
        (t0 + timedelta(hours=1, minutes=2), 4),  # answers the second
        (t0 - timedelta(minutes=5), 0),  # before any reply
    ]
    assert answers_to_our_replies(received, replied, timedelta(minutes=10)) == 2


@given(st.text(max_size=3000))
def test_a_cleaned_subject_is_one_short_line_without_invisible_characters(text: str) -> None:
    cleaned = clean_subject(text)
    assert len(cleaned) <= 120
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in cleaned)
    assert clean_subject(cleaned) == cleaned


@given(st.text(max_size=500))
def test_a_cleaned_name_holds_no_link_or_address(text: str) -> None:
    cleaned = clean_name(text)
    assert len(cleaned) <= 60
    assert "://" not in cleaned and "@" not in cleaned
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in cleaned)


def test_names_of_people_survive_cleaning() -> None:
    assert clean_name("Marie-Hélène O'Brien") == "Marie-Hélène O'Brien"
    assert clean_name("J. Smith") == "J. Smith"
    assert clean_name("Win a prize at http://evil.example now") == "Win a prize at now"
