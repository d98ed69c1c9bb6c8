"""Health: log an outage once and the recovery once, and back off in between.

`SourceHealth` is one source as the worker sees it; `OutageLog` does the same for the parts of
housekeeping (timers, dispatch) and the store they share, so that a store outage is one
`store_outage` line and one `store_recovered` line, not an error per part and per tick.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from bot.backoff import BackoffPolicy, source_policy
from bot.errors import FatalError

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class SourceHealth:
    """The state of one source as the worker sees it."""

    name: str
    failing_since: datetime | None = None
    failures: int = 0
    last_error: str | None = None
    next_attempt: datetime | None = None
    polls: int = 0
    records: int = 0
    last_success: datetime | None = None
    history: list[str] = field(default_factory=list)

    def may_poll(self, now: datetime) -> bool:
        """False while backing off after a failure."""
        return self.next_attempt is None or now >= self.next_attempt

    def failed(
        self,
        now: datetime,
        error: BaseException | str,
        *,
        fatal: bool | None = None,
        interval: float,
        policy: BackoffPolicy | None = None,
    ) -> float:
        """Record a failure and back off (honouring its retry_after); returns the delay.

        The first failure of an outage is logged as an error, the rest quietly.
        """
        exc = error if isinstance(error, BaseException) else None
        text = (str(error) or type(error).__name__) if exc is not None else str(error)
        if fatal is None:
            fatal = isinstance(exc, FatalError)
        self.failures += 1
        self.last_error = text
        if self.failing_since is None:
            self.failing_since = now
            log.error("source_outage", source=self.name, error=text, fatal=fatal)
        else:
            log.debug("source_still_failing", source=self.name, error=text, failures=self.failures)
        if fatal and not isinstance(exc, FatalError):
            exc = FatalError(text)
        delay = (policy or source_policy(interval)).delay(self.failures, exc)
        self.next_attempt = now + timedelta(seconds=delay)
        return delay

    def succeeded(self, now: datetime, records: int) -> None:
        """Record a successful poll; the end of an outage is logged once."""
        if self.failing_since is not None:
            log.info(
                "source_recovered",
                source=self.name,
                down_seconds=round((now - self.failing_since).total_seconds(), 1),
                failures=self.failures,
            )
        self.failing_since = None
        self.failures = 0
        self.last_error = None
        self.next_attempt = None
        self.polls += 1
        self.records += records
        self.last_success = now


class OutageLog:
    """Outages of named parts (the store, timers, dispatch): logged once each, recovery once.

    Thread-safe: the dispatcher and the timers run on their own threads and share the store.
    """

    def __init__(self) -> None:
        self._down: dict[str, tuple[datetime, int]] = {}
        self._lock = threading.Lock()

    def is_down(self, key: str) -> bool:
        """True while `key` is in an outage."""
        with self._lock:
            return key in self._down

    def failed(self, key: str, now: datetime, error: str, **fields: object) -> bool:
        """Record a failure of `key`; True (and an error line) only for the first one."""
        with self._lock:
            since, count = self._down.get(key, (now, 0))
            self._down[key] = (since, count + 1)
            first = count == 0
        if first:
            log.error(f"{key}_outage", error=error, **fields)
        else:
            log.debug(f"{key}_still_failing", error=error, failures=count + 1, **fields)
        return first

    def succeeded(self, key: str, now: datetime) -> bool:
        """Record a success of `key`; True (and one info line) when it ends an outage."""
        with self._lock:
            down = self._down.pop(key, None)
        if down is None:
            return False
        since, count = down
        log.info(
            f"{key}_recovered",
            down_seconds=round((now - since).total_seconds(), 1),
            failures=count,
        )
        return True
