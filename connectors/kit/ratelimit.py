"""A thread-safe token bucket, set from a vendor's published limit."""

from __future__ import annotations

import threading

import structlog

from connectors.kit.clock import SYSTEM_CLOCK, Clock

log = structlog.get_logger(__name__)

_EPSILON = 1e-9  # float dust left by refill arithmetic counts as a whole token
_MIN_WAIT = 1e-6  # never ask a clock to sleep for less than this


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
        self._tokens = float(capacity)
        self._updated = self._clock.monotonic()
        self._paused_until = 0.0
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
        the sustained rate is `(requests - burst) / seconds`.
        """
        if requests < 1 or seconds <= 0:
            raise ValueError("a rate limit needs requests >= 1 and seconds > 0")
        burst = max(1, requests // 10) if burst is None else burst
        if not 1 <= burst < requests:
            burst = 1
        rate = max(requests - burst, 1) / seconds
        return cls(burst, rate, clock=clock, name=name)

    def _refill(self, now: float) -> None:
        if now <= self._updated:
            return
        elapsed = now - self._updated
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._updated = now

    def try_acquire(self, tokens: float = 1.0) -> float:
        """Take `tokens` now and return 0, or take nothing and return how long to wait."""
        if tokens > self.capacity:
            raise ValueError("cannot take more tokens than the bucket holds")
        with self._lock:
            now = self._clock.monotonic()
            if now < self._paused_until:
                return self._paused_until - now
            self._refill(now)
            if self._tokens >= tokens - _EPSILON:
                self._tokens = max(self._tokens - tokens, 0.0)
                return 0.0
            return max((tokens - self._tokens) / self.rate, _MIN_WAIT)

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
            now = self._clock.monotonic()
            self._paused_until = max(self._paused_until, now + seconds)
            self._tokens = 0.0
            self._updated = max(self._updated, self._paused_until)
