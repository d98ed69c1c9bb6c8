"""The shared source contract, run against the RT source and a real Request Tracker 5.

Faults (429, 5xx, 401, a replayed page, a mangled record) come from `FaultProxy`, a loopback
proxy in front of the real server. The clock is a FakeClock that also follows real time, so
Retry-After waits are recorded and skipped while RT's timestamps stay real.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from connectors.base import Source
from connectors.kit.clock import FakeClock
from connectors.kit.contract import ContractHarness, SourceContract
from connectors.rt.settings import RtSettings
from connectors.rt.source import RtSource
from tests.helpers.clocks import RealTimeFakeClock
from tests.servers.rt import FaultProxy, RtServer, rt_server

__all__ = ["rt_server"]  # the session fixture, imported so pytest finds it here


class MangleProxy(FaultProxy):
    """A FaultProxy that can also turn one ticket's Subject into a non-string in listings."""

    def __init__(self, upstream: str, *, clock: FakeClock) -> None:
        super().__init__(upstream, clock=clock)
        self.mangled: set[str] = set()

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Forward, then mangle the chosen tickets in search results."""
        status, out_headers, out = super().handle(method, path, headers, body)
        if status == 200 and self.mangled and path.split("?")[0].endswith("/tickets"):
            data = json.loads(out)
            for item in data.get("items") or []:
                if str(item.get("id")) in self.mangled:
                    item["Subject"] = {"mangled": True}
            out = json.dumps(data).encode()
        return status, out_headers, out


class RtControl:
    """The contract's ServerControl: tickets on the real RT, faults from the proxy."""

    def __init__(self, server: RtServer, proxy: MangleProxy) -> None:
        self.server = server
        self.proxy = proxy
        self.seq = 0

    def add_records(self, count: int) -> list[str]:
        """Create tickets through REST 2 (ids grow; LastUpdated never goes back)."""
        ids = []
        for _ in range(count):
            self.seq += 1
            ticket_id = self.server.create_ticket(
                f"Contract {self.seq}", "contract@example.com", f"Body {self.seq}"
            )
            ids.append(f"ticket:{ticket_id}")
        return ids

    def add_malformed_record(self) -> str:
        """A real ticket whose Subject the proxy turns into an object."""
        [source_id] = self.add_records(1)
        self.proxy.mangled.add(source_id.partition(":")[2])
        return source_id

    def fail_with_429(self, times: int, retry_after: float) -> None:
        """Queue 429s with Retry-After."""
        self.proxy.fail_next(429, times, retry_after)

    def fail_with_status(self, status: int, times: int) -> None:
        """Queue 5xx answers."""
        self.proxy.fail_next(status, times)

    def clear_faults(self) -> None:
        """Forward everything again."""
        self.proxy.clear()

    def revoke_credentials(self) -> None:
        """401 from now on."""
        self.proxy.revoke()

    def loop_pagination(self) -> None:
        """Replay the first search page forever."""
        self.proxy.loop()

    def early_retries(self) -> int:
        """Requests sent before a given Retry-After had passed."""
        return self.proxy.early_retries()


def _settle() -> None:
    """Let the current second pass (the source holds it back)."""
    time.sleep(2.05 - (time.time() % 1))


class TestRtContract(SourceContract):
    """Request Tracker passes the shared source contract."""

    @pytest.fixture
    def harness(self, rt_server: RtServer) -> Iterator[ContractHarness]:
        """A proxy in front of the shared RT, and a source polling from 'now'."""
        clock = RealTimeFakeClock()
        proxy = MangleProxy(rt_server.url, clock=clock).start()
        settings = RtSettings(
            type="rt",
            url=proxy.url,
            username=rt_server.username,
            password=rt_server.password,
            start_time=time.time() - 1,  # type: ignore[arg-type]
            fetch_body=False,
        )

        def make_source() -> Source:
            return RtSource("rt", settings, clock=clock)

        try:
            yield ContractHarness(
                name="rt",
                make_source=make_source,
                control=RtControl(rt_server, proxy),
                clock=clock,
                secret=rt_server.password,
                batch_size=2,
                cursor_key=lambda c: (c["last_updated"], c["id"]),
                settle=_settle,
            )
        finally:
            proxy.stop()
