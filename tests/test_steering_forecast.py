"""Load forecast: business hours ahead, arrival rates, capacity, predicted breaches."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bot.settings import SteeringSettings
from bot.steering.forecast import (
    arrival_rates,
    business_hours,
    forecast_from_store,
    simulate,
)
from bot.store import Store
from rules.calendar import BusinessCalendar, CalendarSpec
from tests.helpers.steering import CaseSpec, seed

OFFICE = BusinessCalendar(
    CalendarSpec(
        name="office",
        timezone="Europe/Paris",
        hours={d: ["09:00-12:00", "13:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    )
)
MONDAY_9 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 in Paris


def _case(n: int, due: datetime, **kw: object) -> dict[str, object]:
    return {
        "id": n,
        "reference": f"CB-{n}",
        "category": "billing",
        "priority": "P3",
        "first_response_at": None,
        "first_response_due": None,
        "resolution_due": due,
        **kw,
    }


def test_business_hours_skip_lunch_nights_and_weekends() -> None:
    friday_1630 = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)
    slots = business_hours(OFFICE, friday_1630, 3)
    local = [(a.astimezone(OFFICE.zone), b.astimezone(OFFICE.zone)) for a, b in slots]
    assert [(a.strftime("%a %H:%M"), b.strftime("%H:%M")) for a, b in local] == [
        ("Fri 16:30", "17:00"),  # cut at closing time
        ("Mon 09:00", "10:00"),
        ("Mon 10:00", "11:00"),
    ]
    morning = business_hours(OFFICE, MONDAY_9 + timedelta(hours=2, minutes=30), 2)
    assert [a.astimezone(OFFICE.zone).strftime("%H:%M") for a, _ in morning] == ["11:30", "13:00"]


def test_cases_beyond_capacity_are_predicted_to_breach_earliest_due_first() -> None:
    due_11 = MONDAY_9 + timedelta(hours=2)  # 11:00 in Paris: two business hours away
    cases = [_case(n, due_11) for n in range(1, 7)] + [_case(7, MONDAY_9 + timedelta(days=3))]
    result = simulate(
        now=MONDAY_9,
        calendar=OFFICE,
        open_cases=cases,
        rates={},
        capacity_per_hour=2.0,
        horizon_hours=8,
        typical_due=timedelta(hours=8),
    )
    # two an hour: four done by 11:00, the two last of the six due then breach, case 7 does not
    assert [b["reference"] for b in result.breaches] == ["CB-5", "CB-6"]
    assert result.facts() == {
        "breach_expected": True,
        "breach_hour": due_11.isoformat(),
        "breach_cases": 2,
        "capacity_per_hour": 2.0,
    }
    assert [h.work_due for h in result.hours[:3]] == [0, 6, 0]
    assert [h.breaches for h in result.hours[:3]] == [0, 2, 0]


def test_enough_capacity_means_no_breach() -> None:
    due_11 = MONDAY_9 + timedelta(hours=2)
    result = simulate(
        now=MONDAY_9,
        calendar=OFFICE,
        open_cases=[_case(n, due_11) for n in range(1, 7)],
        rates={},
        capacity_per_hour=3.0,
        horizon_hours=8,
        typical_due=timedelta(hours=8),
    )
    assert result.breaches == [] and not result.breach_expected


def test_expected_arrivals_with_earlier_due_dates_push_open_cases_late() -> None:
    far = MONDAY_9 + timedelta(hours=3)  # 12:00 Paris
    rates = {(0, 9): 2.0, (0, 10): 2.0, (0, 11): 2.0}  # Monday 09:00 to 12:00: two an hour
    result = simulate(
        now=MONDAY_9,
        calendar=OFFICE,
        open_cases=[_case(1, far), _case(2, far)],
        rates=rates,
        capacity_per_hour=2.0,
        horizon_hours=4,
        typical_due=timedelta(minutes=30),  # new cases are urgent: served first
    )
    assert [b["reference"] for b in result.breaches] == ["CB-1", "CB-2"]
    assert [h.arrivals for h in result.hours[:2]] == [2.0, 2.0]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=40 * 60), min_size=0, max_size=30),
    st.floats(min_value=0, max_value=10),
)
def test_more_capacity_never_predicts_more_breaches(
    due_minutes: list[int], capacity: float
) -> None:
    cases = [_case(n, MONDAY_9 + timedelta(minutes=m)) for n, m in enumerate(due_minutes, 1)]

    def breaches(cap: float) -> int:
        return len(
            simulate(
                now=MONDAY_9,
                calendar=OFFICE,
                open_cases=cases,
                rates={},
                capacity_per_hour=cap,
                horizon_hours=48,
                typical_due=timedelta(hours=8),
            ).breaches
        )

    assert breaches(capacity + 1.0) <= breaches(capacity)


def test_arrival_rates_are_learnt_per_weekday_and_local_hour() -> None:
    arrivals = [
        MONDAY_9 - timedelta(weeks=w) + timedelta(minutes=m) for w in range(4) for m in (5, 40)
    ]
    assert arrival_rates(arrivals, OFFICE, 4) == {(0, 9): 2.0}


def test_forecast_from_store_uses_measured_closing_rate_without_a_capacity_setting(
    store: Store,
) -> None:
    now = MONDAY_9 + timedelta(days=2)  # Wednesday 09:00
    history = [
        CaseSpec(
            now - timedelta(days=d, hours=1),
            status="closed",
            closed_at=now - timedelta(days=d),
        )
        for d in range(1, 15)
    ]
    open_ = [CaseSpec(now - timedelta(hours=1), resolution_due=now + timedelta(hours=1))]
    with store.begin() as conn:
        seed(conn, history + open_)
    with store.connect() as conn:
        measured = forecast_from_store(
            conn, now=now, calendar=OFFICE, steering_settings=SteeringSettings(capacity_weeks=2)
        )
        fixed = forecast_from_store(
            conn,
            now=now,
            calendar=OFFICE,
            steering_settings=SteeringSettings(agents_per_hour=2, cases_per_agent_hour=1.5),
        )
    # 14 closings in two weeks of 7 business hours a day, 10 open days: 0.2 an hour
    assert measured.capacity_source == "measured"
    assert round(measured.capacity_per_hour, 3) == 0.2
    assert measured.breach_expected
    assert (fixed.capacity_source, fixed.capacity_per_hour) == ("setting", 3.0)
    assert not fixed.breach_expected
    assert len(measured.hours) == 48


def test_forecast_command_prints_json(
    store: Store, store_url: str, monkeypatch, tmp_path: Path
) -> None:
    from bot.cli import app

    now = datetime.now(UTC)
    with store.begin() as conn:
        seed(conn, [CaseSpec(now, resolution_due=now + timedelta(minutes=30))])
    monkeypatch.setenv("CRMBOT_STORE__URL", store_url)
    result = CliRunner().invoke(app, ["forecast", "--json", "--agents", "0", "--hours", "24"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["horizon_hours"] == 24 and len(data["hours"]) == 24
    assert data["capacity_source"] == "setting"
    assert [b["reference"] for b in data["breaches"]] == ["CB-1"]


def test_arrivals_are_counted_per_utc_hour_in_the_store(store: Store) -> None:
    from bot.store.kpi import arrivals_per_hour

    with store.begin() as conn:
        seed(
            conn,
            [CaseSpec(MONDAY_9 + timedelta(minutes=m)) for m in (0, 10, 59, 60, 61)]
            + [CaseSpec(MONDAY_9 - timedelta(weeks=9))],  # older than asked: not counted
        )
    with store.connect() as conn:
        counts = sorted(arrivals_per_hour(conn, MONDAY_9 - timedelta(weeks=8)))
    assert counts == [(MONDAY_9, 3), (MONDAY_9 + timedelta(hours=1), 2)]
    assert arrival_rates(counts, OFFICE, 1) == {(0, 9): 3.0, (0, 10): 2.0}  # Paris time
