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
