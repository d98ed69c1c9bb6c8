"""The shared source contract, run against the Zendesk source and the fake Zendesk."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.base import Source
from connectors.kit.clock import FakeClock
from connectors.kit.contract import ContractHarness, SourceContract
from connectors.zendesk.settings import ZendeskSettings
from connectors.zendesk.source import ZendeskSource
from tests.fakes.zendesk import EMAIL, TOKEN, FakeZendesk


class ZendeskControl:
    """The contract's ServerControl on top of the fake's control methods."""

    def __init__(self, fake: FakeZendesk, clock: FakeClock) -> None:
        self.fake = fake
        self.clock = clock
        self.requester = fake.add_user("Contract Client", "contract@example.com")["id"]
        self.seq = 0

    def add_records(self, count: int) -> list[str]:
        """Tickets changed one second apart (Zendesk stamps have one-second resolution)."""
        ids = []
        for _ in range(count):
            self.seq += 1
            self.clock.advance(1)
            ticket = self.fake.add_ticket(
                f"Contract {self.seq}", f"Body {self.seq}", requester_id=self.requester
            )
            ids.append(f"ticket:{ticket['id']}")
        return ids

    def add_malformed_record(self) -> str:
        """A ticket whose subject is an object and whose updated_at is not a time."""
        self.clock.advance(1)
        ticket_id = self.fake.add_raw_ticket(
            {"subject": {"oops": 1}, "updated_at": "not-a-time", "requester_id": self.requester}
        )
        return f"ticket:{ticket_id}"

    def fail_with_429(self, times: int, retry_after: float) -> None:
        """Queue 429s with Retry-After."""
        self.fake.fail_next(429, times, retry_after)

    def fail_with_status(self, status: int, times: int) -> None:
        """Queue 5xx answers."""
        self.fake.fail_next(status, times)

    def clear_faults(self) -> None:
        """Back to normal."""
        self.fake.clear_faults()

    def revoke_credentials(self) -> None:
        """401 from now on."""
        self.fake.revoke_credentials()

    def loop_pagination(self) -> None:
        """Hand back the same after_cursor forever."""
        self.fake.loop_cursor()

    def early_retries(self) -> int:
        """Requests sent before a given Retry-After had passed."""
        return self.fake.early_retries()


class TestZendeskContract(SourceContract):
    """Zendesk passes the shared source contract."""

    @pytest.fixture
    def harness(self) -> Iterator[ContractHarness]:
        """A fake Zendesk sharing a fake clock with the source."""
        clock = FakeClock()
        with FakeZendesk(clock=clock) as fake:
            settings = ZendeskSettings(
                type="zendesk", base_url=fake.url, email=EMAIL, api_token=TOKEN
            )

            def make_source() -> Source:
                return ZendeskSource("zendesk", settings, clock=clock)

            yield ContractHarness(
                name="zendesk",
                make_source=make_source,
                control=ZendeskControl(fake, clock),
                clock=clock,
                secret=TOKEN,
                batch_size=5,
                cursor_key=lambda c: c["watermark"],
                settle=lambda: clock.advance(61),  # exports hold back the last minute
            )
