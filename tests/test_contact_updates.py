"""`update_contact` (issue 12.2): each CRM sink changes the contact's own fields, found by its
address on file, and reports the values it replaced (they go to the audit trail and a note)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.actions import InvalidAction, parse_action
from connectors.base import SinkAction
from connectors.hubspot.client import HubSpotApi
from connectors.hubspot.setup import ensure_properties
from connectors.hubspot.sink import HubSpotSink
from connectors.kit import FakeClock
from connectors.rt.settings import RtSettings
from connectors.rt.sink import RtSink
from connectors.zendesk.settings import ZendeskSettings
from connectors.zendesk.sink import ZendeskSink
from tests.fakes.hubspot import FakeHubSpot, settings_for
from tests.fakes.zendesk import EMAIL, TOKEN, FakeZendesk
from tests.servers.rt import RtServer, rt_server

__all__ = ["rt_server"]

NEW = {"postal_address": "5 avenue Foch, 75116 Paris", "phone": "+33612345678"}


def update_contact(ticket_id: Any, contact: str, fields: dict[str, str], n: int = 1) -> SinkAction:
    target = {"type": "ticket", "id": str(ticket_id)}
    payload = {"contact": contact, "fields": fields}
    return SinkAction(n, f"key-{n}", "update_contact", target, payload)


def test_bank_details_cannot_be_an_update_contact_action() -> None:
    with pytest.raises(InvalidAction, match="bank details never"):
        parse_action("update_contact", {"contact": "a@b.fr", "fields": {"iban": "FR76..."}})


@pytest.fixture
def hubspot() -> Iterator[tuple[FakeHubSpot, FakeClock]]:
    clock = FakeClock()
    with FakeHubSpot(clock=clock) as server:
        ensure_properties(HubSpotApi("hubspot", settings_for(server), clock=clock))
        yield server, clock


def test_hubspot_contact_properties_are_set_and_the_old_values_reported(
    hubspot: tuple[FakeHubSpot, FakeClock],
) -> None:
    fake, clock = hubspot
    contact_id = fake.create_contact("anne@client.fr", "Anne", phone="+33123456789")
    fake.agent_update("contacts", contact_id, address="3 rue Haute, 75001 Paris")
    ticket_id = fake.create_ticket("Déménagement", contact_id=contact_id)
    sink = HubSpotSink("hubspot", settings_for(fake), clock=clock)
    [result] = sink.perform([update_contact(ticket_id, "anne@client.fr", NEW)])
    assert result.status == "done", result.detail
    assert result.detail["previous"] == {
        "postal_address": "3 rue Haute, 75001 Paris",
        "phone": "+33123456789",
    }
    props = fake.objects["contacts"][contact_id].properties
    assert props["address"] == NEW["postal_address"] and props["phone"] == NEW["phone"]


def test_hubspot_unknown_contact_is_skipped_with_why(
    hubspot: tuple[FakeHubSpot, FakeClock],
) -> None:
    fake, clock = hubspot
    ticket_id = fake.create_ticket("t")
    sink = HubSpotSink("hubspot", settings_for(fake), clock=clock)
    [result] = sink.perform([update_contact(ticket_id, "nobody@client.fr", NEW)])
    assert result.status == "skipped" and "0 HubSpot contacts" in result.detail["reason"]


def test_zendesk_user_fields_are_set_and_the_old_values_reported() -> None:
    clock = FakeClock()
    with FakeZendesk(clock=clock) as fake:
        user = fake.add_user("Anne", "anne@client.fr", phone="+33123456789")
        ticket = fake.add_ticket("Move", "new address", requester_id=user["id"])
        settings = ZendeskSettings(type="zendesk", base_url=fake.url, email=EMAIL, api_token=TOKEN)
        sink = ZendeskSink("zendesk", settings, clock=clock)
        [result] = sink.perform([update_contact(ticket["id"], "anne@client.fr", NEW)])
        assert result.status == "done", result.detail
        assert result.detail["previous"] == {"postal_address": None, "phone": "+33123456789"}
        stored = fake.state.users[user["id"]]
        assert stored["phone"] == NEW["phone"]
        assert stored["user_fields"]["postal_address"] == NEW["postal_address"]


def test_rt_user_is_updated_and_the_old_values_reported(rt_server: RtServer) -> None:
    ticket_id = rt_server.create_ticket("Move", "mover@example.com", "new address")
    with rt_server.client() as client:
        client.put("/user/mover@example.com", json={"Address1": "3 rue Haute, 75001 Paris"})
    settings = RtSettings(
        type="rt", url=rt_server.url, username=rt_server.username, password=rt_server.password
    )
    sink = RtSink("rt", settings)
    try:
        [result] = sink.perform([update_contact(ticket_id, "mover@example.com", NEW)])
    finally:
        sink.close()
    assert result.status == "done", result.detail
    assert result.detail["previous"]["postal_address"] == "3 rue Haute, 75001 Paris"
    with rt_server.client() as client:
        user = client.get("/user/mover@example.com").json()
    assert user["Address1"] == NEW["postal_address"] and user["MobilePhone"] == NEW["phone"]
