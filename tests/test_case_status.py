"""Ticket statuses become case statuses, and waiting statuses pause the SLA clock."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.app import rules_provider
from bot.pipeline import Pipeline
from bot.registry import build_source
from bot.stages import DEFAULT_STAGES
from bot.status import map_status, track_pauses
from bot.store import Store
from bot.store.cases import list_cases
from bot.worker import Worker
from tests.fakes.hubspot import FakeHubSpot
from tests.helpers.runtime import make_settings

PAUSED = frozenset({"waiting_customer", "waiting_third_party"})
T1 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)


def test_vendor_statuses_map_to_crmbot_statuses_with_the_source_map_first() -> None:
    assert map_status("pending", {}) == "waiting_customer"
    assert map_status("Hold", {}) == "waiting_third_party"
    assert map_status("stalled", {}) == "waiting_third_party"
    assert map_status("7", {"7": "waiting_customer"}) == "waiting_customer"
    assert map_status("something-else", {}) is None
    assert map_status(None, {}) is None


def test_a_pause_opens_on_a_waiting_status_and_closes_when_work_resumes() -> None:
    opened = track_pauses([], "open", "waiting_customer", PAUSED, T1)
    assert opened == [[T1.isoformat(), None]]
    same = track_pauses(opened, "waiting_customer", "waiting_third_party", PAUSED, T2)
    assert same == opened  # still paused: one pause, not two
    closed = track_pauses(opened, "waiting_third_party", "open", PAUSED, T2)
    assert closed == [[T1.isoformat(), T2.isoformat()]]
    assert track_pauses(closed, "open", "resolved", PAUSED, T2) == closed


def test_an_agent_moving_a_ticket_to_waiting_pauses_its_case(store: Store, store_url: str) -> None:
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
            "Facture contestée",
            "Ma facture est fausse.",
            contact_id=fake.create_contact("a@client.example"),
        )
        worker.run_once()
        fake.agent_update("tickets", ticket, hs_pipeline_stage="2")
        worker.run_once()
        with store.connect() as conn:
            (case,) = list_cases(conn)
        assert case["status"] == "waiting_customer"
        assert len(case["pauses"]) == 1 and case["pauses"][0][1] is None
        fake.agent_update("tickets", ticket, hs_pipeline_stage="3")
        worker.run_once()
        with store.connect() as conn:
            (case,) = list_cases(conn)
    assert case["status"] == "open" and case["pauses"][0][1] is not None
