"""crmbot's own write-back, read back by the next poll, is not a new version of the ticket; an
agent's change is. Against the HubSpot and Zendesk fakes and a real RT.

The fault run once stored 20 requests for 10 tickets: a poll that came after the write-back
of a rule's priority (HubSpot `hs_ticket_priority`) saw the status/priority differ from the
stored version and took crmbot's own write for a change.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.store import Store, open_store
from bot.store.schema import requests
from bot.worker import Worker
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.zendesk import EMAIL, TOKEN, FakeZendesk
from tests.helpers.actions import crm_worker, not_done, one_rule_pack, outbox_rows
from tests.servers.rt import rt_server

__all__ = ["rt_server"]  # the session fixture, imported so pytest finds it here

RULE = [{"type": "set_priority", "priority": "P1"}]


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[Store, str]]:
    """A migrated SQLite store and its URL."""
    url = f"sqlite:///{tmp_path / 'crmbot.db'}"
    store = open_store(url)
    yield store, url
    store.dispose()


def _stored(store: Store) -> int:
    with store.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(requests)).scalar_one())


def _hubspot_worker(fake: FakeHubSpot, store: Store, url: str, rules: Path, **extra: Any) -> Worker:
    from connectors.hubspot.client import HubSpotApi
    from connectors.hubspot.setup import ensure_properties
    from tests.fakes.hubspot import settings_for

    ensure_properties(HubSpotApi("crm", settings_for(fake)))
    conf = {
        "type": "hubspot",
        "base_url": fake.url,
        "token": fake.token,
        "search_lag_seconds": 0,
        **extra,
    }
    return crm_worker(store, url, rules, {**conf, "write_back": "out"}, {"out": conf})


def test_a_hubspot_priority_and_stage_crmbot_wrote_are_not_a_new_version_but_an_agents_are(
    sqlite_store: tuple[Store, str], tmp_path: Path
) -> None:
    store, url = sqlite_store
    rules = one_rule_pack(tmp_path / "rules", [*RULE, {"type": "assign", "queue": "facturation"}])
    with FakeHubSpot(search_lag=0.0) as fake:
        worker = _hubspot_worker(
            fake, store, url, rules, queue_stages={"facturation": "billing-stage"}
        )
        ticket = fake.create_ticket(
            "Facture contestée",
            "Ma facture de mars est fausse, merci de corriger.",
            contact_id=fake.create_contact("claire@client.example", "Claire", "Durand"),
        )
        worker.run_once()
        assert not_done(store) == []
        written = fake.ticket(ticket)
        assert (written["hs_ticket_priority"], written["hs_pipeline_stage"]) == (
            "URGENT",
            "billing-stage",
        )
        worker.run_once()  # reads crmbot's own write back
        assert _stored(store) == 1
        fake.agent_update("tickets", ticket, hs_ticket_priority="LOW")
        worker.run_once()  # an agent's change of priority is a version of its own
        assert _stored(store) == 2


def test_a_hubspot_version_read_while_crmbots_write_is_still_pending_is_not_a_new_one(
    sqlite_store: tuple[Store, str], tmp_path: Path
) -> None:
    """The write landed but its answer was lost (a reset): the outbox row is still pending
    when the next poll reads the ticket crmbot changed."""
    store, url = sqlite_store
    with FakeHubSpot(search_lag=0.0) as fake:
        worker = _hubspot_worker(fake, store, url, one_rule_pack(tmp_path / "rules", RULE))
        ticket = fake.create_ticket(
            "Mise en demeure - facture contestée",
            "Sans correction sous 8 jours, mon avocat saisira le tribunal.",
            contact_id=fake.create_contact("claire@client.example", "Claire", "Durand"),
        )
        assert worker.poll_source("crm") == 1  # stored and planned, not dispatched
        assert not_done(store)
        fake.agent_update("tickets", ticket, hs_ticket_priority="URGENT")  # as crmbot's write
        worker.poll_source("crm")
        assert _stored(store) == 1
        fake.agent_update("tickets", ticket, subject="Mise en demeure - factures contestées")
        worker.poll_source("crm")  # the subject changed: a version of its own
        assert _stored(store) == 2


def test_a_hubspot_priority_written_by_an_escalation_whose_note_was_refused_is_not_a_new_version(
    sqlite_store: tuple[Store, str], tmp_path: Path
) -> None:
    """The fault run stored every ticket twice: an escalation writes the priority, then its
    note; a refused note ends the row skipped, with the priority on the ticket all the same.
    The next poll read that priority back as an agent's change."""
    store, url = sqlite_store
    escalate = {"type": "escalate", "to": "P1", "message": "Mise en demeure : à traiter."}
    with FakeHubSpot(search_lag=0.0) as fake:
        worker = _hubspot_worker(fake, store, url, one_rule_pack(tmp_path / "rules", [escalate]))
        tickets = [
            fake.create_ticket(
                f"Mise en demeure - facture {i} contestée",
                f"Sans correction de la facture {i} sous 8 jours, mon avocat saisira le tribunal.",
                contact_id=fake.create_contact(f"client{i}@client.example", "Claire", f"D{i}"),
            )
            for i in range(2)
        ]
        # the batch of notes, then each note alone: refused (HubSpot answers 400)
        fake.before_next(
            "POST /crm/v3/objects/(\\w+)/batch/create", lambda: fake.fail_with_status(400, 3)
        )
        worker.run_once()
        states = [r["state"] for r in outbox_rows(store) if r["action"] == "escalate"]
        assert states == ["skipped", "skipped"]
        assert [fake.ticket(t)["hs_ticket_priority"] for t in tickets] == ["URGENT", "URGENT"]
        worker.run_once()  # reads the priority crmbot wrote back
        assert _stored(store) == 2
        fake.agent_update("tickets", tickets[0], hs_ticket_priority="LOW")
        worker.run_once()  # an agent's change is still a version of its own
        assert _stored(store) == 3


def test_a_zendesk_priority_crmbot_wrote_is_not_a_new_version_but_an_agents_is(
    sqlite_store: tuple[Store, str], tmp_path: Path
) -> None:
    store, url = sqlite_store
    with FakeZendesk(hold_back_seconds=0) as fake:
        fake.add_user("Agent", "agent@acme.example", role="agent")
        user = fake.add_user("Claire", "claire@client.example")
        ticket = fake.add_ticket(
            "Facture contestée", "Ma facture est fausse.", requester_id=user["id"]
        )
        conf = {"type": "zendesk", "base_url": fake.url, "email": EMAIL, "api_token": TOKEN}
        worker = crm_worker(
            store,
            url,
            one_rule_pack(tmp_path / "rules", RULE),
            {**conf, "write_back": "out"},
            {"out": {**conf, "job_poll_interval_seconds": 0.01}},
        )
        time.sleep(1.1)  # updated_at is per second: crmbot's write makes a version of its own
        worker.run_once()
        assert not_done(store) == []
        assert fake.ticket(ticket["id"])["priority"] == "urgent"
        time.sleep(1.1)
        worker.run_once()  # reads crmbot's own write back
        assert _stored(store) == 1
        fake.agent_update(ticket["id"], priority="low")
        worker.run_once()
        assert _stored(store) == 2


def test_an_rt_priority_crmbot_wrote_is_not_a_new_version_but_an_agents_is(
    sqlite_store: tuple[Store, str], tmp_path: Path, rt_server: Any
) -> None:
    store, url = sqlite_store
    start = datetime.now(UTC) - timedelta(seconds=1)
    ticket_id = rt_server.create_ticket(
        "Facture contestée read back", "readback@client.example", "Ma facture est fausse."
    )
    time.sleep(2.05 - (time.time() % 1))  # LastUpdated is per second, and held back one second
    conf = {
        "type": "rt",
        "url": rt_server.url,
        "username": rt_server.username,
        "password": rt_server.password,
    }
    worker = crm_worker(
        store,
        url,
        one_rule_pack(tmp_path / "rules", RULE),
        {**conf, "write_back": "out", "start_time": start.isoformat(), "fetch_body": False},
        {"out": conf},
    )
    worker.run_once()
    assert not_done(store) == []
    assert int(rt_server.ticket(ticket_id)["Priority"]) == 90
    time.sleep(2.05 - (time.time() % 1))
    worker.run_once()
    assert _stored(store) == 1
    rt_server.update_ticket(ticket_id, Priority=10)
    time.sleep(2.05 - (time.time() % 1))
    worker.run_once()
    assert _stored(store) == 2


def test_two_versions_of_one_ticket_in_one_batch_that_change_nothing_store_one_request(
    sqlite_store: tuple[Store, str], tmp_path: Path
) -> None:
    """Search pages by modified date: a ticket crmbot wrote while paging, or a page read again
    after a 429, comes back later in the same poll. The second copy must see the first one,
    stored moments earlier in the same transaction."""
    from dataclasses import replace

    from connectors.base import Batch

    store, url = sqlite_store
    with FakeHubSpot(search_lag=0.0) as fake:
        worker = _hubspot_worker(fake, store, url, one_rule_pack(tmp_path / "rules", RULE))
        fake.create_ticket(
            "Mise en demeure - facture contestée",
            "Sans correction sous 8 jours, mon avocat saisira le tribunal.",
            contact_id=fake.create_contact("claire@client.example", "Claire", "Durand"),
        )
        (batch,) = list(worker.sources["crm"].source.poll(None, 100))
        (first,) = batch.records
        later = replace(first, fields={**first.fields, "version": "2030-01-01T00:00:00.000Z"})
        assert worker.process_batch("crm", Batch([first, later], batch.cursor)) == 1
    assert _stored(store) == 1
