"""The token bucket: never more than the published limit in any window, thread-safe."""

from __future__ import annotations

import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.kit import FakeClock, TokenBucket


def admitted_times(bucket: TokenBucket, clock: FakeClock, n: int) -> list[float]:
    times = []
    for _ in range(n):
        bucket.acquire()
        times.append(clock.monotonic())
    return times


@settings(max_examples=40, deadline=None)
@given(
    st.integers(min_value=2, max_value=200),
    st.floats(min_value=0.5, max_value=60),
)
def test_per_window_never_exceeds_the_limit_in_any_window(requests: int, seconds: float) -> None:
    clock = FakeClock()
    bucket = TokenBucket.per_window(requests, seconds, clock=clock)
    times = admitted_times(bucket, clock, requests * 3)
    for i, start in enumerate(times):
        in_window = [t for t in times[i:] if t < start + seconds - 1e-9]
        assert len(in_window) <= requests


def test_per_window_sustains_close_to_the_limit() -> None:
    clock = FakeClock()
    bucket = TokenBucket.per_window(100, 10, clock=clock)
    start = clock.monotonic()
    admitted_times(bucket, clock, 1000)
    rate = 1000 / (clock.monotonic() - start)
    assert 9.0 <= rate <= 10.0


def test_pause_admits_nothing_until_it_ends() -> None:
    clock = FakeClock()
    bucket = TokenBucket(capacity=10, rate=10, clock=clock)
    bucket.pause(5.0)
    assert bucket.try_acquire() == 5.0
    waited = bucket.acquire()
    assert waited >= 5.0


def test_concurrent_acquires_never_overdraw() -> None:
    clock = FakeClock()
    bucket = TokenBucket(capacity=50, rate=0.000001, clock=clock)
    taken: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(20):
            if bucket.try_acquire() == 0:
                with lock:
                    taken.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == 50
