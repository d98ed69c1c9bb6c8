"""A value read from the store at most every few seconds, shared by concurrent readers.

The status page and /metrics both need the open cases; a burst of scrapes and page loads
must cost one read, not one each (single flight: callers arriving while it is being read
wait for that read instead of starting their own).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """`get(compute)` returns the value computed less than `seconds` ago, or computes it
    once for every caller waiting (a failure is not kept: the next call tries again)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._at: float | None = None
        self.computed = 0  # how many times the value was computed (tests, logs)

    def get(self, compute: Callable[[], T]) -> T:
        """The cached value while fresh, else the value of one new `compute()`."""
        with self._lock:
            if self._at is not None and self.clock() - self._at < self.seconds:
                return self._value  # type: ignore[return-value]
            value = compute()
            self._value, self._at = value, self.clock()
            self.computed += 1
            return value

    def clear(self) -> None:
        """Forget the value: the next `get` computes it."""
        with self._lock:
            self._value, self._at = None, None
