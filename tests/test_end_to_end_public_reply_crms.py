# ruff: noqa: E501
"""Issue 12.1 end to end for HubSpot (fake) and Request Tracker (the real one): a ticket with a
public agent reply, then the customer's status question by mail, through the worker (the
CRM source and a Maildir in, aiosmtpd out). The answer quotes the last public reply, never
an internal note written after it. (Zendesk: tests/test_end_to_end_public_reply.py.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import public_reply
from bot.app import rules_provider
from bot.registry import build_sink
from bot.store import Store
from tests.fakes.hubspot import NOTE_TO_TICKET, FakeHubSpot, iso
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings
from tests.servers.rt import RtServer, rt_server
from tests.servers.smtp import PASSWORD, USERNAME, running_smtp

__all__ = ["rt_server"]  # the session fixture, imported so pytest finds it here

BILLING = "Bonjour, ma facture de novembre est fausse : 412 € au lieu de 95 €. Merci de corriger."
CHASE = "Bonjour, ma facture de novembre est toujours fausse, 412 € au lieu de 95 €. Où en est ma demande ?"
AGENT_REPLY = (
    "Bonjour Madame Martin,\n\nNous avons transmis votre facture au service comptable, "
    "un avoir de 317 € sera émis cette semaine.\n\nCordialement,\nPaul\n-- \nService client Acme\n"
    "01 23 45 67 89"
)
INTERNAL = "interne : avoir validé par la compta, ne pas promettre de date"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)  # the CRMs stamp their records with the real time

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def _fresh_public_reply_state() -> Iterator[None]:
    public_reply.reset()
    yield
    public_reply.reset()


def _smtp(port: int) -> dict[str, Any]:
    return {
        "type": "smtp", "host": "127.0.0.1", "port": port, "security": "plain",
        "username": USERNAME, "password": PASSWORD,
        "from_address": "support@acme-energie.fr", "timeout_seconds": 5,
    }  # fmt: skip


def _chase_answer(
    store: Store, store_url: str, tmp_path: Path, crm: dict[str, Any], sender: str
) -> str:
    """Run the worker once (the CRM ticket becomes a case), then once more on the customer's
    chase by mail; the one status answer sent, as text."""
    inbox = make_maildir(tmp_path / "inbox")
    clock = Clock()
    with running_smtp() as server:
        settings = make_settings(
            store_url,
            {"desk": {**crm, "write_back": "desk_out"}, "inbox": maildir_source(inbox)},
            sinks={"desk_out": crm, "mail": _smtp(server.port)},
        )
        sinks = {name: build_sink(name, raw)[0] for name, raw in settings.sinks.items()}
        worker = maildir_worker(settings, store, rules=rules_provider(settings), sinks=sinks)
        worker.clock = clock
        worker.run_once()
        clock.now += timedelta(hours=2)
        deliver(
            inbox,
            make_message(subject="Relance facture", body=CHASE, sender=sender, date=clock.now),
        )
        worker.run_once()
        answers = [
            m.message()
            for m in server.messages
            if "Suivi de votre demande" in str(m.message()["Subject"])
        ]
    assert len(answers) == 1
    return str(answers[0].get_content())


def _assert_quotes_the_public_reply_only(body: str) -> None:
    assert "Dernière réponse de notre équipe" in body
    assert "un avoir de 317 € sera émis cette semaine" in body
    assert "Madame Martin" not in body and "01 23 45 67 89" not in body  # greeting, signature cut
    assert "interne" not in body and "ne pas promettre" not in body  # a note is never quoted


def test_a_chase_on_a_hubspot_case_quotes_the_owners_last_email_not_a_later_note(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    with FakeHubSpot(search_lag=0.0) as fake:
        contact = fake.create_contact("chloe@client.example", "Chloé", "Martin")
        ticket = fake.create_ticket("Facture fausse", BILLING, contact_id=contact)
        now = fake.clock.time()
        fake.add_email(ticket, "Une réponse plus ancienne.", owner_id="77", at=now - 600)
        fake.add_email(ticket, AGENT_REPLY, owner_id="77", at=now - 120)
        fake.add_email(ticket, "Merci, j'attends.", direction="INCOMING_EMAIL", at=now - 60)
        # An internal note on the ticket, newer than the reply: HubSpot keeps it off e-mails.
        with fake._lock:
            note = fake._put("notes", {"hs_note_body": INTERNAL, "hs_timestamp": iso(now)})
            fake._link("notes", note.id, "tickets", ticket, NOTE_TO_TICKET)
        crm = {
            "type": "hubspot", "base_url": fake.url, "token": fake.token,
            "search_lag_seconds": 0, "interval_seconds": 5,
        }  # fmt: skip
        body = _chase_answer(store, store_url, tmp_path, crm, "Chloé Martin <chloe@client.example>")
        assert INTERNAL in fake.notes_for_ticket(ticket)  # the note was there to be misread
    _assert_quotes_the_public_reply_only(body)
    assert "Une réponse plus ancienne" not in body


def test_a_chase_on_an_rt_case_quotes_the_last_correspondence_not_a_later_comment(
    store: Store, store_url: str, tmp_path: Path, rt_server: RtServer
) -> None:
    requestor = f"chloe.{time.time_ns()}@client.example"  # its own requestor in the shared RT
    start = datetime.now(UTC) - timedelta(seconds=1)
    ticket = rt_server.create_ticket("Facture fausse", requestor, BILLING)
    with rt_server.client() as client:
        for path, content in (("correspond", AGENT_REPLY), ("comment", INTERNAL)):
            client.post(
                f"/ticket/{ticket}/{path}", json={"Content": content, "ContentType": "text/plain"}
            ).raise_for_status()
    time.sleep(2.05 - (time.time() % 1))  # LastUpdated is per second, and held back one second
    crm = {
        "type": "rt", "url": rt_server.url, "username": rt_server.username,
        "password": rt_server.password, "start_time": start.isoformat(),
    }  # fmt: skip
    body = _chase_answer(store, store_url, tmp_path, crm, f"Chloé Martin <{requestor}>")
    types = [t["Type"] for t in rt_server.history(ticket)]
    assert "Comment" in types and types.index("Comment") > types.index("Correspond")
    _assert_quotes_the_public_reply_only(body)
