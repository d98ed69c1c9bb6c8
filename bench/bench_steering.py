"""Steering figures: KPI, forecast, status page and /metrics times on a large store; the
forecast's error on a synthetic history with known arrivals. Prints, never asserts.

Usage: python3 bench/bench_steering.py [--cases 1000000] [--stores sqlite,postgres]
                                       [--skip-store] [--skip-forecast-error]
                                       [--keep] [--fill-only] [--page-only]
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client import generate_latest

from bot.settings import Settings
from bot.steering.forecast import arrival_rates, business_hours, simulate
from bot.steering.http import Steering
from bot.steering.kpi import compute_kpis
from bot.steering.metrics import StoreCollector, build_registry
from bot.steering.page import render_status_page
from bot.store import kpi as kpi_store
from bot.store import open_store
from rules.engine import load_ruleset

CATEGORIES = ("billing", "complaint", "technical_incident", "admin_update", "status_request")
PRIORITIES = ("P1", "P2", "P3", "P4")
SOURCES = ("support", "hubspot", "zendesk")
NOW = datetime.now(UTC).replace(microsecond=0)


def _pg_url(keep: bool) -> str:
    import psycopg

    schema = "bench_steering_kept" if keep else f"bench_steering_{os.getpid()}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        if not keep:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"


def _drop_pg(url: str) -> None:
    import psycopg

    schema = url.rsplit("%3D", 1)[1]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _rows(first: int, count: int, rng: random.Random, span_days: int) -> dict[str, list[dict]]:
    """Synthetic cases opened over `span_days` up to now: 1% still open, 70% answered."""
    rows: dict[str, list[dict]] = {"cases": [], "requests": [], "case_requests": [], "outbox": []}
    for cid in range(first, first + count):
        opened = NOW - timedelta(seconds=rng.random() * span_days * 86400)
        is_open = rng.random() < 0.01
        closed_at = None if is_open else min(NOW, opened + timedelta(hours=rng.expovariate(1 / 30)))
        status = "new" if is_open else "closed"
        last = closed_at or opened
        rows["cases"].append(
            {
                "id": cid,
                "reference": f"CB-{cid}",
                "contact_id": None,
                "subject": "Demande",
                "status": status,
                "channel": "email",
                "language": "fr" if rng.random() < 0.7 else "en",
                "category": rng.choice(CATEGORIES),
                "category_confidence": 0.9,
                "priority": rng.choices(PRIORITIES, (1, 3, 10, 6))[0],
                "impact_score": 0.0,
                "reasons": [],
                "tags": [],
                "sla": None,
                "pauses": [],
                "first_response_due": opened + timedelta(hours=8),
                "resolution_due": opened + timedelta(days=3),
                "request_count": 1,
                "follow_up_count": 1 if rng.random() < 0.15 else 0,
                "duplicate_count": 0,
                "merged_into": None,
                "opened_at": opened,
                "last_request_at": last,
                "created_at": opened,
                "updated_at": last,
            }
        )
        rows["requests"].append(
            {
                "id": cid,
                "source": rng.choice(SOURCES),
                "source_id": str(cid),
                "channel": "email",
                "message_id": f"<{cid}@bench>",
                "in_reply_to": None,
                "references": [],
                "thread_key": None,
                "sender_email": None,
                "sender_name": None,
                "subject": "Demande",
                "body_text": "",
                "body_clean": "",
                "body_hash": "0" * 64,
                "language": "fr",
                "received_at": opened,
                "attachments": [],
                "auto_reply": None,
                "headers": {},
                "defects": [],
                "raw": None,
                "raw_size": 0,
                "raw_truncated": False,
                "contact_id": None,
                "case_id": cid,
                "created_at": opened,
            }
        )
        rows["case_requests"].append(
            {
                "case_id": cid,
                "request_id": cid,
                "relation": "origin",
                "reason": "origin",
                "created_at": opened,
            }
        )
        if rng.random() < 0.7:
            done = min(NOW, opened + timedelta(hours=rng.expovariate(1 / 5)))
            rows["outbox"].append(
                {
                    "idempotency_key": f"reply:{cid}",
                    "case_id": cid,
                    "sink": "smtp",
                    "action": "send_reply",
                    "payload": {},
                    "rule_id": "answer",
                    "state": "done",
                    "attempts": 1,
                    "available_at": opened,
                    "claimed_by": None,
                    "claimed_until": None,
                    "last_error": None,
                    "result": None,
                    "created_at": opened,
                    "updated_at": done,
                }
            )
    return rows


def fill(store: Any, cases: int, span_days: int) -> float:
    """Insert `cases` synthetic cases through bot/store/kpi.load_rows; returns seconds."""
    rng = random.Random(13)
    start = time.perf_counter()
    chunk = 20_000
    for first in range(1, cases + 1, chunk):
        rows = _rows(first, min(chunk, cases - first + 1), rng, span_days)
        with store.begin() as conn:
            for table in ("cases", "requests", "case_requests", "outbox"):
                kpi_store.load_rows(conn, table, rows[table])
    if store.is_postgres:
        with store.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    else:
        with store.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - start


def _timed(fn: Any, repeat: int = 5) -> tuple[float, Any]:
    """Median milliseconds of `repeat` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, result


def bench_store(kind: str, cases: int, keep: bool, fill_only: bool, page_only: bool) -> None:
    tmp = tempfile.gettempdir() + "/bench-steering-kept" if keep else tempfile.mkdtemp()
    Path(tmp).mkdir(exist_ok=True)
    url = f"sqlite:///{tmp}/crmbot-{cases}.db" if kind == "sqlite" else _pg_url(keep)
    try:
        store = open_store(url)
        with store.connect() as conn:
            present = kpi_store.next_id(conn, "cases") - 1
        if present < cases:
            seconds = fill(store, cases, span_days=400) if present == 0 else 0.0
            print(f"\n[{kind}] {cases:,} cases generated in {seconds:.0f} s")
        else:
            print(f"\n[{kind}] {present:,} cases kept from a previous run")
        if fill_only:
            return
        ruleset = load_ruleset(None)
        calendar = ruleset.calendar()
        settings = Settings(store={"url": url})
        if not page_only:
            _bench_queries(store, calendar, settings)
        _bench_page_and_metrics(store, ruleset, settings)
        store.dispose()
    finally:
        if kind == "postgres" and not keep:
            _drop_pg(url)


def _bench_queries(store: Any, calendar: Any, settings: Settings) -> None:
    with store.connect() as conn:
        for label, since in (("7 days", 7), ("30 days", 30)):
            ms, report = _timed(
                lambda since=since: compute_kpis(
                    conn, since=NOW - timedelta(days=since), now=NOW, calendar=calendar
                )
            )
            print(f"  compute_kpis since {label}, by day: {ms:8.1f} ms ({len(report.rows)} rows)")
        ms, _ = _timed(
            lambda: compute_kpis(
                conn, since=NOW - timedelta(days=30), now=NOW, calendar=calendar, by="category"
            )
        )
        print(f"  compute_kpis since 30 days, by category: {ms:8.1f} ms")
        from bot.steering.forecast import forecast_from_store

        ms, forecast = _timed(
            lambda: forecast_from_store(
                conn, now=NOW, calendar=calendar, steering_settings=settings.steering
            )
        )
        print(
            f"  forecast (48 business hours): {ms:8.1f} ms"
            f" ({len(forecast.breaches)} predicted breaches,"
            f" capacity {forecast.capacity_per_hour:.1f}/h measured)"
        )


def _bench_page_and_metrics(store: Any, ruleset: Any, settings: Settings) -> None:
    """The page and a scrape as the endpoint serves them: cold (every cache of the endpoint
    emptied first: the open backlog's summary, the forecast and what it learnt: the first
    request of a process) and warm (the summary and forecast kept, as within a few seconds;
    an older forecast is answered at once and recomputed in the background)."""
    from bot.steering import forecast as forecast_module

    steering = Steering(
        store=store, rules=lambda: ruleset, intervals={"support": 60}, settings=settings
    )

    def cold() -> None:
        forecast_module._cache.clear()
        getattr(forecast_module, "_learnt", {}).clear()
        if hasattr(steering, "summary_cache"):
            steering.summary_cache.clear()

    def page(empty: bool) -> str:
        if empty:
            cold()
        return render_status_page(steering, "en", None)

    ms, html = _timed(lambda: page(True))
    print(f"  status page render, cold: {ms:8.1f} ms ({len(html):,} bytes)")
    page(False)
    ms, _ = _timed(lambda: page(False))
    print(f"  status page render, warm: {ms:8.1f} ms")
    shared = {"summary": steering.summary} if hasattr(steering, "summary") else {}
    collector = StoreCollector(store, forecast=None, **shared)
    registry = build_registry(collector)
    start = time.perf_counter()
    text = generate_latest(registry)
    first = (time.perf_counter() - start) * 1000
    print(f"  /metrics first scrape (latency histogram reads the last 24 h): {first:8.1f} ms")

    def scrape(empty: bool) -> bytes:
        if empty:
            cold()
        return generate_latest(registry)

    ms, _ = _timed(lambda: scrape(True))
    print(f"  /metrics scrape, cold: {ms:8.1f} ms ({len(text):,} bytes)")
    ms, _ = _timed(lambda: scrape(False))
    print(f"  /metrics scrape, warm: {ms:8.1f} ms")


# -------------------------------------------------------------- forecast error, known arrivals


@dataclass(slots=True)
class _Case:
    id: int
    arrived: datetime
    due: datetime


def _profile(weekday: int, hour: int) -> float:
    """Known mean arrivals per hour: weekdays 8-18 h, a Monday peak; a trickle otherwise."""
    if weekday >= 5:
        return 0.3
    if 8 <= hour < 18:
        return 9.0 if weekday == 0 else 6.0
    return 0.5


def _arrivals(start: datetime, end: datetime, rng: random.Random) -> list[datetime]:
    result, at = [], start
    while at < end:
        rate = _profile(at.weekday(), at.hour)
        n = _poisson(rate, rng)
        result.extend(at + timedelta(seconds=rng.random() * 3600) for _ in range(n))
        at += timedelta(hours=1)
    return sorted(result)


def _poisson(mean: float, rng: random.Random) -> int:
    n, p, limit = 0, 1.0, pow(2.718281828459045, -mean)
    while True:
        p *= rng.random()
        if p <= limit:
            return n
        n += 1


def _truth(
    calendar: Any,
    open_cases: list[_Case],
    future: list[_Case],
    capacity: float,
    start: datetime,
    horizon: datetime,
) -> set[int]:
    """Breaches that really happen in (start, horizon]: EDF, arrivals only once arrived."""
    queue = [(c.due, c.id) for c in open_cases]
    heapq.heapify(queue)
    pending = sorted(future, key=lambda c: c.arrived)
    breached: set[int] = set()
    cursor = 0
    budget_left = 0.0
    for slot_start, slot_end in business_hours(calendar, start, 200):
        if slot_start >= horizon:
            break
        while cursor < len(pending) and pending[cursor].arrived < slot_end:
            heapq.heappush(queue, (pending[cursor].due, pending[cursor].id))
            cursor += 1
        budget_left += capacity * (slot_end - slot_start) / timedelta(hours=1)
        served = 0
        while queue and budget_left >= 1:
            due, cid = heapq.heappop(queue)
            budget_left -= 1
            served += 1
            done_at = slot_start + timedelta(hours=served / capacity)
            if start < due < done_at and due <= horizon:
                breached.add(cid)
        for due, cid in queue:
            if start < due <= min(slot_end, horizon):
                breached.add(cid)
    return breached


def bench_forecast_error() -> None:
    from rules.calendar import BusinessCalendar, CalendarSpec

    calendar = BusinessCalendar(
        CalendarSpec(
            name="office",
            timezone="UTC",
            hours={d: ["08:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
        )
    )
    rng = random.Random(8)
    origin = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
    typical_due = timedelta(hours=8)
    capacity = 6.5  # cases per business hour: the Monday peak cannot be absorbed
    errors: list[float] = []
    totals: list[tuple[int, int]] = []
    history_end = origin + timedelta(weeks=8)
    all_arrivals = _arrivals(origin, history_end + timedelta(weeks=4), rng)
    # the real backlog at each forecast point comes from replaying the real history
    for day in range(20):  # four weeks of weekday mornings, after the 8 learnt weeks
        at = history_end + timedelta(days=day // 5 * 7 + day % 5, hours=9)
        learnt = [a for a in all_arrivals if at - timedelta(weeks=8) <= a < at]
        rates = arrival_rates(learnt, calendar, 8)
        cases = [_Case(i, a, calendar.add(a, typical_due)) for i, a in enumerate(all_arrivals)]
        # the backlog at `at`: serve the real past at capacity, EDF, over the last week
        past = [c for c in cases if at - timedelta(weeks=1) <= c.arrived < at]
        backlog = _backlog(calendar, past, capacity, at - timedelta(weeks=1), at)
        future = [c for c in cases if at <= c.arrived < at + timedelta(hours=24)]
        horizon = at + timedelta(hours=24)
        ids = {c.id for c in backlog}
        truth = _truth(calendar, backlog, future, capacity, at, horizon) & ids
        predicted = simulate(
            now=at,
            calendar=calendar,
            open_cases=[
                {
                    "id": c.id,
                    "reference": str(c.id),
                    "category": None,
                    "priority": None,
                    "resolution_due": c.due,
                }
                for c in backlog
            ],
            rates=rates,
            capacity_per_hour=capacity,
            horizon_hours=48,
            typical_due=typical_due,
        )
        # the open cases at `at` that breach within 24 h: predicted, and really
        guess = sum(1 for b in predicted.breaches if b["due_at"] <= horizon)
        errors.append(abs(guess - len(truth)))
        totals.append((guess, len(truth)))
    mae = sum(errors) / len(errors)
    mean_truth = sum(t for _, t in totals) / len(totals)
    print("\nforecast error, 8 learnt weeks, 20 forecasts 24 h ahead (weekdays 09:00):")
    print(f"  capacity {capacity}/business hour, known profile (Monday peak 9/h, else 6/h)")
    print(f"  open cases that really breach in the next 24 h, mean: {mean_truth:.1f}")
    print(f"  mean absolute error of the breaches predicted:        {mae:.1f}")
    print("  (predicted, real) per forecast:", totals)


def _backlog(
    calendar: Any, past: list[_Case], capacity: float, start: datetime, end: datetime
) -> list[_Case]:
    queue: list[tuple[datetime, int, _Case]] = []
    pending = sorted(past, key=lambda c: c.arrived)
    cursor = 0
    budget = 0.0
    for slot_start, slot_end in business_hours(calendar, start, 500):
        if slot_start >= end:
            break
        while cursor < len(pending) and pending[cursor].arrived < slot_end:
            c = pending[cursor]
            heapq.heappush(queue, (c.due, c.id, c))
            cursor += 1
        budget += capacity * (min(slot_end, end) - slot_start) / timedelta(hours=1)
        while queue and budget >= 1:
            heapq.heappop(queue)
            budget -= 1
    while cursor < len(pending):
        c = pending[cursor]
        heapq.heappush(queue, (c.due, c.id, c))
        cursor += 1
    return [c for _, _, c in queue]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--skip-store", action="store_true")
    parser.add_argument("--skip-forecast-error", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the generated stores")
    parser.add_argument("--fill-only", action="store_true")
    parser.add_argument(
        "--page-only", action="store_true", help="only the status page and /metrics figures"
    )
    args = parser.parse_args()
    if not args.skip_forecast_error:
        bench_forecast_error()
    if not args.skip_store:
        for kind in args.stores.split(","):
            bench_store(kind.strip(), args.cases, args.keep, args.fill_only, args.page_only)


if __name__ == "__main__":
    main()
