"""Connector clocks for tests against real servers."""

from __future__ import annotations

import time

from connectors.kit.clock import FakeClock


class RealTimeFakeClock(FakeClock):
    """Real time plus every sleep taken so far: sleeps are recorded and return at once."""

    def __init__(self) -> None:
        super().__init__(start=time.time())
        self._slept = 0.0

    def time(self) -> float:
        """Wall time, moved on by the sleeps skipped."""
        return time.time() + self._slept

    def monotonic(self) -> float:
        """Monotonic time, moved on by the sleeps skipped."""
        return time.monotonic() + self._slept

    def sleep(self, seconds: float) -> None:
        """Record the sleep and skip it."""
        with self._lock:
            self.sleeps.append(max(seconds, 0.0))
            self._slept += max(seconds, 0.0)

    def advance(self, seconds: float) -> None:
        """Move on without recording a sleep."""
        with self._lock:
            self._slept += seconds


class FastClock:
    """Real time run `speed` times faster: a 10-second window lasts 10/speed real seconds.

    Threads sharing it really wait (for 1/speed of what they ask), so their requests keep
    their order in time, unlike a fake clock that every sleeper moves forward.
    """

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._wall = time.time()
        self._start = time.monotonic()

    def _elapsed(self) -> float:
        return (time.monotonic() - self._start) * self.speed

    def time(self) -> float:
        """Wall time at `speed`."""
        return self._wall + self._elapsed()

    def monotonic(self) -> float:
        """Monotonic time at `speed`."""
        return 1_000.0 + self._elapsed()

    def sleep(self, seconds: float) -> None:
        """Really sleep, `speed` times shorter."""
        if seconds > 0:
            time.sleep(seconds / self.speed)
