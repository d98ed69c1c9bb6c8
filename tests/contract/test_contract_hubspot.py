"""The HubSpot source passes the connector contract against the stateful fake HubSpot."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.base import Cursor
from connectors.hubspot.settings import HubSpotSettings
from connectors.hubspot.source import HubSpotSource
from connectors.kit import FakeClock, parse_timestamp
from connectors.kit.contract import ContractHarness, SourceContract
from tests.fakes.hubspot import FakeHubSpot

TOKEN = "pat-na1-contract-secret"


def cursor_key(cursor: Cursor) -> tuple[float, int]:
    """HubSpot cursors order by modified time, then ticket id."""
    if not cursor.get("after"):
        return (0.0, 0)
    return (parse_timestamp(cursor["after"]).timestamp(), int(cursor["last_id"]))


class TestHubSpotContract(SourceContract):
    """Runs every contract test for HubSpot."""

    @pytest.fixture
    def harness(self) -> Iterator[ContractHarness]:
        clock = FakeClock()
        with FakeHubSpot(TOKEN, clock=clock, search_lag=2.0) as fake:
            settings = HubSpotSettings(
                type="hubspot",
                base_url=fake.url,
                token=TOKEN,
                page_size=7,  # pages and batches do not line up
                search_lag_seconds=5.0,
                max_total_retry_wait=120.0,
            )
            sources: list[HubSpotSource] = []

            def make() -> HubSpotSource:
                source = HubSpotSource("hubspot", settings, clock=clock)
                sources.append(source)
                return source

            yield ContractHarness(
                name="hubspot",
                make_source=make,
                control=fake,
                clock=clock,
                secret=TOKEN,
                batch_size=5,
                cursor_key=cursor_key,
                settle=lambda: clock.advance(10.0),
            )
            for source in sources:
                source.close()
