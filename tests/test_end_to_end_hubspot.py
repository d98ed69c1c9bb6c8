"""HubSpot tickets through the whole worker: triaged, written back once, agents' edits kept."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.app import rules_provider
from bot.pipeline import Pipeline
from bot.registry import build_sink, build_source
from bot.stages import DEFAULT_STAGES
from bot.store import Store
from bot.store.outbox import counts
from bot.store.schema import cases
from bot.worker import Worker
from tests.fakes.hubspot import FakeHubSpot
from tests.helpers.runtime import make_settings


def _conf(fake: FakeHubSpot, **extra: Any) -> dict[str, Any]:
    return {
        "type": "hubspot",
        "base_url": fake.url,
        "token": fake.token,
        "search_lag_seconds": 0,
        "interval_seconds": 5,
        **extra,
    }


def _worker(fake: FakeHubSpot, store: Store, store_url: str, **sink: Any) -> Worker:
    settings = make_settings(
        store_url,
        {"crm": _conf(fake, write_back="crm_out")},
        sinks={"crm_out": _conf(fake, **sink)},
    )
    source = build_source("crm", settings.sources["crm"])
    sink = build_sink("crm_out", settings.sinks["crm_out"])[0]
    return Worker(
        settings,
        store,
        {"crm": source},
        Pipeline(DEFAULT_STAGES),
        sinks={"crm_out": sink},
        rules=rules_provider(settings),
    )


def test_tickets_are_triaged_and_the_enrichment_is_written_back_once(
    store: Store, store_url: str
) -> None:
    with FakeHubSpot(search_lag=0.0) as fake:
        from connectors.hubspot.client import HubSpotApi
        from connectors.hubspot.setup import ensure_properties
        from tests.fakes.hubspot import settings_for

        ensure_properties(HubSpotApi("crm", settings_for(fake)))
        contact = fake.create_contact("claire@client.example", "Claire", "Durand")
        legal = fake.create_ticket(
            "Mise en demeure - facture contestée",
            "Sans correction de la facture sous 8 jours, mon avocat saisira le tribunal.",
            contact_id=contact,
        )
        outage = fake.create_ticket(
            "Power cut at our warehouse",
            "Since this morning we have no electricity at all, production is down.",
            contact_id=fake.create_contact("ops@northwind.example"),
        )
        worker = _worker(fake, store, store_url)
        worker.run_once()
        first = {tid: fake.ticket(tid) for tid in (legal, outage)}
        updates = fake.calls("POST /crm/v3/objects/tickets/batch/update")
        worker.run_once()  # reads crmbot's own write back: nothing new to write
        assert fake.calls("POST /crm/v3/objects/tickets/batch/update") == updates
        with store.connect() as conn:
            assert conn.execute(select(func.count()).select_from(cases)).scalar_one() == 2
            assert counts(conn).get("done", 0) >= 2 and not counts(conn).get("dead")
    assert first[legal]["crmbot_priority"] in ("P1", "P2")
    assert first[legal]["crmbot_case_reference"].startswith("CB-")
    assert "legal" in (first[legal]["crmbot_impact_reasons"] or "").lower()
    assert first[outage]["crmbot_category"] == "technical_incident"


def test_setup_hubspot_creates_the_properties_and_is_idempotent(tmp_path: Any) -> None:
    from bot.cli import app

    with FakeHubSpot() as fake:
        path = tmp_path / "crmbot.yaml"
        path.write_text(
            f"sinks:\n  crm:\n    type: hubspot\n    base_url: {fake.url}\n"
            f"    token: {fake.token}\n"
        )
        first = CliRunner().invoke(app, ["setup", "hubspot", "--settings", str(path)])
        again = CliRunner().invoke(app, ["setup", "hubspot", "--settings", str(path)])
        assert first.exit_code == 0 and "crmbot_category" in first.output
        assert again.exit_code == 0 and "already set up" in again.output
        assert fake.token not in first.output


def test_confirming_a_duplicate_merges_the_hubspot_tickets_when_enabled(
    store: Store, store_url: str, tmp_path: Any
) -> None:
    import yaml

    from bot.cli import app

    with FakeHubSpot(search_lag=0.0) as fake:
        contact = fake.create_contact("paul@client.example", "Paul", "Martin")
        first = fake.create_ticket(
            "Compteur bloqué", "Mon compteur ne marche plus.", contact_id=contact
        )
        second = fake.create_ticket(
            "Réclamation", "Toujours pas de technicien, inadmissible.", contact_id=contact
        )
        sink = _conf(fake, enable_merge=True)
        settings = {
            "store": {"url": store_url},
            "sources": {"crm": _conf(fake, write_back="crm_out")},
            "sinks": {"crm_out": sink},
        }
        path = tmp_path / "crmbot.yaml"
        path.write_text(yaml.safe_dump(settings))
        worker = _worker(fake, store, store_url, enable_merge=True)
        worker.run_once()
        result = CliRunner().invoke(
            app, ["cases", "merge", "CB-1", "CB-2", "--settings", str(path)]
        )
        assert result.exit_code == 0, result.output
        assert f"ticket {second} will be merged into {first}" in result.output
        worker.run_once()
        assert fake.merged.get(second) == first


def test_a_strategic_company_in_hubspot_raises_the_priority_of_its_tickets(
    store: Store, store_url: str
) -> None:
    from bot.store.cases import list_cases

    with FakeHubSpot(search_lag=0.0) as fake:
        fake.define_property("companies", "strategic_account", "bool")
        big = fake.create_company("Riviera Hôtels", "riviera.example", strategic_account="true")
        small = fake.create_company("Boulangerie", "pain.example")
        for company, email in ((big, "dsi@riviera.example"), (small, "chef@pain.example")):
            contact = fake.create_contact(email, company_id=company)
            fake.create_ticket(
                "Question sur la facture",
                "Pouvez-vous m'envoyer le détail ?",
                contact_id=contact,
                company_id=company,
            )
        conf = _conf(fake, company_strategic_property="strategic_account")
        settings = make_settings(store_url, {"crm": conf})
        Worker(
            settings,
            store,
            {"crm": build_source("crm", conf)},
            Pipeline(DEFAULT_STAGES),
            rules=rules_provider(settings),
        ).run_once()
        with store.connect() as conn:
            by_contact = {c["contact_email"]: c for c in list_cases(conn)}
    strategic, ordinary = by_contact["dsi@riviera.example"], by_contact["chef@pain.example"]
    assert any(r["code"] == "strategic_customer" for r in strategic["reasons"])
    assert not any(r["code"] == "strategic_customer" for r in ordinary["reasons"])
    assert strategic["priority"] < ordinary["priority"]  # "P2" sorts before "P3"


def test_polled_hubspot_contacts_give_identity_and_tier_to_later_mail(
    store: Store, store_url: str, tmp_path: Any
) -> None:
    from bot.store.cases import list_cases
    from bot.store.rows import get_contact
    from tests.helpers.mail import deliver, make_maildir, make_message
    from tests.helpers.runtime import maildir_source

    with FakeHubSpot(search_lag=0.0) as fake:
        fake.define_property("contacts", "customer_tier", "string")
        fake.create_contact("anne@grandcompte.example", "Anne", "Roy", customer_tier="strategic")
        fake.create_contact("bob@petit.example", "Bob", "Lee")
        inbox = make_maildir(tmp_path / "inbox")
        for sender in ("anne@grandcompte.example", "bob@petit.example"):
            deliver(
                inbox,
                make_message(
                    sender=sender,
                    subject="Question sur la facture",
                    body="Pouvez-vous m'envoyer le détail de la facture ?",
                ),
            )
        crm = _conf(fake, poll="contacts", contact_tier_property="customer_tier")
        settings = make_settings(store_url, {"contacts": crm, "inbox": maildir_source(inbox)})
        sources = {
            "contacts": build_source("contacts", crm),
            "inbox": build_source("inbox", settings.sources["inbox"]),
        }
        Worker(
            settings, store, sources, Pipeline(DEFAULT_STAGES), rules=rules_provider(settings)
        ).run_once()
    with store.connect() as conn:
        by_contact = {c["contact_email"]: c for c in list_cases(conn)}
        anne = get_contact(conn, by_contact["anne@grandcompte.example"]["contact_id"])
    assert anne is not None and anne["external_ids"].get("hubspot")
    assert anne["attributes"]["tier"] == "strategic" and anne["name"] == "Anne Roy"
    assert any(
        r["code"] == "strategic_customer" for r in by_contact["anne@grandcompte.example"]["reasons"]
    )
    assert not any(
        r["code"] == "strategic_customer" for r in by_contact["bob@petit.example"]["reasons"]
    )


def test_crmbots_own_write_read_back_is_not_stored_as_a_new_request_but_an_agents_change_is(
    store: Store, store_url: str
) -> None:
    from bot.store.schema import requests

    with FakeHubSpot(search_lag=0.0) as fake:
        from connectors.hubspot.client import HubSpotApi
        from connectors.hubspot.setup import ensure_properties
        from tests.fakes.hubspot import settings_for

        ensure_properties(HubSpotApi("crm", settings_for(fake)))
        ticket = fake.create_ticket(
            "Facture contestée",
            "Ma facture de mars est fausse, merci de corriger.",
            contact_id=fake.create_contact("claire@client.example", "Claire", "Durand"),
        )
        worker = _worker(fake, store, store_url)
        worker.run_once()
        assert fake.ticket(ticket).get("crmbot_priority")  # written back: a new version
        worker.run_once()  # reads that version: nothing a person changed
        with store.connect() as conn:
            assert conn.execute(select(func.count()).select_from(requests)).scalar_one() == 1
        fake.agent_update("tickets", ticket, hs_pipeline_stage="2")
        worker.run_once()  # an agent's change of status is a version of its own
        with store.connect() as conn:
            assert conn.execute(select(func.count()).select_from(requests)).scalar_one() == 2
