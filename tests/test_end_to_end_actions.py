"""Every action type a CRM sink declares, from a rule through the worker and outbox to the CRM.

Each test writes a one-rule pack, runs the worker once over a ticket of the fake CRM (whose
source writes back to the same CRM), and reads the effect back from the fake. Before the
typed action contract, these actions came back "skipped" (a note planned as {"text"} while
sinks read "body"; add_tag while Zendesk handled add_tags; set_field, set_priority, assign,
escalate and remove_tag supported by no write-back sink).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.store import Store, open_store
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.zendesk import EMAIL, TOKEN, FakeZendesk
from tests.helpers.actions import crm_worker, not_done, one_rule_pack, outbox_rows
from tests.servers.rt import rt_server

__all__ = ["rt_server"]  # the session fixture, imported so pytest finds it here

STATUS_FIELD = 360_000_222


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[Store, str]]:
    """A migrated SQLite store (the contract is the same on PostgreSQL; speed matters here)."""
    url = f"sqlite:///{tmp_path / 'crmbot.db'}"
    store = open_store(url)
    yield store, url
    store.dispose()


# ------------------------------------------------------------------------------- HubSpot

HubSpotCheck = Callable[[FakeHubSpot, str], None]

HUBSPOT_CASES: dict[str, tuple[list[dict[str, Any]], HubSpotCheck]] = {
    "add_note": (
        [{"type": "add_note", "text": "Vérifier l'identité du demandeur."}],
        lambda fake, tid: _has_note(fake, tid, "Vérifier l'identité du demandeur."),
    ),
    "add_tag": (
        [{"type": "add_tag", "tag": "churn_risk"}],
        lambda fake, tid: _equals(fake.ticket(tid)["crmbot_tags"], "churn_risk;old"),
    ),
    "remove_tag": (
        [{"type": "remove_tag", "tag": "old"}],
        lambda fake, tid: _equals(fake.ticket(tid)["crmbot_tags"] or "", ""),
    ),
    "set_field": (
        [{"type": "set_field", "field": "case.status", "value": "pending_verification"}],
        lambda fake, tid: _equals(fake.ticket(tid)["crmbot_status"], "pending_verification"),
    ),
    "set_priority": (
        [{"type": "set_priority", "priority": "P1"}],
        lambda fake, tid: _equals(fake.ticket(tid)["hs_ticket_priority"], "URGENT"),
    ),
    "assign": (
        [{"type": "assign", "queue": "facturation", "owner": "claire"}],
        lambda fake, tid: _equals(
            (fake.ticket(tid)["hubspot_owner_id"], fake.ticket(tid)["hs_pipeline_stage"]),
            ("4242", "billing-stage"),
        ),
    ),
    "escalate": (
        [{"type": "escalate", "raise_by": 1, "queue": "juridique", "message": "Risque juridique"}],
        lambda fake, tid: _hubspot_escalated(fake, tid),
    ),
}


def _equals(actual: Any, expected: Any) -> None:
    assert actual == expected


def _hubspot_escalated(fake: FakeHubSpot, tid: str) -> None:
    ticket = fake.ticket(tid)
    assert (ticket["hs_ticket_priority"], ticket["crmbot_queue"]) == ("HIGH", "juridique")
    _has_note(fake, tid, "Risque juridique")


def _has_note(fake: FakeHubSpot, tid: str, text: str) -> None:
    bodies = [html.unescape(body) for body in fake.notes_for_ticket(tid)]  # HubSpot stores HTML
    assert any(text in body for body in bodies), bodies


@pytest.mark.parametrize("action", sorted(HUBSPOT_CASES))
def test_each_rule_action_reaches_the_hubspot_ticket(
    action: str, sqlite_store: tuple[Store, str], tmp_path: Path
) -> None:
    from connectors.hubspot.client import HubSpotApi
    from connectors.hubspot.setup import ensure_properties
    from tests.fakes.hubspot import settings_for

    store, url = sqlite_store
    rule_actions, check = HUBSPOT_CASES[action]
    with FakeHubSpot(search_lag=0.0) as fake:
        ensure_properties(HubSpotApi("crm", settings_for(fake)))
        contact = fake.create_contact("claire@client.example", "Claire", "Durand")
        tid = fake.create_ticket("Question", "Bonjour, une question.", contact_id=contact)
        fake.agent_update("tickets", tid, crmbot_tags="old")
        conf = {
            "type": "hubspot",
            "base_url": fake.url,
            "token": fake.token,
            "search_lag_seconds": 0,
        }
        sink = {
            **conf,
            "owners": {"claire": "4242"},
            "queue_stages": {"facturation": "billing-stage"},
        }
        worker = crm_worker(
            store,
            url,
            one_rule_pack(tmp_path / "rules", rule_actions),
            {**conf, "write_back": "hubspot_out"},
            {"hubspot_out": sink},
        )
        worker.run_once()
        assert action in [r["action"] for r in outbox_rows(store)]
        assert not_done(store) == []
        check(fake, tid)


# ------------------------------------------------------------------------------- Zendesk

ZendeskCheck = Callable[[FakeZendesk, int], None]

ZENDESK_CASES: dict[str, tuple[list[dict[str, Any]], ZendeskCheck]] = {
    "add_note": (
        [{"type": "add_note", "text": "Vérifier l'identité du demandeur."}],
        lambda fake, tid: _equals(
            [c["body"] for c in fake.comments(tid) if not c["public"]],
            ["Vérifier l'identité du demandeur."],
        ),
    ),
    "add_tag": (
        [{"type": "add_tag", "tag": "churn_risk"}],
        lambda fake, tid: _equals(sorted(fake.ticket(tid)["tags"]), ["churn_risk", "old"]),
    ),
    "remove_tag": (
        [{"type": "remove_tag", "tag": "old"}],
        lambda fake, tid: _equals(fake.ticket(tid)["tags"], []),
    ),
    "set_field": (
        [{"type": "set_field", "field": "case.status", "value": "pending_verification"}],
        lambda fake, tid: _equals(
            fake.ticket(tid)["custom_fields"],
            [{"id": STATUS_FIELD, "value": "pending_verification"}],
        ),
    ),
    "set_priority": (
        [{"type": "set_priority", "priority": "P1"}],
        lambda fake, tid: _equals(fake.ticket(tid)["priority"], "urgent"),
    ),
    "assign": (
        [{"type": "assign", "queue": "facturation", "owner": "agent@acme.example"}],
        lambda fake, tid: _equals(
            (fake.ticket(tid)["group_id"], fake.ticket(tid)["assignee_id"] is not None),
            (501, True),
        ),
    ),
    "escalate": (
        [{"type": "escalate", "raise_by": 1, "message": "Risque juridique"}],
        lambda fake, tid: _equals(
            (
                fake.ticket(tid)["priority"],
                fake.ticket(tid)["group_id"],
                [c["body"] for c in fake.comments(tid) if not c["public"]],
            ),
            ("high", 777, ["Risque juridique"]),
        ),
    ),
}


@pytest.mark.parametrize("action", sorted(ZENDESK_CASES))
def test_each_rule_action_reaches_the_zendesk_ticket(
    action: str, sqlite_store: tuple[Store, str], tmp_path: Path
) -> None:
    store, url = sqlite_store
    rule_actions, check = ZENDESK_CASES[action]
    with FakeZendesk(hold_back_seconds=0) as fake:
        fake.add_user("Agent", "agent@acme.example", role="agent")
        user = fake.add_user("Claire", "claire@client.example")
        ticket = fake.add_ticket("Question", "Bonjour.", requester_id=user["id"], tags=["old"])
        conf = {"type": "zendesk", "base_url": fake.url, "email": EMAIL, "api_token": TOKEN}
        sink = {
            **conf,
            "custom_fields": {"status": STATUS_FIELD},
            "groups": {"facturation": 501, "chefs": 777},
            "escalation_group": "chefs",
            "job_poll_interval_seconds": 0.01,
        }
        worker = crm_worker(
            store,
            url,
            one_rule_pack(tmp_path / "rules", rule_actions),
            {**conf, "write_back": "zendesk_out"},
            {"zendesk_out": sink},
        )
        worker.run_once()
        assert action in [r["action"] for r in outbox_rows(store)]
        assert not_done(store) == []
        check(fake, ticket["id"])


# ------------------------------------------------------------------------------------ RT

RtCheck = Callable[[Any, int], None]


def _rt_commented(server: Any, ticket_id: int, text: str) -> None:
    with server.client() as client:
        data = client.get(
            f"/ticket/{ticket_id}/attachments", params={"fields": "Content", "per_page": 50}
        ).json()
    contents = [str(a.get("Content") or "") for a in data.get("items") or []]
    assert any(text in c for c in contents), contents


def _rt_escalated(server: Any, ticket_id: int) -> None:
    ticket = server.ticket(ticket_id)
    assert int(ticket["Priority"]) == 70
    assert ticket["Queue"]["id"] == _rt_queue_id(server, "Escalade")
    _rt_commented(server, ticket_id, "Risque juridique")


def _rt_queue_id(server: Any, name: str) -> str:
    with server.client() as client:
        found = client.get(f"/queue/{name}")
        if found.status_code == 404:
            found = client.post("/queue", json={"Name": name})
            found.raise_for_status()
            return str(found.json()["id"])
        found.raise_for_status()
        return str(found.json()["id"])


RT_CASES: dict[str, tuple[list[dict[str, Any]], RtCheck]] = {
    "add_note": (
        [{"type": "add_note", "text": "Vérifier l'identité du demandeur."}],
        lambda server, tid: _rt_commented(server, tid, "Vérifier l'identité du demandeur."),
    ),
    "set_priority": (
        [{"type": "set_priority", "priority": "P1"}],
        lambda server, tid: _equals(int(server.ticket(tid)["Priority"]), 90),
    ),
    "set_field": (
        [{"type": "set_field", "field": "case.category", "value": "billing"}],
        lambda server, tid: _equals(server.custom_field(tid, "crmbot_category"), "billing"),
    ),
    "assign": (
        [{"type": "assign", "queue": "Escalade", "owner": "root"}],
        lambda server, tid: _equals(
            (server.ticket(tid)["Owner"]["id"], server.ticket(tid)["Queue"]["id"]),
            ("root", _rt_queue_id(server, "Escalade")),
        ),
    ),
    "escalate": (
        [{"type": "escalate", "raise_by": 1, "queue": "Escalade", "message": "Risque juridique"}],
        _rt_escalated,
    ),
}


@pytest.mark.parametrize("action", sorted(RT_CASES))
def test_each_rule_action_reaches_the_rt_ticket(
    action: str, sqlite_store: tuple[Store, str], tmp_path: Path, rt_server: Any
) -> None:
    import time
    from datetime import UTC, datetime, timedelta

    store, url = sqlite_store
    rule_actions, check = RT_CASES[action]
    _rt_queue_id(rt_server, "Escalade")
    start = datetime.now(UTC) - timedelta(seconds=1)
    ticket_id = rt_server.create_ticket(  # its own requester: not a follow-up of another test's
        f"Question {action}", f"{action}@client.example", f"Bonjour, question {action}."
    )
    time.sleep(2.05 - (time.time() % 1))  # LastUpdated is per second, and held back one second
    conf = {
        "type": "rt",
        "url": rt_server.url,
        "username": rt_server.username,
        "password": rt_server.password,
        "custom_fields": {"category": "crmbot_category"},
    }
    worker = crm_worker(
        store,
        url,
        one_rule_pack(tmp_path / "rules", rule_actions),
        {**conf, "write_back": "rt_out", "start_time": start.isoformat(), "fetch_body": False},
        {"rt_out": conf},
    )
    worker.run_once()
    mine = [
        r
        for r in outbox_rows(store)
        if r["action"] == action and r["result"]["ticket_id"] == str(ticket_id)
    ]
    assert mine and all(r["state"] == "done" for r in mine), mine
    assert not_done(store) == []
    check(rt_server, ticket_id)


# ------------------------------------------------------- mail cases and refusals at run time


def test_a_mail_case_written_back_to_hubspot_gets_one_ticket_that_receives_its_actions(
    sqlite_store: tuple[Store, str], tmp_path: Path
) -> None:
    from connectors.hubspot.client import HubSpotApi
    from connectors.hubspot.setup import ensure_properties
    from tests.fakes.hubspot import settings_for
    from tests.helpers.mail import deliver, make_maildir, make_message

    store, url = sqlite_store
    inbox = make_maildir(tmp_path / "inbox")
    deliver(inbox, make_message(subject="Facture fausse", body="Ma facture est fausse."))
    rules = one_rule_pack(tmp_path / "rules", [{"type": "add_tag", "tag": "mail"}])
    with FakeHubSpot(search_lag=0.0) as fake:
        ensure_properties(HubSpotApi("crm", settings_for(fake)))
        sink = {"type": "hubspot", "base_url": fake.url, "token": fake.token}
        source = {"type": "maildir", "path": str(inbox), "write_back": "hubspot_out"}
        worker = crm_worker(store, url, rules, source, {"hubspot_out": sink})
        worker.run_once()
        deliver(inbox, make_message(subject="Re: Facture fausse", body="Toujours rien ?"))
        worker.run_once()
        [ticket] = [o.properties for o in fake.objects["tickets"].values()]
    assert ticket["crmbot_case_reference"] == "CB-1"
    assert ticket["subject"] == "[#CB-1] Facture fausse"
    assert ticket["crmbot_tags"] == "mail"
    assert not_done(store) == []


def test_a_second_replica_writing_a_mail_cases_next_actions_uses_the_ticket_the_first_opened(
    sqlite_store: tuple[Store, str], tmp_path: Path
) -> None:
    """HubSpot's search trails a creation by seconds: a replica that looked the ticket up
    right after another opened it would find nothing and open a second one."""
    from connectors.hubspot.client import HubSpotApi
    from connectors.hubspot.setup import ensure_properties
    from tests.fakes.hubspot import settings_for
    from tests.helpers.mail import deliver, make_maildir, make_message

    store, url = sqlite_store
    inbox = make_maildir(tmp_path / "inbox")
    first_id = "facture-1@example.fr"
    deliver(
        inbox,
        make_message(subject="Facture fausse", body="Ma facture est fausse.", message_id=first_id),
    )
    rules = one_rule_pack(tmp_path / "rules", [{"type": "add_tag", "tag": "mail"}])
    with FakeHubSpot(search_lag=600.0) as fake:
        ensure_properties(HubSpotApi("crm", settings_for(fake)))
        sink = {"type": "hubspot", "base_url": fake.url, "token": fake.token}
        source = {"type": "maildir", "path": str(inbox), "write_back": "hubspot_out"}
        crm_worker(store, url, rules, source, {"hubspot_out": sink}).run_once()  # replica A
        deliver(
            inbox,
            make_message(
                subject="Re: Facture fausse",
                body="Toujours rien ?",
                in_reply_to=first_id,
            ),
        )
        crm_worker(store, url, rules, source, {"hubspot_out": sink}).run_once()  # replica B
        tickets = [o.properties for o in fake.objects["tickets"].values()]
    assert [t["crmbot_case_reference"] for t in tickets] == ["CB-1"]
    assert not_done(store) == []
    assert len([r for r in outbox_rows(store) if r["sink"] == "hubspot_out"]) >= 2


def test_an_action_a_reloaded_rule_plans_for_a_sink_that_cannot_perform_it_is_refused_visibly(
    sqlite_store: tuple[Store, str], tmp_path: Path
) -> None:
    from bot.settings import Settings
    from rules.engine import load_ruleset
    from tests.helpers.mail import deliver, make_maildir, make_message
    from tests.helpers.runtime import maildir_worker

    store, url = sqlite_store
    inbox = make_maildir(tmp_path / "inbox")
    deliver(inbox, make_message(subject="Bonjour", body="Une question."))
    pack = one_rule_pack(tmp_path / "rules", [{"type": "add_tag", "tag": "x"}])
    settings = Settings(
        store={"url": url},
        sources={"inbox": {"type": "maildir", "path": str(inbox), "write_back": "rt_out"}},
        sinks={
            "rt_out": {
                "type": "rt",
                "url": "https://rt.example.com",
                "token": "t0ken",
                "tags_custom_field": None,
            }
        },
    )
    ruleset = load_ruleset(pack)  # as a hot reload would, had the load-time check been skipped
    worker = maildir_worker(settings, store, rules=lambda: ruleset, sinks={})
    worker.run_once()
    [refused] = [r for r in outbox_rows(store) if r["action"] == "add_tag"]
    assert refused["state"] == "refused"
    assert "Request Tracker has no tags" in refused["result"]["reason"]


def test_a_ticket_opened_for_a_mail_case_comes_back_from_hubspot_into_the_same_case(
    sqlite_store: tuple[Store, str], tmp_path: Path
) -> None:
    from sqlalchemy import func, select

    from bot.app import rules_provider
    from bot.pipeline import Pipeline
    from bot.registry import build_sink, build_source
    from bot.settings import Settings
    from bot.stages import DEFAULT_STAGES
    from bot.store.schema import cases
    from bot.worker import Worker
    from connectors.hubspot.client import HubSpotApi
    from connectors.hubspot.setup import ensure_properties
    from tests.fakes.hubspot import settings_for
    from tests.helpers.mail import deliver, make_maildir, make_message

    store, url = sqlite_store
    inbox = make_maildir(tmp_path / "inbox")
    deliver(inbox, make_message(subject="Facture fausse", body="Ma facture est fausse."))
    with FakeHubSpot(search_lag=0.0) as fake:
        ensure_properties(HubSpotApi("crm", settings_for(fake)))
        hub = {"type": "hubspot", "base_url": fake.url, "token": fake.token}
        settings = Settings(
            store={"url": url},
            sources={
                "inbox": {"type": "maildir", "path": str(inbox), "write_back": "out"},
                "crm": {**hub, "search_lag_seconds": 0, "write_back": "out"},
            },
            sinks={"out": hub},
            rules_dir=str(one_rule_pack(tmp_path / "rules", [{"type": "add_tag", "tag": "x"}])),
        )
        worker = Worker(
            settings,
            store,
            {name: build_source(name, conf) for name, conf in settings.sources.items()},
            Pipeline(DEFAULT_STAGES),
            sinks={"out": build_sink("out", hub)[0]},
            rules=rules_provider(settings),
        )
        worker.run_once()  # the mail opens CB-1 and its ticket
        worker.run_once()  # HubSpot hands the ticket back
        worker.run_once()
        tickets = list(fake.objects["tickets"].values())
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(cases)).scalar_one() == 1
    assert len(tickets) == 1 and tickets[0].properties["crmbot_case_reference"] == "CB-1"


def test_confirming_a_duplicate_merges_the_zendesk_tickets(
    sqlite_store: tuple[Store, str], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    store, url = sqlite_store
    with FakeZendesk(hold_back_seconds=0) as fake:
        user = fake.add_user("Paul", "paul@client.example")
        first = fake.add_ticket(
            "Compteur bloqué", "Mon compteur ne marche plus.", requester_id=user["id"]
        )
        second = fake.add_ticket(
            "Réclamation", "Toujours pas de technicien, inadmissible.", requester_id=user["id"]
        )
        conf = {"type": "zendesk", "base_url": fake.url, "email": EMAIL, "api_token": TOKEN}
        sink = {**conf, "job_poll_interval_seconds": 0.01}
        source = {**conf, "write_back": "zendesk_out"}
        worker = crm_worker(
            store,
            url,
            one_rule_pack(tmp_path / "rules", [{"type": "add_tag", "tag": "seen"}]),
            source,
            {"zendesk_out": sink},
        )
        worker.run_once()
        path = tmp_path / "crmbot.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "store": {"url": url},
                    "sources": {"crm": source},
                    "sinks": {"zendesk_out": sink},
                }
            )
        )
        result = CliRunner().invoke(
            app, ["cases", "merge", "CB-1", "CB-2", "--settings", str(path)]
        )
        assert result.exit_code == 0, result.output
        worker.run_once()
        assert fake.ticket(second["id"])["status"] == "closed"
        assert any(f"#{second['id']}" in c["body"] for c in fake.comments(first["id"]))
    assert next(r for r in outbox_rows(store) if r["action"] == "merge")["state"] == "done"
