"""The token bucket's arithmetic, and the shared budget in the store (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.shared import StoreSharing
from bot.store import open_store
from bot.store.budget import budget_state
from connectors.kit.ratelimit import BucketState, pause, take
from tests.helpers.stores import store_url

STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

steps = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=5.0, allow_nan=False),  # time before the call
        st.integers(min_value=1, max_value=6),  # wanted
        st.integers(min_value=1, max_value=3),  # minimum
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.integers(min_value=1, max_value=20),
    rate=st.floats(min_value=0.1, max_value=50.0, allow_nan=False),
    calls=steps,
)
def test_a_bucket_never_grants_more_than_its_capacity_plus_what_refilled_in_between(
    capacity: int, rate: float, calls: list[tuple[float, int, int]]
) -> None:
    now = 100.0
    state = BucketState(float(capacity), now)
    log: list[tuple[float, float]] = []
    for gap, wanted, minimum in calls:
        now += gap
        minimum = min(minimum, wanted, capacity)
        state, granted, wait = take(
            state, wanted=wanted, minimum=minimum, capacity=capacity, rate=rate, now=now
        )
        assert -1e-9 <= state.tokens <= capacity + 1e-9
        assert granted == 0 or minimum <= granted <= wanted
        assert granted == int(granted)
        assert (granted > 0) == (wait == 0)
        log.append((now, granted))
    for i, (start, _) in enumerate(log):
        spent = 0.0
        for end, granted in log[i:]:
            spent += granted
            assert spent <= capacity + rate * (end - start) + 1e-6


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.integers(min_value=1, max_value=20),
    rate=st.floats(min_value=0.1, max_value=50.0, allow_nan=False),
    tokens=st.floats(min_value=0.0, max_value=20.0, allow_nan=False),
    minimum=st.integers(min_value=1, max_value=20),
)
def test_waiting_as_long_as_a_bucket_says_is_enough(
    capacity: int, rate: float, tokens: float, minimum: int
) -> None:
    minimum = min(minimum, capacity)
    state = BucketState(min(tokens, capacity), 50.0)
    state, granted, wait = take(
        state, wanted=minimum, minimum=minimum, capacity=capacity, rate=rate, now=50.0
    )
    if granted:
        return
    _, granted, _ = take(
        state, wanted=minimum, minimum=minimum, capacity=capacity, rate=rate, now=50.0 + wait
    )
    assert granted == minimum


@given(
    tokens=st.floats(min_value=0.0, max_value=10.0, allow_nan=False),
    back=st.floats(min_value=0.001, max_value=1000.0, allow_nan=False),
)
def test_a_clock_that_goes_back_refills_nothing(tokens: float, back: float) -> None:
    state = BucketState(tokens, 500.0)
    after, _, _ = take(state, wanted=1, minimum=1, capacity=10, rate=5.0, now=500.0 - back)
    assert after.tokens <= tokens + 1e-9
    assert after.updated == 500.0


@given(
    until=st.floats(min_value=0.0, max_value=100.0, allow_nan=False),
    now=st.floats(min_value=0.0, max_value=100.0, allow_nan=False),
)
def test_a_paused_bucket_grants_nothing_before_the_pause_ends(until: float, now: float) -> None:
    state = pause(BucketState(10.0, 0.0), until)
    _, granted, wait = take(state, wanted=1, minimum=1, capacity=10, rate=100.0, now=now)
    if now < until:
        assert granted == 0 and wait == pytest.approx(until - now)
    else:
        assert state.tokens == 0.0


@pytest.mark.parametrize("kind", STORES)
def test_replicas_taking_at_once_share_one_budget_without_losing_an_update(
    kind: str, tmp_path: Path
) -> None:
    capacity, now = 40, 1_000.0
    with store_url(kind, tmp_path) as url:
        stores = [open_store(url) for _ in range(3)]
        granted: list[int] = []
        barrier = threading.Barrier(3)
        errors: list[BaseException] = []

        def replica(sharing: StoreSharing) -> None:
            try:
                barrier.wait()
                for _ in range(30):  # the clock stands still: nothing refills
                    answer = sharing.take(
                        "hubspot", "general", wanted=3, minimum=1, capacity=capacity,
                        rate=1.0, now=now,
                    )  # fmt: skip
                    granted.append(answer.granted)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=replica, args=(StoreSharing(s),)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors
        assert sum(granted) == capacity
        with stores[0].connect() as conn:
            state = budget_state(conn, "hubspot", "general")
        assert state is not None and state.tokens == pytest.approx(0.0)
        for store in stores:
            store.dispose()


@pytest.mark.parametrize("kind", STORES)
def test_a_pause_recorded_by_one_replica_holds_every_replica(kind: str, tmp_path: Path) -> None:
    with store_url(kind, tmp_path) as url:
        first, second = open_store(url), open_store(url)
        StoreSharing(first).pause("zendesk", "requests", until=1_030.0, now=1_000.0)
        answer = StoreSharing(second).take(
            "zendesk", "requests", wanted=5, minimum=1, capacity=10, rate=10.0, now=1_010.0
        )
        assert answer.granted == 0
        assert answer.wait == pytest.approx(20.0)
        later = StoreSharing(second).take(
            "zendesk", "requests", wanted=5, minimum=1, capacity=10, rate=10.0, now=1_031.0
        )
        assert later.granted == 5
        first.dispose()
        second.dispose()
