# ruff: noqa: E501
"""Issue 12.1/12.3/12.4 end to end (Maildir in, aiosmtpd out): a chase on an open case is
answered once with its state and due date and attached, never opened as a new case; an
out-of-office is neither a chase nor a reopening; a bounce is filed under the case whose
reply bounced, marks the address and stops automatic mail to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.app import rules_provider
from bot.customer_text import customer_date
from bot.registry import build_sink
from bot.store import Store
from bot.store.audit import trail
from bot.store.schema import case_requests, cases, contacts
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings
from tests.servers.smtp import PASSWORD, USERNAME, running_smtp

DSN = (Path(__file__).parent / "data" / "mail" / "dsn_postfix.eml").read_bytes()
CHLOE = "Chloé Martin <chloe@client.example>"
BILLING = "Bonjour, ma facture de novembre est fausse : 412 € au lieu de 95 €. Merci de corriger."
CHASE = "Bonjour, ma facture de novembre est toujours fausse, 412 € au lieu de 95 €. Où en est ma demande ?"
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = MONDAY

    def __call__(self) -> datetime:
        return self.now


def _smtp(port: int) -> dict[str, Any]:
    return {
        "type": "smtp", "host": "127.0.0.1", "port": port, "security": "plain",
        "username": USERNAME, "password": PASSWORD,
        "from_address": "support@acme-energie.fr", "timeout_seconds": 5,
    }  # fmt: skip


def _worker(store: Store, store_url: str, inbox: Path, port: int, clock: Clock) -> Any:
    settings = make_settings(
        store_url, {"inbox": maildir_source(inbox)}, sinks={"mail": _smtp(port)}
    )
    worker = maildir_worker(
        settings, store, rules=rules_provider(settings),
        sinks={"mail": build_sink("mail", settings.sinks["mail"])[0]},
    )  # fmt: skip
    worker.clock = clock
    return worker


def _count(store: Store, table: Any) -> int:
    with store.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_chase_is_answered_once_with_the_due_date_and_attached(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    clock = Clock()
    with running_smtp() as server:
        worker = _worker(store, store_url, inbox, server.port, clock)
        deliver(
            inbox, make_message(subject="Facture fausse", body=BILLING, sender=CHLOE, date=MONDAY)
        )
        worker.run_once()
        for hours in (25, 26):  # a chase, then the same mail again: one answer
            clock.now = MONDAY + timedelta(hours=hours)
            deliver(
                inbox,
                make_message(subject="Relance facture", body=CHASE, sender=CHLOE, date=clock.now),
            )
            worker.run_once()
        messages = [m.message() for m in server.messages]
    assert _count(store, cases) == 1
    with store.connect() as conn:
        case = dict(conn.execute(select(cases)).one()._mapping)
        entries = trail(conn, case["id"])
        suppressed = [e for e in entries if e["event"] == "reply_suppressed"]
        # the due date as decided when the chase was answered (the duplicate may raise it)
        chase_decision = [e for e in entries if e["event"] == "case_decided"][1]
    assert case["follow_up_count"] == 1 and case["duplicate_count"] == 1
    assert len(messages) == 2  # the acknowledgement, then one status answer
    answer = messages[1].get_content()
    assert case["reference"] in answer and "est bien en cours" in answer
    decided_due = datetime.fromisoformat(chase_decision["detail"]["sla"]["resolution_due"])
    due = customer_date(decided_due, "fr", "Europe/Paris")
    assert due in answer and "(heure de Paris)" in answer
    assert [e["detail"]["code"] for e in suppressed] == ["case_daily_limit"]


def test_an_out_of_office_is_not_a_chase_and_gets_no_answer(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    clock = Clock()
    with running_smtp() as server:
        worker = _worker(store, store_url, inbox, server.port, clock)
        deliver(
            inbox, make_message(subject="Facture fausse", body=BILLING, sender=CHLOE, date=MONDAY)
        )
        worker.run_once()
        ack_id = server.messages[0].message()["Message-ID"].strip("<>")
        clock.now = MONDAY + timedelta(days=1)
        deliver(
            inbox,
            make_message(
                subject="Réponse automatique : absente jusqu'au 30 novembre",
                body="Je suis absente, je lirai votre message à mon retour.",
                sender=CHLOE, in_reply_to=ack_id, date=clock.now,
                headers={"Auto-Submitted": "auto-replied"},
            ),
        )  # fmt: skip
        worker.run_once()
        assert len(server.messages) == 1
    with store.connect() as conn:
        case = dict(conn.execute(select(cases)).one()._mapping)
    assert case["follow_up_count"] == 0 and case["status"] == "new"


def test_a_bounce_is_attached_to_its_case_and_stops_mail_to_that_address(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    clock = Clock()
    gone = "Gone Customer <gone@client.example>"
    with running_smtp() as server:
        worker = _worker(store, store_url, inbox, server.port, clock)
        deliver(
            inbox, make_message(subject="Facture fausse", body=BILLING, sender=gone, date=MONDAY)
        )
        worker.run_once()
        ack_id = server.messages[0].message()["Message-ID"].strip("<>")
        clock.now = MONDAY + timedelta(hours=1)
        deliver(inbox, DSN.replace(b"MSGID_PLACEHOLDER", ack_id.encode()))
        worker.run_once()
        clock.now = MONDAY + timedelta(days=2)
        other = "Bonjour, je souhaite résilier mon contrat au 1er janvier."
        deliver(inbox, make_message(subject="Résiliation", body=other, sender=gone, date=clock.now))
        worker.run_once()
        assert len(server.messages) == 1  # the acknowledgement before the bounce, nothing after
    with store.connect() as conn:
        first = conn.execute(select(cases.c.id).order_by(cases.c.id)).scalars().first()
        relations = (
            conn.execute(select(case_requests.c.relation).where(case_requests.c.case_id == first))
            .scalars()
            .all()
        )
        contact = conn.execute(select(contacts.c.bouncing_email, contacts.c.bounce_reason)).one()
        events = [e["event"] for c in (1, 2) for e in trail(conn, c)]
        codes = [e["detail"].get("code") for c in (1, 2) for e in trail(conn, c)]
    assert "bounce" in relations
    assert contact.bouncing_email == "gone@client.example" and "5.1.1" in contact.bounce_reason
    assert "reply_bounced" in events and "address_bouncing" in codes


def test_a_status_question_from_another_address_in_the_thread_learns_nothing_of_the_case(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    clock = Clock()
    with running_smtp() as server:
        worker = _worker(store, store_url, inbox, server.port, clock)
        deliver(
            inbox, make_message(subject="Facture fausse", body=BILLING, sender=CHLOE, date=MONDAY)
        )
        worker.run_once()
        ack_id = server.messages[0].message()["Message-ID"].strip("<>")
        clock.now = MONDAY + timedelta(days=1)
        question = make_message(
            subject="Re: Facture fausse", body="Où en est ce dossier ?",
            sender="Someone Else <curious@other.example>", in_reply_to=ack_id, date=clock.now,
        )  # fmt: skip
        deliver(inbox, question)
        worker.run_once()
        messages = [m.message() for m in server.messages]
    with store.connect() as conn:
        first = conn.execute(select(cases.c.reference).order_by(cases.c.id)).scalars().first()
    [answer] = [m for m in messages if m["To"] == "curious@other.example"]
    body = answer.get_content()
    assert first not in body and first not in answer["Subject"]  # nothing of Chloé's case
    assert "Prochaine étape" not in body and "intervenant" not in body
