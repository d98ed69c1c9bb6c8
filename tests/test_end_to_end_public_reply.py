# ruff: noqa: E501
"""Issue 12.1 end to end (Zendesk fake and Maildir in, aiosmtpd out): a chase by mail on a
case that lives in Zendesk is answered with the date and a cleaned excerpt of the agent's
last public reply; with Zendesk down, the same answer goes out without it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import public_reply
from bot.app import rules_provider
from bot.registry import build_sink
from bot.store import Store
from tests.fakes.zendesk import EMAIL, TOKEN, FakeZendesk
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings
from tests.servers.smtp import PASSWORD, USERNAME, running_smtp

BILLING = "Bonjour, ma facture de novembre est fausse : 412 € au lieu de 95 €. Merci de corriger."
CHASE = "Bonjour, ma facture de novembre est toujours fausse, 412 € au lieu de 95 €. Où en est ma demande ?"
AGENT_REPLY = (
    "Bonjour Madame Martin,\n\nNous avons transmis votre facture au service comptable, "
    "un avoir de 317 € sera émis cette semaine.\n\nCordialement,\nPaul\n-- \nService client Acme\n"
    "01 23 45 67 89"
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)  # the fake's tickets are stamped with the real time

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    public_reply.reset()
    with FakeZendesk(hold_back_seconds=0) as fake:
        yield fake
    public_reply.reset()


def _worker(
    store: Store, store_url: str, inbox: Path, fake: FakeZendesk, port: int, clock: Clock
) -> Any:
    desk = {
        "type": "zendesk",
        "base_url": fake.url,
        "email": EMAIL,
        "api_token": TOKEN,
        "requests_per_minute": 700,
        "export_requests_per_minute": 30,
    }
    smtp = {
        "type": "smtp", "host": "127.0.0.1", "port": port, "security": "plain",
        "username": USERNAME, "password": PASSWORD,
        "from_address": "support@acme-energie.fr", "timeout_seconds": 5,
    }  # fmt: skip
    settings = make_settings(
        store_url,
        {"desk": {**desk, "write_back": "zd"}, "inbox": maildir_source(inbox)},
        sinks={"zd": desk, "mail": smtp},
    )
    sinks = {name: build_sink(name, raw)[0] for name, raw in settings.sinks.items()}
    worker = maildir_worker(settings, store, rules=rules_provider(settings), sinks=sinks)
    worker.clock = clock
    return worker


def _ticket_then_chase(
    store: Store, store_url: str, tmp_path: Path, fake: FakeZendesk, *, down: bool
) -> str:
    inbox = make_maildir(tmp_path / "inbox")
    clock = Clock()
    chloe = fake.add_user("Chloé Martin", "chloe@client.example")
    agent = fake.add_user("Paul Agent", "paul@acme.example", role="agent")
    ticket = fake.add_ticket("Facture fausse", BILLING, requester_id=chloe["id"])
    fake.add_comment(ticket["id"], AGENT_REPLY, author_id=agent["id"])
    fake.add_comment(
        ticket["id"], "interne : avoir validé par la compta", author_id=agent["id"], public=False
    )
    with running_smtp() as server:
        worker = _worker(store, store_url, inbox, fake, server.port, clock)
        worker.run_once()  # the ticket becomes a case
        clock.now += timedelta(hours=2)
        if down:
            fake.make_unavailable(f"/api/v2/tickets/{ticket['id']}/comments")
        deliver(
            inbox,
            make_message(
                subject="Relance facture",
                body=CHASE,
                sender="Chloé Martin <chloe@client.example>",
                date=clock.now,
            ),
        )
        worker.run_once()
        answers = [
            m.message()
            for m in server.messages
            if "Suivi de votre demande" in str(m.message()["Subject"])
        ]
    assert len(answers) == 1
    return str(answers[0].get_content())


def test_a_chase_on_a_zendesk_case_quotes_the_agents_last_public_reply(
    store: Store, store_url: str, tmp_path: Path, zendesk: FakeZendesk
) -> None:
    body = _ticket_then_chase(store, store_url, tmp_path, zendesk, down=False)
    assert "Dernière réponse de notre équipe" in body
    assert "un avoir de 317 € sera émis cette semaine" in body
    assert "(heure de Paris)" in body
    assert "Madame Martin" not in body and "01 23 45 67 89" not in body  # greeting, signature cut
    assert "interne" not in body  # a private note is never quoted


def test_with_zendesk_down_the_status_answer_goes_without_the_reply(
    store: Store, store_url: str, tmp_path: Path, zendesk: FakeZendesk
) -> None:
    body = _ticket_then_chase(store, store_url, tmp_path, zendesk, down=True)
    assert "est bien en cours" in body
    assert "Dernière réponse de notre équipe" not in body
