# ruff: noqa: E501
"""Issue 12 end to end with real servers: mail read from Dovecot, replies through aiosmtpd,
the contact changed in the HubSpot fake. An address change from the verified contact is
applied with the old value kept; from a look-alike it is not applied and noted instead; an
IBAN is never applied."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import rules_provider
from bot.identity.index import SqlContactIndex
from bot.identity.matcher import ContactMatcher, IdentitySettings
from bot.identity.normalise import ContactRecord
from bot.pipeline import Pipeline
from bot.registry import build_sink, build_source
from bot.settings import Settings
from bot.stages import DEFAULT_STAGES
from bot.store import Store
from bot.store.audit import trail
from bot.store.schema import cases
from bot.worker import Worker
from connectors.hubspot.client import HubSpotApi
from connectors.hubspot.setup import ensure_properties
from tests.fakes.hubspot import FakeHubSpot, settings_for
from tests.helpers.actions import outbox_rows
from tests.helpers.mail import make_message
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import PASSWORD, USERNAME, SmtpServer, running_smtp

OLD = "3 rue Haute, 75001 Paris"
NEW = "5 avenue Foch, 75116 Paris"
MOVE = f"Bonjour,\n\nNous avons déménagé. Notre nouvelle adresse : {NEW}.\n\nCordialement,\nAnne"
PASS = "mx.acme-energie.fr; dkim=pass header.d=client.example; spf=pass; dmarc=pass"


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(search_lag=0.0) as fake:
        ensure_properties(HubSpotApi("crm", settings_for(fake)))
        anne = fake.create_contact("anne@client.example", "Anne", "Martin")
        fake.agent_update("contacts", anne, address=OLD)
        yield fake


def _worker(
    dovecot: DovecotServer, fake: FakeHubSpot, smtp: SmtpServer, store: Store, url: str
) -> Worker:
    mailbox = {
        "type": "imap", "host": dovecot.host, "port": dovecot.port, "security": "plain",
        "username": dovecot.username, "password": dovecot.password, "timeout_seconds": 5,
        "write_back": "crm",
    }  # fmt: skip
    sinks = {
        "crm": {"type": "hubspot", "base_url": fake.url, "token": fake.token},
        "mail": {
            "type": "smtp", "host": "127.0.0.1", "port": smtp.port, "security": "plain",
            "username": USERNAME, "password": PASSWORD,
            "from_address": "support@acme-energie.fr", "timeout_seconds": 5,
        },
    }  # fmt: skip
    settings = Settings(store={"url": url}, sources={"mailbox": mailbox}, sinks=sinks)
    return Worker(
        settings,
        store,
        {"mailbox": build_source("mailbox", mailbox)},
        Pipeline(DEFAULT_STAGES),
        sinks={name: build_sink(name, conf)[0] for name, conf in sinks.items()},
        rules=rules_provider(settings),
    )


def _run(dovecot: DovecotServer, fake: FakeHubSpot, store: Store, url: str, raw: bytes) -> Any:
    with store.begin() as conn:  # crmbot knows Anne (a CRM contact sync, an earlier mail)
        index = SqlContactIndex(conn)
        ContactMatcher(index, IdentitySettings()).create(
            ContactRecord(email="anne@client.example", name="Anne Martin")
        )
    dovecot.append("INBOX", raw)
    with running_smtp() as smtp:
        worker = _worker(dovecot, fake, smtp, store, url)
        worker.run_once()
        worker.run_once()
        return [m.message() for m in smtp.messages]


def _address(fake: FakeHubSpot) -> str | None:
    contacts = fake.objects["contacts"].values()
    [anne] = [c for c in contacts if c.properties.get("email") == "anne@client.example"]
    return anne.properties.get("address")


def _entries(store: Store, event: str) -> list[dict[str, Any]]:
    with store.connect() as conn:
        case_id = conn.execute(select(cases.c.id)).scalar_one()
        return [e["detail"] for e in trail(conn, case_id) if e["event"] == event]


def test_an_address_change_from_the_verified_contact_is_applied_and_the_old_value_kept(
    dovecot: DovecotServer, hubspot: FakeHubSpot, store: Store, store_url: str
) -> None:
    raw = make_message(
        subject="Changement d'adresse", body=MOVE, sender="Anne Martin <anne@client.example>",
        headers={"Authentication-Results": PASS},
    )  # fmt: skip
    replies = _run(dovecot, hubspot, store, store_url, raw)
    assert _address(hubspot) == NEW
    [row] = [r for r in outbox_rows(store) if r["action"] == "update_contact"]
    assert row["state"] == "done" and row["result"]["previous"]["postal_address"] == OLD
    [assessed] = _entries(store, "admin_update_assessed")
    assert assessed["applied"] == ["postal_address"] and assessed["verified"] is True
    assert len(replies) == 1
    assert "mis à jour votre fiche client : adresse postale" in replies[0].get_content()


@pytest.mark.parametrize(
    ("sender", "headers", "why"),
    [
        ("Anne Martin <anne+x@client.example.net>", {}, "looks_like_another_contact"),
        ('"anne@client.example" <mallory@evil.example>', {}, "display_name_carries_another_address"),
        ("Anne Martin <anne@client.example>", {"Authentication-Results": PASS.replace("dmarc=pass", "dmarc=fail")}, "dmarc_fail"),
    ],
)  # fmt: skip
def test_the_same_change_from_a_look_alike_is_not_applied_but_noted(
    dovecot: DovecotServer,
    hubspot: FakeHubSpot,
    store: Store,
    store_url: str,
    sender: str,
    headers: dict[str, str],
    why: str,
) -> None:
    raw = make_message(subject="Changement d'adresse", body=MOVE, sender=sender, headers=headers)
    _run(dovecot, hubspot, store, store_url, raw)
    assert _address(hubspot) == OLD
    rows = outbox_rows(store)
    assert not [r for r in rows if r["action"] == "update_contact"]
    [assessed] = _entries(store, "admin_update_assessed")
    assert assessed["applied"] == [] and why in " ".join(assessed["reasons"])
    notes = [n for t in hubspot.objects["tickets"] for n in hubspot.notes_for_ticket(t)]
    assert any("NON appliqué" in n and NEW in n for n in notes)


def test_an_iban_is_never_applied_even_from_the_verified_contact(
    dovecot: DovecotServer, hubspot: FakeHubSpot, store: Store, store_url: str
) -> None:
    body = "Bonjour, voici mon nouveau RIB : FR76 3000 6000 0112 3456 7890 189. Merci."
    raw = make_message(
        subject="Nouveau RIB", body=body, sender="Anne Martin <anne@client.example>",
        headers={"Authentication-Results": PASS},
    )  # fmt: skip
    _run(dovecot, hubspot, store, store_url, raw)
    assert not [r for r in outbox_rows(store) if r["action"] == "update_contact"]
    notes = [n for t in hubspot.objects["tickets"] for n in hubspot.notes_for_ticket(t)]
    assert any("FR76 **** 0189" in n for n in notes)
    assert not any("FR7630006000011234567890189" in n for n in notes)


DSN = (Path(__file__).parent / "data" / "mail" / "dsn_postfix.eml").read_bytes()


def test_a_bounce_is_noted_on_the_crm_record_and_stops_mail_to_that_address(
    dovecot: DovecotServer, hubspot: FakeHubSpot, store: Store, store_url: str
) -> None:
    billing = "Bonjour, ma facture de novembre est fausse : 412 € au lieu de 95 €."
    dovecot.append(
        "INBOX", make_message(subject="Facture", body=billing, sender="G <gone@client.example>")
    )
    with running_smtp() as smtp:
        worker = _worker(dovecot, hubspot, smtp, store, store_url)
        worker.run_once()
        ack_id = smtp.messages[0].message()["Message-ID"].strip("<>")
        dovecot.append("INBOX", DSN.replace(b"MSGID_PLACEHOLDER", ack_id.encode()))
        worker.run_once()
        again = "Bonjour, je souhaite résilier mon contrat au 1er janvier."
        dovecot.append(
            "INBOX",
            make_message(subject="Résiliation", body=again, sender="G <gone@client.example>"),
        )
        worker.run_once()
        assert len(smtp.messages) == 1
    notes = [n for t in hubspot.objects["tickets"] for n in hubspot.notes_for_ticket(t)]
    assert any("gone@client.example rejette nos e-mails" in n for n in notes)
