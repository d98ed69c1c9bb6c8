"""Token buckets, set from a vendor's published limit: in memory, or shared by replicas.

One arithmetic (`take`) serves the in-memory bucket and the store's shared one
(`bot/store/budget.py`), so both admit exactly the same requests.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import structlog

from connectors.kit import shared
from connectors.kit.clock import SYSTEM_CLOCK, Clock

log = structlog.get_logger(__name__)

_EPSILON = 1e-9  # float dust left by refill arithmetic counts as a whole token
_MIN_WAIT = 1e-6  # never ask a clock to sleep for less than this
GRANT_TOKENS = 5  # a shared bucket hands a replica this many tokens per store round trip
GRANT_SHARE = 0.05  # ... to be spent within this share of the limit's window


@dataclass(frozen=True, slots=True)
class BucketState:
    """A bucket's `tokens` as of `updated`, and the time before which it grants nothing."""

    tokens: float
    updated: float
    paused_until: float = 0.0


def take(
    state: BucketState,
    *,
    wanted: float,
    minimum: float,
    capacity: float,
    rate: float,
    now: float,
) -> tuple[BucketState, float, float]:
    """Refill to `now` and take `wanted` tokens, or as many whole ones as there are if that is
    at least `minimum`: (new state, granted, seconds to wait when nothing was granted).

    Tokens refill at `rate` per second up to `capacity`; a clock that went back adds none.
    """
    if now < state.paused_until:
        return state, 0.0, state.paused_until - now
    tokens, updated = state.tokens, state.updated
    if now > updated:
        tokens = min(capacity, tokens + (now - updated) * rate)
        updated = now
    tokens = min(tokens, capacity)
    whole = float(math.floor(tokens + _EPSILON))
    granted = wanted if tokens + _EPSILON >= wanted else whole
    if granted + _EPSILON < minimum or granted <= 0:
        return (
            BucketState(tokens, updated, state.paused_until),
            0.0,
            max((minimum - tokens) / rate, _MIN_WAIT),
        )
    left = max(tokens - granted, 0.0)
    return BucketState(left, updated, state.paused_until), granted, 0.0


def pause(state: BucketState, until: float) -> BucketState:
    """The state after a Retry-After: empty, granting nothing before `until`."""
    paused = max(state.paused_until, until)
    return BucketState(0.0, max(state.updated, paused), paused)


class TokenBucket:
    """Tokens refill continuously at `rate` per second up to `capacity`; one request costs one.

    Any window of `w` seconds admits at most `capacity + rate * w` requests, so
    `per_window()` sizes both to stay under a vendor's "N requests per W seconds".
    """

    def __init__(
        self, capacity: float, rate: float, *, clock: Clock | None = None, name: str = ""
    ) -> None:
        if capacity < 1 or rate <= 0:
            raise ValueError("a token bucket needs capacity >= 1 and rate > 0")
        self.capacity = float(capacity)
        self.rate = float(rate)
        self.name = name
        self._clock = clock or SYSTEM_CLOCK
        self._lock = threading.Lock()
        self._state = BucketState(float(capacity), self._clock.monotonic())
        self.waited = 0.0

    @classmethod
    def per_window(
        cls,
        requests: int,
        seconds: float,
        *,
        burst: int | None = None,
        clock: Clock | None = None,
        name: str = "",
    ) -> TokenBucket:
        """A bucket that never admits more than `requests` in any `seconds`-long window.

        `burst` (default a tenth of the limit) is spent up front; the rest refills evenly, so
        the sustained rate is `(requests - burst) / seconds`. Built inside the runtime's
        `shared.sharing(...)` block with a `name` ("connector:key"), the bucket is the one
        budget every replica takes from (a `SharedTokenBucket`).
        """
        if requests < 1 or seconds <= 0:
            raise ValueError("a rate limit needs requests >= 1 and seconds > 0")
        burst = max(1, requests // 10) if burst is None else burst
        if not 1 <= burst < requests:
            burst = 1
        state = shared.current()
        if name and state is not None and state.budgets is not None:
            grant_seconds = seconds * GRANT_SHARE
            # Tokens granted to a replica are spent up to grant_seconds later: the window
            # seen by the vendor is that much longer, so the refill is that much slower.
            rate = max(requests - burst, 1) / (seconds + grant_seconds)
            return SharedTokenBucket(
                burst,
                rate,
                budgets=state.budgets,
                grant_seconds=grant_seconds,
                clock=clock,
                name=name,
            )
        rate = max(requests - burst, 1) / seconds
        return cls(burst, rate, clock=clock, name=name)

    def try_acquire(self, tokens: float = 1.0) -> float:
        """Take `tokens` now and return 0, or take nothing and return how long to wait."""
        if tokens > self.capacity:
            raise ValueError("cannot take more tokens than the bucket holds")
        with self._lock:
            self._state, granted, wait = take(
                self._state,
                wanted=tokens,
                minimum=tokens,
                capacity=self.capacity,
                rate=self.rate,
                now=self._clock.monotonic(),
            )
            return 0.0 if granted else wait

    def acquire(self, tokens: float = 1.0) -> float:
        """Block (on the clock) until `tokens` are taken; return the seconds waited."""
        total = 0.0
        while True:
            wait = self.try_acquire(tokens)
            if wait <= 0:
                if total:
                    self.waited += total
                return total
            total += wait
            self._clock.sleep(wait)

    def pause(self, seconds: float) -> None:
        """Admit nothing for `seconds` and empty the bucket (the server said Retry-After)."""
        with self._lock:
            self._state = pause(self._state, self._clock.monotonic() + seconds)


class SharedTokenBucket(TokenBucket):
    """A bucket kept in a budget shared by replicas, taken a few tokens at a time.

    Each store round trip takes up to `GRANT_TOKENS` tokens; what this replica holds is
    spent within `grant_seconds` or dropped, so that no request leaves long after its token
    was taken. A pause (Retry-After) is written to the shared budget: every replica waits.
    """

    def __init__(
        self,
        capacity: float,
        rate: float,
        *,
        budgets: shared.SharedBudgets,
        grant_seconds: float,
        grant: int = GRANT_TOKENS,
        clock: Clock | None = None,
        name: str,
    ) -> None:
        super().__init__(capacity, rate, clock=clock, name=name)
        connector, _, key = name.rpartition(":")
        self.connector = connector or name
        self.key = key if connector else "requests"
        self.grant = max(1, min(grant, int(capacity)))
        self.grant_seconds = grant_seconds
        self._budgets = budgets
        self._held = 0.0
        self._held_until = 0.0
        self._paused_until = 0.0
        self.round_trips = 0

    def try_acquire(self, tokens: float = 1.0) -> float:
        """Spend a held token, or take a few from the shared budget; else how long to wait."""
        if tokens > self.capacity:
            raise ValueError("cannot take more tokens than the bucket holds")
        with self._lock:
            now = self._clock.time()
            if now < self._paused_until:
                return self._paused_until - now
            if self._held + _EPSILON >= tokens and now < self._held_until:
                self._held = max(self._held - tokens, 0.0)
                return 0.0
            self._held = 0.0
            answer = self._budgets.take(
                self.connector,
                self.key,
                wanted=max(self.grant, math.ceil(tokens)),
                minimum=math.ceil(tokens),
                capacity=self.capacity,
                rate=self.rate,
                now=now,
            )
            self.round_trips += 1
            if answer.granted + _EPSILON >= tokens:
                self._held = answer.granted - tokens
                self._held_until = now + self.grant_seconds
                return 0.0
            return max(answer.wait, _MIN_WAIT)

    def pause(self, seconds: float) -> None:
        """Admit nothing for `seconds`, here and in every replica (the shared budget's pause)."""
        with self._lock:
            now = self._clock.time()
            self._held = 0.0
            self._paused_until = max(self._paused_until, now + seconds)
        self._budgets.pause(self.connector, self.key, until=now + seconds, now=now)
        log.info(
            "rate_limit_paused",
            connector=self.connector,
            key=self.key,
            seconds=round(seconds, 3),
        )
