"""Live latency histograms: a request's arrival to its storage, and to its CRM write-back.

Arrival is the delivery time the source knows (IMAP INTERNALDATE, the Maildir file's
arrival, a ticket's creation time). The worker observes arrival → stored right after the
batch's transaction commits; the dispatcher observes arrival → written when a sink reports an
action done (the outbox payload carries `arrived_at`). Process-wide, shown on /metrics.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prometheus_client import Histogram

BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
ARRIVAL_TO_STORED = Histogram(
    "crmbot_arrival_to_stored_seconds",
    "Seconds from a request's delivery to the source to its storage by crmbot.",
    ["source"],
    buckets=BUCKETS,
    registry=None,
)
ARRIVAL_TO_WRITTEN = Histogram(
    "crmbot_arrival_to_crm_written_seconds",
    "Seconds from a request's delivery to the source to an action for it done by a sink.",
    ["sink", "action"],
    buckets=BUCKETS,
    registry=None,
)


def seconds_since(arrived: datetime | str | None, now: datetime) -> float | None:
    """Seconds from `arrived` (aware datetime or ISO 8601) to `now`, never negative; or None."""
    if arrived is None:
        return None
    if isinstance(arrived, str):
        try:
            arrived = datetime.fromisoformat(arrived)
        except ValueError:
            return None
    if arrived.tzinfo is None:
        return None
    return max(0.0, (now - arrived).total_seconds())


def observe_stored(source: str, arrivals: list[datetime], now: datetime) -> None:
    """Record arrival → stored for the requests of one committed batch."""
    child = ARRIVAL_TO_STORED.labels(source)
    for arrived in arrivals:
        seconds = seconds_since(arrived, now)
        if seconds is not None:
            child.observe(seconds)


def observe_written(row: dict[str, Any], now: datetime) -> None:
    """Record arrival → written for one outbox row a sink reported done."""
    seconds = seconds_since((row.get("payload") or {}).get("arrived_at"), now)
    if seconds is not None:
        ARRIVAL_TO_WRITTEN.labels(row["sink"], row["action"]).observe(seconds)


def register_live_metrics(registry: Any) -> None:
    """Add the latency histograms and the webhook counter to a Prometheus registry."""
    from bot.webhooks import WEBHOOKS

    for collector in (ARRIVAL_TO_STORED, ARRIVAL_TO_WRITTEN, WEBHOOKS):
        registry.register(collector)
