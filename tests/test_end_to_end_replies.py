"""From a Maildir to an acknowledgement in the customer's inbox, once, with real SMTP."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from structlog.testing import capture_logs

from bot.app import rules_provider
from bot.registry import build_sink
from bot.store import Store
from bot.store.outbox import counts
from bot.store.schema import cases, requests
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings
from tests.servers.smtp import PASSWORD, USERNAME, running_smtp

BILLING = "Bonjour, ma facture de novembre est fausse : 412 € au lieu de 95 €. Merci de corriger."


def _smtp_sink(port: int) -> dict:
    return {
        "type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "security": "plain",
        "username": USERNAME,
        "password": PASSWORD,
        "from_address": "support@acme-energie.fr",
        "timeout_seconds": 5,
    }


def test_a_new_request_is_acknowledged_once_even_when_the_worker_runs_again(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    deliver(
        inbox,
        make_message(
            subject="Facture fausse", body=BILLING, sender="Chloé Martin <chloe@client.example>"
        ),
    )
    with running_smtp() as server:
        settings = make_settings(
            store_url, {"inbox": maildir_source(inbox)}, sinks={"mail": _smtp_sink(server.port)}
        )
        sinks = {"mail": build_sink("mail", settings.sinks["mail"])[0]}
        worker = maildir_worker(settings, store, rules=rules_provider(settings), sinks=sinks)
        worker.run_once()
        worker.run_once()
        (mail,) = server.messages
    reply = mail.message()
    with store.connect() as conn:
        reference = conn.execute(select(cases.c.reference)).scalar_one()
        assert counts(conn) == {"done": 1}
    assert reply["To"] == "chloe@client.example"
    assert f"[#{reference}]" in reply["Subject"] and reply["Auto-Submitted"] == "auto-replied"
    assert reference in reply.get_content()


def test_dry_run_plans_and_logs_actions_but_stores_and_sends_nothing(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    deliver(inbox, make_message(subject="Facture fausse", body=BILLING))
    with running_smtp() as server:
        settings = make_settings(
            store_url,
            {"inbox": maildir_source(inbox)},
            sinks={"mail": _smtp_sink(server.port)},
            dry_run=True,
        )
        sinks = {"mail": build_sink("mail", settings.sinks["mail"])[0]}
        worker = maildir_worker(settings, store, rules=rules_provider(settings), sinks=sinks)
        with capture_logs() as logs:
            worker.run_once()
        assert server.messages == []
    planned = [e for e in logs if e["event"] == "dry_run_action"]
    assert "send_reply" in [e["action"] for e in planned]
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(requests)).scalar_one() == 0
        assert counts(conn) == {}
