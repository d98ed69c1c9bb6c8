"""Each sink's check() signs in with one cheap call; results come in the actions' order."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import AuthError, ConfigError
from connectors.base import SinkAction, SinkResult, in_action_order
from connectors.hubspot.client import HubSpotApi
from connectors.hubspot.setup import ensure_properties
from connectors.hubspot.sink import HubSpotSink
from connectors.kit.clock import FakeClock
from connectors.rt.settings import RtSettings
from connectors.rt.sink import RtSink
from connectors.zendesk.settings import ZendeskSettings
from connectors.zendesk.sink import ZendeskSink
from tests.fakes.hubspot import FakeHubSpot, settings_for
from tests.fakes.zendesk import EMAIL, TOKEN, FakeZendesk
from tests.servers.rt import RtServer, rt_server

__all__ = ["rt_server"]  # the session fixture, imported so pytest finds it here


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(clock=FakeClock()) as server:
        yield server


def test_hubspot_check_signs_in_and_asks_for_setup_until_it_ran(hubspot: FakeHubSpot) -> None:
    clock = FakeClock()
    sink = HubSpotSink("crm", settings_for(hubspot), clock=clock)
    with pytest.raises(ConfigError, match="crmbot setup hubspot"):
        sink.check()
    ensure_properties(HubSpotApi("crm", settings_for(hubspot), clock=clock))
    assert "crmbot_* ticket properties" in sink.check()
    hubspot.revoke_credentials()
    with pytest.raises(AuthError):
        sink.check()


def test_zendesk_check_signs_in_and_fails_on_revoked_credentials() -> None:
    clock = FakeClock()
    with FakeZendesk(clock=clock) as fake:
        settings = ZendeskSettings(type="zendesk", base_url=fake.url, email=EMAIL, api_token=TOKEN)
        sink = ZendeskSink("desk", settings, clock=clock)
        assert f"as {EMAIL}" in sink.check()
        fake.revoke_credentials()
        with pytest.raises(AuthError):
            sink.check()


def test_rt_check_signs_in_and_fails_on_a_wrong_password(rt_server: RtServer) -> None:
    def sink(password: str) -> RtSink:
        settings = RtSettings(
            type="rt", url=rt_server.url, username=rt_server.username, password=password
        )
        return RtSink("rt", settings)

    assert "signed in" in sink(rt_server.password).check()
    with pytest.raises(AuthError):
        sink("not-the-password").check()


@given(st.permutations(list(range(1, 9))), st.integers(min_value=0, max_value=8))
def test_results_come_in_action_order_each_as_soon_as_those_before_it_came(
    arrival: list[int], fail_after: int
) -> None:
    actions = [SinkAction(i, f"k{i}", "add_note", {}, {}) for i in range(1, 9)]

    def performed() -> Iterator[SinkResult]:
        for n, outbox_id in enumerate(arrival):
            if n == fail_after:
                raise OSError("connection reset")
            yield SinkResult(outbox_id, "done")

    got: list[int] = []
    with pytest.raises(OSError) if fail_after < 8 else nullcontext():
        for result in in_action_order(actions, performed()):
            got.append(result.outbox_id)
    came = arrival[:fail_after]
    assert sorted(got) == sorted(came)  # nothing performed is held back, nothing invented
    in_order = [i for i in range(1, 9) if all(j in came for j in range(1, i + 1))]
    assert got[: len(in_order)] == in_order
