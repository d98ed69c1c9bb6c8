"""`crmbot setup hubspot` creates crmbot's properties once, and the connector is registered."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connectors.hubspot import CONNECTOR
from connectors.hubspot.client import HubSpotApi
from connectors.hubspot.settings import HubSpotSettings
from connectors.hubspot.setup import OWNED_TICKET_PROPERTIES, ensure_properties
from connectors.kit import FakeClock
from tests.fakes.hubspot import FakeHubSpot, settings_for


def test_setup_creates_group_and_properties_then_is_idempotent() -> None:
    clock = FakeClock()
    with FakeHubSpot(clock=clock) as fake:
        api = HubSpotApi("hubspot", settings_for(fake), clock=clock)
        created = ensure_properties(api)
        assert "tickets.group:crmbot" in created
        assert "notes.crmbot_key" in created
        for name in OWNED_TICKET_PROPERTIES:
            assert f"tickets.{name}" in created
            assert fake.property_defs["tickets"][name]["groupName"] == "crmbot"
        assert ensure_properties(api) == []


def test_connector_spec_builds_source_and_sink() -> None:
    assert CONNECTOR.name == "hubspot"
    settings = CONNECTOR.settings_model.model_validate({"type": "hubspot", "token": "t"})
    assert CONNECTOR.make_source is not None and CONNECTOR.make_sink is not None
    source = CONNECTOR.make_source("hubspot", settings)
    sink = CONNECTOR.make_sink("hubspot", settings)
    assert source.name == sink.name == "hubspot"
    source.close()
    sink.close()


def test_settings_need_exactly_one_kind_of_credential() -> None:
    with pytest.raises(ValidationError):
        HubSpotSettings(type="hubspot")
    with pytest.raises(ValidationError):
        HubSpotSettings(type="hubspot", token="t", oauth_client_id="c")
    HubSpotSettings(
        type="hubspot", oauth_client_id="c", oauth_client_secret="s", oauth_refresh_token="r"
    )
    with pytest.raises(ValidationError):
        HubSpotSettings(type="hubspot", token="t", surprise=1)
