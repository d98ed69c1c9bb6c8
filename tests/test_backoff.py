"""One backoff policy (issue 11): sources, the worker and the dispatcher honour retry_after."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.backoff import BackoffPolicy, dispatch_delay, retry_after_of, source_policy
from bot.errors import AuthError, RateLimited, SourceUnavailable
from bot.health import SourceHealth
from bot.store import Store
from connectors.base import Batch, Cursor
from tests.helpers.runtime import maildir_worker, make_settings

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def test_a_source_error_with_retry_after_is_not_retried_sooner_than_it_says() -> None:
    health = SourceHealth("crm")
    health.failed(NOW, RateLimited("429", retry_after=700.0), interval=30)
    assert health.next_attempt == NOW + timedelta(seconds=700)
    assert not health.may_poll(NOW + timedelta(seconds=699))
    assert health.may_poll(NOW + timedelta(seconds=700))


def test_a_fatal_error_backs_off_long_and_a_plain_one_grows_from_the_interval() -> None:
    health = SourceHealth("crm")
    health.failed(NOW, AuthError("bad token"), interval=30)
    assert health.next_attempt == NOW + timedelta(seconds=900)
    plain = SourceHealth("mail")
    delays = [plain.failed(NOW, SourceUnavailable("down"), interval=30) for _ in range(8)]
    assert 24 <= delays[0] <= 36  # the interval, ±20 %
    assert max(delays) <= 300


class _RateLimitedSource:
    """A CRM that answers 429 with a Retry-After of ten minutes."""

    name = "crm"
    polls = 0

    def check(self) -> str:
        return "ok"

    def poll(self, cursor: Cursor | None, batch_size: int) -> Iterator[Batch]:
        self.polls += 1
        raise RateLimited("crm: still rate limited (HTTP 429)", retry_after=600.0)
        yield  # pragma: no cover

    def close(self) -> None:
        pass


def test_the_worker_honours_a_sources_retry_after(store: Store, store_url: str) -> None:
    from connectors.base import ConnectorSettings

    settings = make_settings(store_url, {})
    source = _RateLimitedSource()
    conf = ConnectorSettings(type="fake", interval_seconds=5)
    worker = maildir_worker(settings, store, extra_sources={"crm": (source, conf)})
    now = [NOW]
    worker.clock = lambda: now[0]
    worker.poll_source("crm")
    for seconds in (5, 60, 599):
        now[0] = NOW + timedelta(seconds=seconds)
        worker.poll_source("crm")
    assert source.polls == 1
    now[0] = NOW + timedelta(seconds=600)
    worker.poll_source("crm")
    assert source.polls == 2


def test_the_dispatcher_policy_honours_retry_after_and_grows_from_five_seconds() -> None:
    assert dispatch_delay(3, RateLimited("429", retry_after=42.0)) == 42.0
    assert 4 <= dispatch_delay(0) <= 6
    assert dispatch_delay(50) <= 3600


@given(
    attempt=st.integers(min_value=-5, max_value=10_000),
    base=st.floats(min_value=0.01, max_value=1e4),
    cap=st.floats(min_value=1.0, max_value=1e6),
)
def test_an_exponential_delay_stays_between_the_floor_and_the_cap(
    attempt: int, base: float, cap: float
) -> None:
    policy = BackoffPolicy(base_seconds=base, max_seconds=cap)
    delay = policy.delay(attempt)
    assert policy.min_seconds <= delay <= max(cap, policy.min_seconds)


@given(retry_after=st.floats(allow_nan=True, allow_infinity=True))
def test_any_retry_after_gives_a_finite_delay_never_sooner_than_a_sane_value(
    retry_after: float,
) -> None:
    delay = source_policy(30).delay(1, RateLimited("x", retry_after=retry_after))
    assert 1.0 <= delay <= 86_400.0
    if retry_after_of(RateLimited("x", retry_after=retry_after)) is not None:
        assert delay >= min(retry_after, 86_400.0)
