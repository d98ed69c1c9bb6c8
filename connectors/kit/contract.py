"""The contract every source connector passes, as reusable pytest test classes.

A connector's test module subclasses `SourceContract` and provides a `harness` fixture:

    class TestHubSpotContract(SourceContract):
        @pytest.fixture
        def harness(self, fake_hubspot) -> ContractHarness:
            return ContractHarness(name="hubspot", make_source=..., control=..., clock=...)

`control` is the test server's fault-injection handle (see `ServerControl`); a server that
cannot inject some fault raises NotImplementedError and that test is skipped, never passed.
The tests commit cursors the way the runtime does: after each batch is fully received.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Protocol

try:
    import pytest
except ImportError as exc:  # the suite is for connector authors: pip install 'crmbot[testing]'
    raise ImportError(
        "connectors.kit.contract needs pytest: install it with pip install 'crmbot[testing]'"
    ) from exc

from bot.errors import AuthError, RateLimited, RetriableError
from bot.models import SourceRecord
from connectors.base import Batch, Cursor, Source
from connectors.kit.clock import FakeClock
from connectors.kit.pagination import PaginationLoop

REQUIRED_TICKET_FIELDS = ("ticket_id", "subject", "body", "updated_at", "version", "message_id")


class ServerControl(Protocol):
    """What a fake (or instrumented real) server lets the contract do to it."""

    def add_records(self, count: int) -> list[str]:
        """Create `count` records, each modified after all earlier ones; return source_ids."""
        ...

    def add_malformed_record(self) -> str:
        """Create a record the connector cannot map; return the source_id it will report."""
        ...

    def fail_with_429(self, times: int, retry_after: float) -> None:
        """Answer the next `times` API requests with 429 and `Retry-After: retry_after`."""
        ...

    def fail_with_status(self, status: int, times: int) -> None:
        """Answer the next `times` API requests with `status` (e.g. 503)."""
        ...

    def clear_faults(self) -> None:
        """Stop injecting 429/5xx/pagination loops."""
        ...

    def revoke_credentials(self) -> None:
        """Answer 401 to the connector's credentials from now on."""
        ...

    def loop_pagination(self) -> None:
        """Make the listing endpoint hand back the same page token/link again and again."""
        ...

    def early_retries(self) -> int:
        """Requests that arrived before a Retry-After the server had given had passed."""
        ...


@dataclass
class ContractHarness:
    """A source bound to a test server, and the handles the contract needs."""

    name: str  # the connector name, expected in error messages
    make_source: Callable[[], Source]  # a new source on the same server (after a "crash")
    control: ServerControl
    clock: FakeClock | None = None  # the clock the source sleeps on, when it is fake
    secret: str = ""  # a credential that must never appear in an error message
    batch_size: int = 5
    cursor_key: Callable[[Cursor], Any] = field(default=lambda c: tuple(sorted(c.items())))
    settle: Callable[[], None] = field(default=lambda: None)  # let writes become visible


@dataclass
class Drained:
    """Everything one poll yielded, with the cursor committed after each batch."""

    records: list[SourceRecord]
    cursors: list[Cursor]
    cursor: Cursor | None

    @property
    def ids(self) -> list[str]:
        """Source ids in the order read."""
        return [r.source_id for r in self.records]


def drain(
    source: Source, cursor: Cursor | None, batch_size: int, *, max_batches: int = 100_000
) -> Drained:
    """Poll to the end, committing the cursor after each batch as the runtime does."""
    records: list[SourceRecord] = []
    cursors: list[Cursor] = []
    for n, batch in enumerate(source.poll(cursor, batch_size)):
        assert n < max_batches, f"the poll did not end after {max_batches} batches"
        assert isinstance(batch, Batch)
        records.extend(batch.records)
        cursors.append(batch.cursor)
        cursor = batch.cursor
    return Drained(records, cursors, cursor)


def _control(call: Callable[..., Any], *args: Any) -> Any:
    try:
        return call(*args)
    except NotImplementedError:
        pytest.skip(f"the test server cannot {call.__name__.replace('_', ' ')}")


class SourceContract:
    """The source contract (issue 5, item 6). Subclass as `Test<Vendor>Contract`."""

    def _source(self, harness: ContractHarness) -> Source:
        harness.settle()
        return harness.make_source()

    def test_records_carry_crmbot_ticket_fields(self, harness: ContractHarness) -> None:
        """Every record names its source, is a ticket, and has crmbot's field names."""
        ids = _control(harness.control.add_records, 3)
        out = drain(self._source(harness), None, harness.batch_size)
        got = {r.source_id: r for r in out.records}
        assert set(ids) <= set(got)
        for sid in ids:
            record = got[sid]
            assert record.source == harness.name
            assert record.kind == "ticket"
            assert record.quarantine_reason is None
            missing = [k for k in REQUIRED_TICKET_FIELDS if k not in record.fields]
            assert not missing, f"{sid} lacks {missing}"

    def test_cursor_only_moves_forward(self, harness: ContractHarness) -> None:
        """Cursors never go back, and a poll from the last cursor yields only what is new."""
        first = _control(harness.control.add_records, 2 * harness.batch_size + 1)
        out = drain(self._source(harness), None, harness.batch_size)
        assert set(first) <= set(out.ids)
        keys = [harness.cursor_key(c) for c in out.cursors]
        assert keys == sorted(keys), "a cursor moved backwards within a poll"
        assert out.cursor is not None

        again = drain(self._source(harness), out.cursor, harness.batch_size)
        assert not set(again.ids) & set(first), "records before the cursor were read again"
        for c in again.cursors:
            assert harness.cursor_key(c) >= harness.cursor_key(out.cursor)

        later = _control(harness.control.add_records, 3)
        newer = drain(self._source(harness), out.cursor, harness.batch_size)
        assert set(newer.ids) == set(later)
        assert newer.cursor is not None
        assert harness.cursor_key(newer.cursor) > harness.cursor_key(out.cursor)

    def test_interrupted_poll_resumes_from_committed_cursor_without_loss(
        self, harness: ContractHarness
    ) -> None:
        """A poll abandoned after its first batch loses nothing when resumed from its cursor."""
        ids = _control(harness.control.add_records, 3 * harness.batch_size)
        source = self._source(harness)
        poll = source.poll(None, harness.batch_size)
        first = next(poll)
        if isinstance(poll, Generator):
            poll.close()  # the worker crashed before storing anything more
        source.close()
        rest = drain(harness.make_source(), first.cursor, harness.batch_size)
        assert set(ids) <= {r.source_id for r in first.records} | set(rest.ids)

    def test_outage_mid_poll_resumes_without_loss(self, harness: ContractHarness) -> None:
        """A server failing after the first batch raises RetriableError; resuming loses nothing."""
        ids = _control(harness.control.add_records, 3 * harness.batch_size)
        poll = self._source(harness).poll(None, harness.batch_size)
        first = next(poll)
        _control(harness.control.fail_with_status, 503, 1000)
        with pytest.raises(RetriableError):
            for _ in poll:
                pass
        harness.control.clear_faults()
        rest = drain(harness.make_source(), first.cursor, harness.batch_size)
        assert set(ids) <= {r.source_id for r in first.records} | set(rest.ids)

    def test_the_same_source_polls_again_after_an_outage_and_close(
        self, harness: ContractHarness
    ) -> None:
        """The runtime closes a source after an error and polls that same object again later."""
        ids = _control(harness.control.add_records, 2)
        source = self._source(harness)
        _control(harness.control.fail_with_status, 503, 1000)
        with pytest.raises(RetriableError):
            drain(source, None, harness.batch_size)
        source.close()
        harness.control.clear_faults()
        again = drain(source, None, harness.batch_size)
        assert set(ids) <= set(again.ids)

    def test_429_storm_loses_nothing_and_waits_for_retry_after(
        self, harness: ContractHarness
    ) -> None:
        """Several 429s in a row: every record still arrives, no retry comes before Retry-After."""
        ids = _control(harness.control.add_records, 2 * harness.batch_size + 1)
        source = self._source(harness)
        _control(harness.control.fail_with_429, 4, 7.0)
        out = drain(source, None, harness.batch_size)
        assert set(ids) <= set(out.ids)
        assert harness.control.early_retries() == 0
        if harness.clock is not None:
            assert len([s for s in harness.clock.sleeps if s >= 7.0]) >= 4

    def test_429_storm_longer_than_patience_raises_rate_limited_then_resumes(
        self, harness: ContractHarness
    ) -> None:
        """An endless 429 storm surfaces as RateLimited with retry_after; nothing is lost after."""
        ids = _control(harness.control.add_records, harness.batch_size + 2)
        source = self._source(harness)
        _control(harness.control.fail_with_429, 10_000, 60.0)
        with pytest.raises(RateLimited) as caught:
            drain(source, None, harness.batch_size)
        assert caught.value.retry_after is not None and caught.value.retry_after >= 60.0
        assert harness.control.early_retries() == 0
        harness.control.clear_faults()
        out = drain(harness.make_source(), None, harness.batch_size)
        assert set(ids) <= set(out.ids)

    def test_401_is_a_clear_auth_error(self, harness: ContractHarness) -> None:
        """Refused credentials raise AuthError naming the connector and never the secret."""
        _control(harness.control.add_records, 1)
        source = self._source(harness)
        _control(harness.control.revoke_credentials)
        with pytest.raises(AuthError) as caught:
            drain(source, None, harness.batch_size)
        message = str(caught.value)
        assert harness.name.lower() in message.lower()
        if harness.secret:
            assert harness.secret not in message
        with pytest.raises(AuthError):
            source.check()

    def test_pagination_loop_is_detected(self, harness: ContractHarness) -> None:
        """A server that repeats a page token makes the poll stop with PaginationLoop."""
        _control(harness.control.add_records, 3 * harness.batch_size)
        source = self._source(harness)
        _control(harness.control.loop_pagination)
        with pytest.raises(PaginationLoop) as caught:
            drain(source, None, harness.batch_size, max_batches=200)
        assert harness.name.lower() in str(caught.value).lower()

    def test_malformed_record_is_quarantined_and_the_others_go_on(
        self, harness: ContractHarness
    ) -> None:
        """A record that cannot be mapped comes out with quarantine_reason; the rest are normal."""
        before = _control(harness.control.add_records, 2)
        bad = _control(harness.control.add_malformed_record)
        after = _control(harness.control.add_records, 2)
        out = drain(self._source(harness), None, harness.batch_size)
        got = {r.source_id: r for r in out.records}
        assert bad in got, "the malformed record was dropped silently"
        assert got[bad].quarantine_reason
        for sid in before + after:
            assert sid in got
            assert got[sid].quarantine_reason is None
        again = drain(self._source(harness), out.cursor, harness.batch_size)
        assert bad not in again.ids, "the malformed record blocks the cursor"
