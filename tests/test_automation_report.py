"""`crmbot automations report` (issue 12.5): per rule, times fired, effects that reached their
sink, and effects an agent undid (a write-back conflict, a case reopened after the rule)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from bot.app import rules_provider
from bot.cli import app
from bot.registry import build_sink
from bot.store import Store, audit
from bot.store import outbox as outbox_store
from bot.store.schema import cases
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings
from tests.servers.smtp import PASSWORD, USERNAME, running_smtp

BILLING = "Bonjour, ma facture de novembre est fausse : 412 € au lieu de 95 €. Merci de corriger."


def test_report_counts_fired_reached_and_undone_per_rule(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    deliver(inbox, make_message(subject="Facture fausse", body=BILLING))
    with running_smtp() as server:
        smtp = {
            "type": "smtp", "host": "127.0.0.1", "port": server.port, "security": "plain",
            "username": USERNAME, "password": PASSWORD,
            "from_address": "support@acme-energie.fr", "timeout_seconds": 5,
        }  # fmt: skip
        settings = make_settings(store_url, {"inbox": maildir_source(inbox)}, sinks={"mail": smtp})
        sinks = {"mail": build_sink("mail", smtp)[0]}
        maildir_worker(settings, store, rules=rules_provider(settings), sinks=sinks).run_once()
    with store.begin() as conn:  # then an agent undid a write and reopened the case
        case_id = conn.execute(select(cases.c.id)).scalar_one()
        outbox_store.enqueue(
            conn, idempotency_key="CB-1/route_by_category/0/again", sink="crm",
            action="set_field", payload={"field": "x", "value": 1}, case_id=case_id,
            rule_id="route_by_category", state="conflict", result={"conflicts": [{}]},
        )  # fmt: skip
        audit.record(
            conn, "request_attached", case_id=case_id,
            reasons=[{"code": "status_changed", "message": "status closed → open in crm"}],
        )  # fmt: skip
    path = tmp_path / "crmbot.yaml"
    path.write_text(f"store:\n  url: {store_url}\n")
    result = CliRunner().invoke(app, ["automations", "report", "--json", "--settings", str(path)])
    assert result.exit_code == 0, result.output
    rows = {r["rule_id"]: r for r in json.loads(result.output)}
    ack = rows["acknowledge_new_request"]
    assert (ack["fired"], ack["reached_sink"], ack["undone"]) == (1, 1, 1)
    assert ack["cases_reopened"] == 1
    route = rows["route_by_category"]
    assert route["fired"] == 1 and route["conflicts"] == 1 and route["reached_sink"] == 0
    text = CliRunner().invoke(app, ["automations", "report", "--settings", str(path)])
    assert text.exit_code == 0 and "acknowledge_new_request" in text.output
