"""Prometheus metrics, read from the store at each scrape (and from the connectors' clients):
counts from the tallies the database keeps (bot/store/tallies.py), the open backlog summed
in SQL through its partial index.

Labels carry only configuration names (sources, sinks, connectors), rule ids (categories,
priorities, statuses, actions) and states: never an address, a name or a secret.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector, CollectorRegistry

from bot.steering import registry
from bot.store import Store, tallies
from bot.store import kpi as kpi_store

LATENCY_BUCKETS = (60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0, 72 * 3600.0)


class _Latency:
    """Arrival-to-write-back seconds of outbox actions done, accumulated scrape by scrape
    (from the day before the process started: a histogram restarts with its process)."""

    def __init__(self, since: datetime) -> None:
        self._lock = threading.Lock()
        self._after: datetime | None = since
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0
        self.count = 0

    def update(self, conn: Any) -> None:
        with self._lock:
            newest, seconds = kpi_store.write_back_latencies_after(conn, self._after)
            for value in seconds:
                index = next(
                    (i for i, b in enumerate(LATENCY_BUCKETS) if value <= b), len(LATENCY_BUCKETS)
                )
                self.buckets[index] += 1
                self.total += value
                self.count += 1
            if newest is not None:
                self._after = newest

    def family(self) -> HistogramMetricFamily:
        cumulative, running = [], 0
        for bound, n in zip((*map(str, LATENCY_BUCKETS), "+Inf"), self.buckets, strict=True):
            running += n
            cumulative.append((bound, running))
        family = HistogramMetricFamily(
            "crmbot_write_back_latency_seconds",
            "Seconds from a request's arrival to the outbox action performed for it.",
        )
        family.add_metric([], cumulative, sum_value=self.total)
        return family


class StoreCollector(Collector):
    """Every crmbot metric, computed from the store when Prometheus scrapes."""

    def __init__(
        self,
        store: Store,
        *,
        at_risk_hours: float = 4.0,
        forecast: Callable[[], Any] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        summary: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.store = store
        self.summary = summary  # the endpoint's open backlog summed, shared with the page
        self.at_risk = timedelta(hours=at_risk_hours)
        self.forecast = forecast
        self.clock = clock
        self.latency = _Latency(clock() - timedelta(hours=24))

    def collect(self) -> Iterator[Any]:
        """Yield the metric families (one store connection per scrape)."""
        now = self.clock()
        if self.store.is_postgres:  # fold the transactions' tally rows (a write)
            with self.store.begin() as conn:
                tallies.compact(conn)
        summary = self.summary() if self.summary is not None else None
        with self.store.connect() as conn:
            by_source = tallies.requests_by_source(conn)
            counts = tallies.case_counts(conn)
            totals = tallies.case_totals(conn)
            outbox_rows = tallies.outbox_by_state(conn)
            if summary is None:
                summary = kpi_store.open_summary(conn, now, self.at_risk, now)
            self.latency.update(conn)
        requests = CounterMetricFamily(
            "crmbot_requests", "Requests stored, by source.", labels=["source"]
        )
        for source, n in sorted(by_source.items()):
            requests.add_metric([source], n)
        yield requests
        cases = GaugeMetricFamily(
            "crmbot_cases",
            "Cases by category, priority and status.",
            labels=["category", "priority", "status"],
        )
        for row in counts:
            cases.add_metric(
                [row["category"] or "-", row["priority"] or "-", row["status"]], row["n"]
            )
        yield cases
        yield CounterMetricFamily(
            "crmbot_duplicates",
            "Duplicate requests absorbed into a case.",
            value=totals["duplicates"],
        )
        yield CounterMetricFamily(
            "crmbot_follow_ups",
            "Follow-ups (chases) attached to a case.",
            value=totals["follow_ups"],
        )
        automations = CounterMetricFamily(
            "crmbot_automations",
            "Outbox actions performed, by sink and action.",
            labels=["sink", "action"],
        )
        depth = GaugeMetricFamily("crmbot_outbox_depth", "Outbox rows by state.", labels=["state"])
        by_state: dict[str, int] = {}
        for row in outbox_rows:
            by_state[row["state"]] = by_state.get(row["state"], 0) + row["n"]
            if row["state"] == "done":
                automations.add_metric([row["sink"], row["action"]], row["n"])
        for state in ("pending", "claimed", "done", "failed", "dead"):
            depth.add_metric([state], by_state.get(state, 0))
        yield automations
        yield depth
        states = {"at_risk": summary["at_risk"], "breached": summary["breached"]}
        sla = GaugeMetricFamily(
            "crmbot_sla_open_cases", "Open cases by SLA state.", labels=["state"]
        )
        for state, n in states.items():
            sla.add_metric([state], n)
        yield sla
        yield self.latency.family()
        calls = CounterMetricFamily(
            "crmbot_api_calls", "HTTP API calls, by connector.", labels=["connector"]
        )
        limited = CounterMetricFamily(
            "crmbot_api_rate_limited", "HTTP 429 answers, by connector.", labels=["connector"]
        )
        for connector, (n_calls, n_429) in sorted(registry.api_calls().items()):
            calls.add_metric([connector], n_calls)
            limited.add_metric([connector], n_429)
        yield calls
        yield limited
        if self.forecast is not None:
            yield from _forecast_families(self.forecast())


def _forecast_families(forecast: Any) -> Iterator[Any]:
    if forecast is None:
        return
    due = GaugeMetricFamily(
        "crmbot_forecast_breaches",
        "Cases the forecast expects to breach within its horizon, at the team's capacity.",
    )
    due.add_metric([], len(forecast.breaches))
    yield due
    work = GaugeMetricFamily(
        "crmbot_forecast_work_due", "Cases due within the forecast horizon (business hours)."
    )
    work.add_metric([], sum(h.work_due for h in forecast.hours))
    yield work
    capacity = GaugeMetricFamily(
        "crmbot_forecast_capacity_per_hour", "Cases closed per business hour."
    )
    capacity.add_metric([], forecast.capacity_per_hour)
    yield capacity


def build_registry(collector: StoreCollector) -> CollectorRegistry:
    """A private Prometheus registry holding only crmbot's collector."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    return reg
