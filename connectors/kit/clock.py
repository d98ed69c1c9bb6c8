"""Time as the kit sees it: the system clock, or a fake one that tests advance by hand."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Where the kit reads the time and how it waits; injectable so tests never really sleep."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    def time(self) -> float:
        """Seconds since the Unix epoch (wall time, for HTTP dates and token expiry)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """Seconds on the process's monotonic clock."""
        return time.monotonic()

    def time(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Really sleep."""
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """A clock that only moves when slept on or advanced; every sleep is recorded in `sleeps`."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self._start = start
        self._elapsed = 0.0
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """Seconds since the fake clock was made, plus a constant."""
        with self._lock:
            return 1_000.0 + self._elapsed

    def time(self) -> float:
        """The fake wall time."""
        with self._lock:
            return self._start + self._elapsed

    def sleep(self, seconds: float) -> None:
        """Record the wait and move time forward by it, instantly."""
        with self._lock:
            self.sleeps.append(max(seconds, 0.0))
            self._elapsed += max(seconds, 0.0)

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep (time passing between polls)."""
        with self._lock:
            self._elapsed += seconds


SYSTEM_CLOCK = SystemClock()
