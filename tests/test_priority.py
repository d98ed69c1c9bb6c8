"""Priority that matches the business and never drops: blocking incidents, outages, "not
urgent", strategic customers from a pack file, reasons that accumulate over a case's requests,
and an agent's priority read back from the CRM."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import rules_provider
from bot.pipeline import Pipeline
from bot.priority import agent_priority, as_level
from bot.registry import build_source
from bot.stages import DEFAULT_STAGES
from bot.store import Store
from bot.store.cases import list_cases
from bot.worker import Worker
from rules import RuleSet, load_ruleset
from rules.engine import DEFAULT_PACK
from tests.fakes.hubspot import FakeHubSpot
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 10:00 in Paris


@pytest.fixture(scope="module")
def pack() -> RuleSet:
    return load_ruleset()


def decide(pack: RuleSet, subject: str, body: str, **case: Any) -> Any:
    facts = {
        "request": {
            "subject": subject,
            "body": body,
            "language": "fr",
            "channel": "email",
            "sender_email": "client@example.fr",
            "received_at": NOW,
        },
        "case": {"reference": "CB-1", "status": "open", "follow_up_count": 0, **case},
    }
    return pack.decide(facts, event="case.created", now=NOW)


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        (
            "Internet coupé agence de Nantes",
            "Bonjour, internet est coupé pour toute l'agence de Nantes depuis 8h, "
            "personne ne peut travailler.",
        ),
        (
            "Whole office without internet",
            "Hello, the internet connection is down for the whole office in Leeds, "
            "nobody can work since this morning.",
        ),
        (
            "Production à l'arrêt",
            "Bonjour, plus de courant à l'usine depuis 6h : la production est à l'arrêt.",
        ),
        (
            "Power cut - elderly mother",
            "Hello, my elderly mother has had no power and no heating since last night.",
        ),
    ],
)
def test_a_blocking_incident_is_p1(pack: RuleSet, subject: str, body: str) -> None:
    d = decide(pack, subject, body)
    assert d.priority == "P1" and "blocking" in d.tags


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Coupure de courant", "Bonjour, plus de courant à mon domicile depuis ce matin."),
        ("Power outage at home", "Hello, we have no electricity at home since 7am."),
    ],
)
def test_an_outage_is_one_level_above_an_ordinary_incident(
    pack: RuleSet, subject: str, body: str
) -> None:
    # The pack's outage rule alone: the learned model may also read a household without
    # power as blocking (the labelling guide does), which is its own rule's business.
    rules_only = load_ruleset()
    rules_only.model = None
    d = decide(rules_only, subject, body)
    levels = ["P1", "P2", "P3", "P4"]
    assert levels.index(d.priority) == levels.index(d.base_priority) - 1
    assert "outage" in d.tags and "blocking" not in d.tags


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Connexion espace client", "Bonjour, impossible de me connecter à mon espace client."),
        ("Card blocked", "Hello, my bank card was blocked when paying my bill online."),
    ],
)
def test_one_person_who_cannot_log_in_is_not_a_blocking_incident(
    pack: RuleSet, subject: str, body: str
) -> None:
    d = decide(pack, subject, body)
    assert "blocking" not in d.tags and d.priority in ("P3", "P4")


@pytest.mark.parametrize(
    "body",
    [
        "Bonjour, ma facture de novembre est fausse. Ce n'est pas urgent, aucun impact.",
        "Hello, my November invoice looks wrong. Not urgent, no impact on us.",
    ],
)
def test_not_urgent_lowers_the_priority_by_one_level(pack: RuleSet, body: str) -> None:
    d = decide(pack, "Facture de novembre", body)
    assert d.category == "billing" and d.base_priority == "P3" and d.priority == "P4"
    assert "not_urgent" in {r.code for r in d.reasons}


def test_not_urgent_never_goes_under_a_legal_risk_floor(pack: RuleSet) -> None:
    d = decide(pack, "Avocat", "Mon avocat vous écrira. Pas urgent pour vous visiblement.")
    assert d.priority == "P2" and "not_urgent" in {r.code for r in d.reasons}
    notice = decide(pack, "Mise en demeure", "Mise en demeure. Pas urgent pour vous visiblement.")
    assert notice.priority == "P1"


def test_a_strategic_mail_domain_is_listed_in_a_pack_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_PACK, rules)
    impact = rules / "impact.yaml"
    impact.write_text(
        impact.read_text().replace("strategic-customer.example", "northwind-logistics.co.uk")
    )
    pack = load_ruleset(rules)
    facts = {
        "request": {"subject": "Facture", "body": "Facture fausse.", "language": "fr"},
        "company": {"domain": "northwind-logistics.co.uk"},
        "case": {"status": "open"},
    }
    d = pack.decide(facts, event="case.created", now=NOW)
    assert "strategic_customer" in {r.code for r in d.reasons} and d.priority == "P2"


def test_reasons_accumulate_and_the_priority_never_drops(pack: RuleSet) -> None:
    first = decide(pack, "Mise en demeure", "Ceci est une mise en demeure, mon avocat suit.")
    stored = [
        {"code": r.code, "points": r.points, "message_fr": r.message_fr, "rule_id": r.rule_id}
        for r in first.reasons
    ]
    chase = pack.decide(
        {
            "request": {"subject": "Re: [#CB-1] Mise en demeure", "body": "Alors ?"},
            "case": {
                "reference": "CB-1",
                "status": "open",
                "category": first.category,
                "priority": "P1",
                "follow_up_count": 1,
                "reasons": stored,
            },
        },
        event="case.follow_up",
        now=NOW,
    )
    assert chase.priority == "P1"
    assert {"legal_risk", "repeated_follow_ups"} <= {r.code for r in chase.reasons}


def test_a_plain_chase_keeps_the_cases_priority_and_its_legal_reason(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    deliver(
        inbox,
        make_message(
            subject="Mise en demeure - facture contestée",
            body="Madame, Monsieur, ceci vaut mise en demeure ; mon avocat est en copie. "
            "Vous m'avez facturé deux fois et je suis client stratégique.",
            date=NOW,
        ),
    )
    settings = make_settings(store_url, {"inbox": maildir_source(inbox)})
    worker = maildir_worker(settings, store, rules=rules_provider(settings))
    worker.run_once()
    with store.connect() as conn:
        (case,) = list_cases(conn)
    deliver(
        inbox,
        make_message(
            subject=f"Re: [#{case['reference']}] facture",
            body="Bonjour, je relance.",
            date=NOW + timedelta(days=1),
        ),
    )
    worker.run_once()
    with store.connect() as conn:
        (after,) = list_cases(conn)
    assert after["follow_up_count"] == 1
    assert after["priority"] <= case["priority"]  # "P1" < "P2": never lower
    assert "legal_risk" in {r["code"] for r in after["reasons"]}
    assert "legal_risk" in after["tags"]


def test_vendor_priorities_read_back_as_levels() -> None:
    assert [as_level(v) for v in ("P2", "urgent", "HIGH", "medium", 90, "20", None, "x")] == [
        "P2",
        "P1",
        "P2",
        "P3",
        "P1",
        "P4",
        None,
        None,
    ]
    assert agent_priority("low", "normal", "P3") == "P4"
    assert agent_priority("normal", "normal", None) is None  # unchanged
    assert agent_priority("high", "normal", "P2") is None  # crmbot's own write read back


def test_an_agents_priority_in_the_crm_stands_over_accumulated_reasons(
    store: Store, store_url: str
) -> None:
    with FakeHubSpot(search_lag=0.0) as fake:
        conf = {
            "type": "hubspot",
            "base_url": fake.url,
            "token": fake.token,
            "search_lag_seconds": 0,
        }
        settings = make_settings(store_url, {"crm": conf})
        worker = Worker(
            settings,
            store,
            {"crm": build_source("crm", conf)},
            Pipeline(DEFAULT_STAGES),
            rules=rules_provider(settings),
        )
        ticket = fake.create_ticket(
            "Mise en demeure",
            "Ceci vaut mise en demeure, mon avocat saisira le tribunal.",
            contact_id=fake.create_contact("a@client.example"),
            hs_ticket_priority="HIGH",
        )
        worker.run_once()
        with store.connect() as conn:
            (case,) = list_cases(conn)
        assert case["priority"] in ("P1", "P2")
        fake.agent_update("tickets", ticket, hs_ticket_priority="LOW")
        worker.run_once()
        with store.connect() as conn:
            (after,) = list_cases(conn)
        fake.agent_update("tickets", ticket, content="Ceci vaut mise en demeure. Alors ?")
        worker.run_once()
        with store.connect() as conn:
            (later,) = list_cases(conn)
    assert after["priority"] == "P4"
    assert "agent_priority" in {r["code"] for r in after["reasons"]}
    assert later["priority"] == "P4"


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        (
            "Internet coupé - agence de Nantes",
            "Bonjour, internet est coupé pour toute l'agence de Nantes, personne ne peut "
            "travailler depuis ce matin.",
            "P1",
        ),
        (
            "Question about my invoice",
            "Hello, the VAT number is missing on my last invoice. Not urgent, no impact.",
            "P4",
        ),
    ],
)
def test_priority_signals_reach_the_stored_case(
    store: Store, store_url: str, tmp_path: Path, subject: str, body: str, expected: str
) -> None:
    inbox = make_maildir(tmp_path / "inbox")
    deliver(inbox, make_message(subject=subject, body=body, date=NOW))
    settings = make_settings(store_url, {"inbox": maildir_source(inbox)})
    worker = maildir_worker(settings, store, rules=rules_provider(settings))
    worker.clock = lambda: NOW + timedelta(minutes=5)  # read as it arrives: no SLA breach
    worker.run_once()
    with store.connect() as conn:
        (case,) = list_cases(conn)
    assert case["priority"] == expected
