"""The status page and /metrics read sums (SQL over partial indexes, a shared summary kept a
few seconds): their figures equal a straightforward recomputation from every case, on
SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.app import rules_provider
from bot.steering.cache import SingleFlight
from bot.steering.http import Steering
from bot.steering.kpi import CLOSED, cases_due_soon, sla_state
from bot.steering.metrics import StoreCollector
from bot.steering.page import start_of_day, status_data, throughput_svg
from bot.store import Store
from bot.store import kpi as kpi_store
from bot.store import rows as case_store
from bot.store.rows import create_contact
from tests.helpers.runtime import make_settings
from tests.helpers.steering import CaseSpec, seed

NOW = datetime(2026, 11, 30, 15, 20, tzinfo=UTC)  # a Monday afternoon
H = timedelta(hours=1)


def _history(contacts: list[int | None] | None = None) -> list[CaseSpec]:
    """Open and closed cases around every edge of the page's figures."""
    people = contacts or [None]
    specs = []
    for i in range(40):
        opened = NOW - (i * 1.7 + 0.3) * H
        status = ("new", "open", "waiting_customer", "closed", "resolved")[i % 5]
        closed = status in CLOSED
        specs.append(
            CaseSpec(
                opened,
                category=(None, "billing", "complaint")[i % 3],  # type: ignore[arg-type]
                priority=("P1", "P2", "P3", "P4", None)[i % 5 if i % 7 else 4],  # type: ignore[arg-type]
                source=("mail", "crm")[i % 2],
                status=status,
                first_response_due=opened + (i % 9) * H if i % 4 else None,
                resolution_due=opened + (i % 13) * 2 * H if i % 3 else None,
                replied_at=opened + (i % 6) * 0.7 * H if i % 2 else None,
                closed_at=min(NOW, opened + (i % 8) * 3 * H) if closed else None,
                follow_ups=i % 3,
                contact_id=people[i % len(people)],
            )
        )
    return specs


def _steering(store: Store, store_url: str) -> Steering:
    settings = make_settings(store_url, {})
    return Steering(
        store=store,
        rules=rules_provider(settings),
        intervals={},
        settings=settings,
        clock=lambda: NOW,
    )


def _recomputed(store: Store, steering: Steering) -> dict[str, Any]:
    """The figures from every case read whole, the first reply taken from the outbox."""
    today = start_of_day(steering, NOW)
    at_risk = timedelta(hours=steering.settings.steering.at_risk_hours)
    with store.connect() as conn:
        firsts = kpi_store.first_responses(conn)
        everything = kpi_store.cases_opened(conn, NOW - timedelta(days=3650))
        received = kpi_store.requests_received(conn, NOW - 24 * H)
    for case in everything:
        case["first_response_at"] = firsts.get(case["id"])
    open_cases = [c for c in everything if c["status"] not in CLOSED]
    closed = [c for c in everything if c["status"] in CLOSED]
    breaches_today = 0
    for case in open_cases:
        pending = [
            d
            for d in (
                None if case["first_response_at"] else case["first_response_due"],
                case["resolution_due"],
            )
            if d is not None
        ]
        breaches_today += bool(pending) and today <= min(pending) <= NOW
    for case in closed:
        if case["last_request_at"] >= today and sla_state(case, NOW, at_risk) == "breached":
            breaches_today += 1
    states = Counter(sla_state(c, NOW, at_risk) for c in open_cases)
    week = [c for c in everything if c["opened_at"] >= NOW - timedelta(days=7) and c["contact_id"]]
    chases = Counter({c["contact_id"]: 0 for c in week})
    for c in week:
        chases[c["contact_id"]] += c["follow_up_count"]
    chased = sorted(((-n, cid) for cid, n in chases.items() if n > 0))[:8]
    backlog = Counter((c["category"] or "-", c["priority"] or "-") for c in open_cases)
    return {
        "backlog": backlog,
        "backlog_total": len(open_cases),
        "breaches_today": breaches_today,
        "due_soon": [c["reference"] for c in cases_due_soon(open_cases, NOW, 8.0)[:12]],
        "chart": throughput_svg(
            [r["received_at"] for r in received],
            [c["last_request_at"] for c in closed],
            NOW,
            "en",
        ),
        "breached": states["breached"],
        "at_risk": states["at_risk"],
        "chased": [(cid, -n) for n, cid in chased],
    }


def test_page_and_metrics_figures_equal_a_recomputation_from_every_case(
    store: Store, store_url: str
) -> None:
    with store.begin() as conn:
        people = [
            create_contact(conn, email=f"p{n}@example.fr", name=f"P {n}")["id"] for n in range(3)
        ]
        seed(conn, _history([*people, None]))
        case_store.merge_cases(conn, 1, 2)  # a merged case counts nowhere
    steering = _steering(store, store_url)
    expected = _recomputed(store, steering)
    assert expected["backlog_total"] > 10 and expected["breaches_today"] > 0  # a real test
    assert expected["breached"] > 0 and expected["at_risk"] > 0 and expected["due_soon"]
    data = status_data(steering, NOW)
    shown = Counter(
        {(cat, pri): n for cat, row in data["backlog"].items() for pri, n in row.items() if n}
    )
    assert shown == expected["backlog"]
    assert data["backlog_total"] == expected["backlog_total"]
    assert data["breaches_today"] == expected["breaches_today"]
    assert [c["reference"] for c in data["due_soon"]] == expected["due_soon"]
    assert throughput_svg(data["arrivals"], data["closings"], NOW, "en") == expected["chart"]
    assert [(c["id"], c["chases"]) for c in data["chased"]] == expected["chased"]
    assert expected["chased"]
    summary = steering.summary()
    assert (summary["breached"], summary["at_risk"]) == (
        expected["breached"],
        expected["at_risk"],
    )
    collector = StoreCollector(store, clock=lambda: NOW)  # standalone: its own summary
    sla = next(f for f in collector.collect() if f.name == "crmbot_sla_open_cases")
    assert {s.labels["state"]: s.value for s in sla.samples} == {
        "breached": expected["breached"],
        "at_risk": expected["at_risk"],
    }


def test_the_page_and_metrics_share_one_summary_read(store: Store, store_url: str) -> None:
    with store.begin() as conn:
        seed(conn, _history())
    steering = _steering(store, store_url)
    collector = StoreCollector(store, clock=lambda: NOW, summary=steering.summary)
    status_data(steering, NOW)
    list(collector.collect())
    status_data(steering, NOW)
    assert steering.summary_cache.computed == 1


def test_a_burst_of_readers_costs_one_computation() -> None:
    cache: SingleFlight[int] = SingleFlight(60.0)
    calls: list[int] = []
    gate = threading.Barrier(8)

    def compute() -> int:
        calls.append(1)
        return 42

    def reader(results: list[int]) -> None:
        gate.wait()
        results.append(cache.get(compute))

    results: list[int] = []
    threads = [threading.Thread(target=reader, args=(results,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [42] * 8 and len(calls) == 1


def test_a_kept_value_expires_and_a_failure_is_not_kept() -> None:
    now = [0.0]
    cache: SingleFlight[int] = SingleFlight(5.0, clock=lambda: now[0])
    assert cache.get(lambda: 1) == 1
    now[0] = 4.9
    assert cache.get(lambda: 2) == 1
    now[0] = 5.0
    assert cache.get(lambda: 3) == 3

    def broken() -> int:
        raise RuntimeError("store down")

    now[0] = 11.0
    with pytest.raises(RuntimeError):
        cache.get(broken)
    assert cache.get(lambda: 4) == 4
