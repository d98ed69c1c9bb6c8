"""Per-source health: log an outage once and the recovery once, and back off in between."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

log = structlog.get_logger(__name__)
MAX_BACKOFF_SECONDS = 300.0
FATAL_BACKOFF_SECONDS = 900.0


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

    def failed(self, now: datetime, error: str, *, fatal: bool, interval: float) -> None:
        """Record a failure; the first of an outage is logged as an error, the rest quietly."""
        self.failures += 1
        self.last_error = error
        if self.failing_since is None:
            self.failing_since = now
            log.error("source_outage", source=self.name, error=error, fatal=fatal)
        else:
            log.debug("source_still_failing", source=self.name, error=error, failures=self.failures)
        delay = (
            FATAL_BACKOFF_SECONDS
            if fatal
            else min(MAX_BACKOFF_SECONDS, interval * 2 ** min(self.failures - 1, 10))
        )
        self.next_attempt = now + timedelta(seconds=delay)

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
