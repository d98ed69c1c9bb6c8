"""Load forecast: work due per business hour ahead, and the cases that will breach at capacity.

Inputs, all from the store and settings:
- the arrival rate per weekday and hour of the business calendar, learnt over
  `steering.history_weeks` (cases opened, merged ones excluded);
- the open cases and their next due date (first response while unanswered, then resolution);
- the team's capacity in cases per business hour: `agents_per_hour × cases_per_agent_hour`
  when set, else the closing rate measured over `steering.capacity_weeks`.

The simulation serves work earliest-due-first, hour by hour: expected arrivals join the queue
with the typical time-to-due of recent cases. A case whose turn comes after its due date is
predicted to breach.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from bot.steering.kpi import percentile
from bot.store import kpi as kpi_store
from rules.calendar import BusinessCalendar

_HOUR = timedelta(hours=1)
log = structlog.get_logger(__name__)


@dataclass(slots=True)
class ForecastHour:
    """One business hour ahead."""

    start: datetime
    end: datetime
    arrivals: float  # expected new cases
    work_due: int  # open cases whose next due date falls in this hour
    capacity: float  # cases the team can close in it
    queue: float  # cases (open and expected) still waiting at its end
    breaches: int  # open cases predicted to breach in it

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "arrivals": round(self.arrivals, 2),
            "work_due": self.work_due,
            "capacity": round(self.capacity, 2),
            "queue": round(self.queue, 2),
            "breaches": self.breaches,
        }


@dataclass(slots=True)
class Forecast:
    """The load ahead and the cases expected to breach at the team's capacity."""

    generated_at: datetime
    horizon_hours: int
    capacity_per_hour: float
    capacity_source: str  # "setting" | "measured"
    hours: list[ForecastHour]
    breaches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def breach_expected(self) -> bool:
        """True when at least one open case is predicted to breach within the horizon."""
        return bool(self.breaches)

    @property
    def first_breach_at(self) -> datetime | None:
        """When the first predicted breach falls due."""
        return min((b["due_at"] for b in self.breaches), default=None)

    def facts(self) -> dict[str, Any]:
        """What the rules may test: forecast.breach_expected, .breach_hour, .breach_cases."""
        first = self.first_breach_at
        return {
            "breach_expected": self.breach_expected,
            "breach_hour": first.isoformat() if first else None,
            "breach_cases": len(self.breaches),
            "capacity_per_hour": self.capacity_per_hour,
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "generated_at": self.generated_at.isoformat(),
            "horizon_hours": self.horizon_hours,
            "capacity_per_hour": round(self.capacity_per_hour, 3),
            "capacity_source": self.capacity_source,
            **{k: v for k, v in self.facts().items() if k != "capacity_per_hour"},
            "hours": [h.to_dict() for h in self.hours],
            "breaches": [
                {
                    "reference": b["reference"],
                    "category": b["category"],
                    "priority": b["priority"],
                    "due_at": b["due_at"].isoformat(),
                    "expected_done": b["expected_done"].isoformat() if b["expected_done"] else None,
                }
                for b in self.breaches
            ],
        }


def business_hours(
    calendar: BusinessCalendar, start: datetime, count: int
) -> list[tuple[datetime, datetime]]:
    """The next `count` business-hour slots (start, end) from `start`, in UTC; a slot is cut
    at a closing time (then shorter than an hour)."""
    slots: list[tuple[datetime, datetime]] = []
    at = start
    while len(slots) < count:
        a = calendar.next_open(at)
        local_day = a.astimezone(calendar.zone).date()
        close = next((y for x, y in calendar.intervals(local_day) if x <= a < y), a + _HOUR)
        b = min(a + _HOUR, close)
        slots.append((a, b))
        at = b
    return slots


def arrival_rates(
    arrivals: Iterable[datetime | tuple[datetime, int]], calendar: BusinessCalendar, weeks: int
) -> dict[tuple[int, int], float]:
    """Mean cases opened per (local weekday, hour) over `weeks` weeks, from arrival times or
    (hour, count) pairs."""
    counts: dict[tuple[int, int], int] = defaultdict(int)
    for item in arrivals:
        at, n = item if isinstance(item, tuple) else (item, 1)
        local = at.astimezone(calendar.zone)
        counts[(local.weekday(), local.hour)] += n
    return {key: n / weeks for key, n in counts.items()}


def _next_due(case: dict[str, Any]) -> datetime | None:
    dues = [
        d
        for d in (
            None if case.get("first_response_at") else case.get("first_response_due"),
            case.get("resolution_due"),
        )
        if d is not None
    ]
    return min(dues) if dues else None


def simulate(
    *,
    now: datetime,
    calendar: BusinessCalendar,
    open_cases: list[dict[str, Any]],
    rates: dict[tuple[int, int], float],
    capacity_per_hour: float,
    horizon_hours: int,
    typical_due: timedelta,
    capacity_source: str = "setting",
) -> Forecast:
    """Serve the queue earliest-due-first, business hour by business hour."""
    slots = business_hours(calendar, now, horizon_hours)
    counter = itertools.count()
    queue: list[tuple[datetime, int, float, dict[str, Any] | None]] = []
    never = datetime.max.replace(tzinfo=UTC)
    for open_case in open_cases:
        queue.append((_next_due(open_case) or never, next(counter), 1.0, open_case))
    heapq.heapify(queue)
    # the open cases by due date: each is looked at once, in the slot where it falls due
    pending = sorted((due, n, case) for due, n, _, case in queue if due is not never)
    dues = [due for due, _, _ in pending]
    look = bisect_right(dues, now)  # the next one to look at (due after now)
    left_queue: set[int] = set()  # entries served in full
    breaches: list[dict[str, Any]] = []
    breached: set[int] = set()
    hours: list[ForecastHour] = []
    for start, end in slots:
        local = start.astimezone(calendar.zone)
        fraction = (end - start) / _HOUR
        expected = rates.get((local.weekday(), local.hour), 0.0) * fraction
        if expected > 0:
            heapq.heappush(queue, (start + typical_due, next(counter), expected, None))
        # open cases due in (start, end] and after now
        work_due = max(0, bisect_right(dues, end) - bisect_right(dues, max(start, now)))
        slot_capacity = capacity_per_hour * fraction
        consumed = 0.0
        late_here = 0
        while queue and consumed < slot_capacity - 1e-9:
            due, n, amount, entry = queue[0]
            served = min(amount, slot_capacity - consumed)
            consumed += served
            if served < amount - 1e-9:
                heapq.heapreplace(queue, (due, n, amount - served, entry))
                break
            heapq.heappop(queue)
            left_queue.add(n)
            done_at = start + (end - start) * (consumed / slot_capacity)
            if entry is not None and now < due < done_at and entry["id"] not in breached:
                breaches.append(_breach(entry, due, done_at))
                breached.add(entry["id"])
                late_here += 1
        while look < len(pending) and dues[look] <= end:  # still waiting when due
            due, n, waiting = pending[look]
            look += 1
            if waiting is not None and n not in left_queue and waiting["id"] not in breached:
                breaches.append(_breach(waiting, due, None))
                breached.add(waiting["id"])
                late_here += 1
        hours.append(
            ForecastHour(
                start=start,
                end=end,
                arrivals=expected,
                work_due=work_due,
                capacity=capacity_per_hour * fraction,
                queue=sum(a for _, _, a, _ in queue),
                breaches=late_here,
            )
        )
    breaches.sort(key=lambda b: (b["due_at"], b["id"]))
    return Forecast(now, horizon_hours, capacity_per_hour, capacity_source, hours, breaches)


def _breach(case: dict[str, Any], due: datetime, done: datetime | None) -> dict[str, Any]:
    return {
        "id": case["id"],
        "reference": case["reference"],
        "category": case["category"],
        "priority": case["priority"],
        "tags": case.get("tags") or [],
        "impact_score": case.get("impact_score"),
        "due_at": due,
        "expected_done": done,
    }


def measured_capacity(conn: Any, calendar: BusinessCalendar, now: datetime, weeks: int) -> float:
    """Cases closed per business hour over the last `weeks` weeks."""
    since = now - timedelta(weeks=weeks)
    closed = kpi_store.count_closed_since(conn, since)
    hours = calendar.elapsed(since, now).total_seconds() / 3600
    return closed / hours if hours > 0 else 0.0


def typical_time_to_due(spans_of: list[tuple[datetime, datetime | None]]) -> timedelta:
    """Median time from opening to the first due date of recent cases (8 h without any)."""
    spans = [(due - opened).total_seconds() for opened, due in spans_of if due is not None]
    median = percentile(spans, 0.5)
    return timedelta(seconds=median) if median is not None else timedelta(hours=8)


@dataclass(slots=True)
class Learnt:
    """What the forecast learns from the history: it changes slowly, so a running endpoint
    keeps it for LEARNT_SECONDS instead of reading weeks of cases at each refresh."""

    rates: dict[tuple[int, int], float]
    capacity_per_hour: float
    capacity_source: str  # "setting" | "measured"
    typical_due: timedelta


def learn(
    conn: Any, *, now: datetime, calendar: BusinessCalendar, steering_settings: Any
) -> Learnt:
    """Arrival rates, capacity and typical time to due, from the store and the settings."""
    s = steering_settings
    arrivals = kpi_store.arrivals_per_hour(conn, now - timedelta(weeks=s.history_weeks))
    rates = arrival_rates(arrivals, calendar, s.history_weeks)
    if s.agents_per_hour is not None:
        capacity, source = s.agents_per_hour * s.cases_per_agent_hour, "setting"
    else:
        capacity = measured_capacity(conn, calendar, now, s.capacity_weeks)
        source = "measured"
    return Learnt(rates, capacity, source, typical_time_to_due(kpi_store.due_spans(conn)))


def forecast_from_store(
    conn: Any,
    *,
    now: datetime,
    calendar: BusinessCalendar,
    steering_settings: Any,
    open_cases: list[dict[str, Any]] | None = None,
    learnt: Learnt | None = None,
) -> Forecast:
    """The forecast at `now` from the store and the steering settings (and the open cases,
    or what was learnt, when the caller has them already)."""
    if learnt is None:
        learnt = learn(conn, now=now, calendar=calendar, steering_settings=steering_settings)
    lean = open_cases is None
    if open_cases is None:  # only what the simulation needs; tags and impact for breaches
        open_cases = kpi_store.open_cases_due(conn)
    result = simulate(
        now=now,
        calendar=calendar,
        open_cases=open_cases,
        rates=learnt.rates,
        capacity_per_hour=learnt.capacity_per_hour,
        horizon_hours=steering_settings.horizon_hours,
        typical_due=learnt.typical_due,
        capacity_source=learnt.capacity_source,
    )
    if lean:
        extra = kpi_store.tags_and_impact(conn, [b["id"] for b in result.breaches])
        for breach in result.breaches:
            breach["tags"], breach["impact_score"] = extra.get(breach["id"], ([], None))
    return result


_lock = threading.Lock()  # guards the dicts below (held briefly)
_first_lock = threading.Lock()  # one first computation at a time
_cache: dict[int, tuple[datetime, Forecast]] = {}
_learnt: dict[int, tuple[datetime, Learnt]] = {}
_refreshing: set[int] = set()
CACHE_SECONDS = 30.0
LEARNT_SECONDS = 600.0


def _fresh(at: datetime, now: datetime, seconds: float) -> bool:
    return abs((now - at).total_seconds()) < seconds


def _compute(steering: Any, key: int, now: datetime) -> Forecast:
    calendar = steering.rules().calendar()
    settings = steering.settings.steering
    with steering.store.connect() as conn:
        with _lock:
            known = _learnt.get(key)
        if known is None or not _fresh(known[0], now, LEARNT_SECONDS):
            known = (now, learn(conn, now=now, calendar=calendar, steering_settings=settings))
        result = forecast_from_store(
            conn, now=now, calendar=calendar, steering_settings=settings, learnt=known[1]
        )
    with _lock:
        _learnt[key] = known
        _cache[key] = (now, result)
    return result


def _refresh(steering: Any, key: int) -> None:
    try:
        _compute(steering, key, steering.clock())
    except Exception as exc:  # the last forecast stays; the next request tries again
        log.warning("forecast_refresh_failed", error=type(exc).__name__)
    finally:
        with _lock:
            _refreshing.discard(key)


def current_forecast(steering: Any, now: datetime | None = None) -> Forecast:
    """The forecast for a running endpoint. Computed on the first call; after that, a
    forecast older than 30 seconds is answered at once and recomputed in the background,
    one computation at a time (what it learns from the history: every 10 minutes)."""
    now = now or steering.clock()
    key = id(steering)
    with _lock:
        cached = _cache.get(key)
        if cached and not _fresh(cached[0], now, CACHE_SECONDS) and key not in _refreshing:
            _refreshing.add(key)
            threading.Thread(
                target=_refresh, args=(steering, key), name="crmbot-forecast", daemon=True
            ).start()
    if cached:
        return cached[1]
    with _first_lock:  # single flight for the first computation
        with _lock:
            cached = _cache.get(key)
        return cached[1] if cached else _compute(steering, key, now)
