"""One backoff policy for everything the runtime retries: sources, the dispatcher, the store.

The delay before the next attempt is, in order:
- the error's `retry_after` when it gives one (RetriableError, RateLimited): the remote side
  said when to come back, so never sooner (and no jitter, which could only make it sooner);
- a long pause after a FatalError (bad credentials will not fix themselves in a minute);
- otherwise exponential: base * 2^(attempt-1), capped, with ±jitter so that replicas that
  failed together do not all come back in the same second.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from bot.errors import FatalError

MAX_RETRY_AFTER_SECONDS = 86_400.0  # a Retry-After beyond a day is a vendor bug, not a plan


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Exponential backoff with a cap, honouring an error's retry_after."""

    base_seconds: float = 5.0
    max_seconds: float = 300.0
    fatal_seconds: float = 900.0
    jitter: float = 0.2  # ±20 %
    min_seconds: float = 1.0

    def delay(
        self,
        attempt: int,
        error: BaseException | None = None,
        *,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> float:
        """Seconds to wait before attempt `attempt + 1`; `attempt` is 1 after the first failure."""
        retry_after = retry_after_of(error)
        if retry_after is not None:
            return min(max(retry_after, self.min_seconds), MAX_RETRY_AFTER_SECONDS)
        if isinstance(error, FatalError):
            return self.fatal_seconds
        exponent = min(max(attempt, 1) - 1, 30)
        raw = min(self.max_seconds, self.base_seconds * 2**exponent)
        if self.jitter:
            raw *= uniform(1.0 - self.jitter, 1.0 + self.jitter)
        return max(self.min_seconds, min(self.max_seconds, raw))


def retry_after_of(error: BaseException | None) -> float | None:
    """The error's retry_after in seconds (RetriableError and subclasses), or None."""
    value = getattr(error, "retry_after", None)
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    if seconds != seconds or seconds < 0:  # NaN or negative: no usable advice
        return None
    return seconds


SOURCE_MAX_SECONDS = 300.0
DISPATCH_POLICY = BackoffPolicy(base_seconds=5.0, max_seconds=3600.0)


def source_policy(interval_seconds: float) -> BackoffPolicy:
    """A source's policy: start at its own polling interval, at most 5 minutes."""
    return BackoffPolicy(
        base_seconds=max(1.0, interval_seconds),
        max_seconds=max(SOURCE_MAX_SECONDS, interval_seconds),
    )


def dispatch_delay(attempts: int, error: BaseException | None = None) -> float:
    """Delay before an outbox row is tried again; `attempts` as counted on the row (0 first).

    For bot/dispatcher.py: replaces its own `_backoff` so both sides follow one policy.
    """
    return DISPATCH_POLICY.delay(attempts + 1, error)
