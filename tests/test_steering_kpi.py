"""Steering KPIs computed from the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from bot.steering.commands import parse_since
from bot.steering.kpi import compute_kpis, percentile, sla_state
from bot.store import Store
from rules.calendar import BusinessCalendar, CalendarSpec
from tests.helpers.steering import CaseSpec, seed

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # a Wednesday
MON = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
OFFICE = BusinessCalendar(
    CalendarSpec(
        name="office",
        timezone="UTC",
        hours={d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    )
)


def _history() -> list[CaseSpec]:
    h = timedelta(hours=1)
    return [
        # answered after 1 h, closed after 8 h (one business day: 8 business hours), met
        CaseSpec(
            MON,
            status="closed",
            first_response_due=MON + 4 * h,
            resolution_due=MON + 24 * h,
            replied_at=MON + h,
            closed_at=MON + 8 * h,
        ),
        # answered after 3 h, chased twice, closed late: breached
        CaseSpec(
            MON,
            status="resolved",
            first_response_due=MON + 4 * h,
            resolution_due=MON + 6 * h,
            replied_at=MON + 3 * h,
            closed_at=MON + 30 * h,
            follow_ups=2,
            duplicates=1,
        ),
        # complaint, open, never answered, due in 2 h: at risk
        CaseSpec(
            MON + 24 * h,
            category="complaint",
            priority="P1",
            source="crm",
            language="en",
            first_response_due=NOW + 2 * h,
            resolution_due=NOW + 20 * h,
            follow_ups=1,
            agent_touched=True,
        ),
        # complaint, open, answered by crmbot alone, resolution far away: on track, automated
        CaseSpec(
            MON + 24 * h,
            category="complaint",
            priority="P2",
            source="crm",
            language="en",
            first_response_due=MON + 30 * h,
            resolution_due=NOW + 100 * h,
            replied_at=MON + 25 * h,
        ),
    ]


def test_kpis_count_volumes_times_sla_chases_and_automation(store: Store) -> None:
    with store.begin() as conn:
        seed(conn, _history())
    with store.connect() as conn:
        report = compute_kpis(
            conn, since=MON - timedelta(days=1), now=NOW, calendar=OFFICE, period="week"
        )
    [row] = report.rows
    assert row["requests_in"] == 4 + 2 + 1 + 1  # origins, follow-ups, the duplicate
    assert (row["cases_opened"], row["cases_closed"]) == (4, 2)
    assert (row["first_response_median_h"], row["first_response_p90_h"]) == (1.0, 2.6)
    assert row["resolution_median_h"] == 19.0  # 8 h and 30 h
    assert row["resolution_p90_bh"] == 13.4  # 8 and 14 business hours
    assert (row["sla_met"], row["sla_breached"], row["sla_at_risk"]) == (1, 1, 1)
    assert row["sla_compliance"] == 0.5
    assert row["chases_per_case"] == 0.75
    assert row["share_chased"] == 0.5
    assert row["duplicates_absorbed"] == 1
    assert row["automation_rate"] == 0.75  # three cases answered with no agent change
    assert report.backlog == [
        {"group": "all", "backlog": 2, "age_median_h": 30.0, "age_max_h": 30.0}
    ]


def test_kpis_group_by_category_and_business_time(store: Store) -> None:
    with store.begin() as conn:
        seed(conn, _history())
    with store.connect() as conn:
        report = compute_kpis(
            conn, since=MON - timedelta(days=1), now=NOW, calendar=OFFICE, by="category"
        )
    monday_billing = next(
        r for r in report.rows if r["period"] == "2026-11-30" and r["group"] == "billing"
    )
    assert monday_billing["cases_opened"] == 2
    assert monday_billing["first_response_median_bh"] == 2.0
    closing = next(r for r in report.rows if r["cases_closed"] and r["period"] == "2026-12-01")
    # closed Tuesday 15:00 after opening Monday 09:00: 30 calendar hours, 14 business hours
    assert (closing["resolution_median_h"], closing["resolution_median_bh"]) == (30.0, 14.0)
    assert {b["group"]: b["backlog"] for b in report.backlog} == {"complaint": 2}


def test_sla_state_of_a_case_answered_late_is_breached_even_when_closed_on_time() -> None:
    case = {
        "status": "closed",
        "last_request_at": MON + timedelta(hours=5),
        "first_response_at": MON + timedelta(hours=3),
        "first_response_due": MON + timedelta(hours=2),
        "resolution_due": MON + timedelta(hours=10),
    }
    assert sla_state(case, NOW, timedelta(hours=4)) == "breached"


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=2, max_size=50))
def test_percentile_matches_the_inclusive_quantiles_of_statistics(values: list[float]) -> None:
    quantiles = statistics.quantiles(values, n=10, method="inclusive")
    assert abs(percentile(values, 0.9) - quantiles[8]) <= 1e-6 * max(1.0, max(values))
    assert abs(percentile(values, 0.5) - statistics.median(values)) <= 1e-6 * max(1.0, max(values))


@given(st.integers(min_value=0, max_value=10_000), st.sampled_from("hdw"))
def test_since_accepts_relative_durations(amount: int, unit: str) -> None:
    delta = {
        "h": timedelta(hours=amount),
        "d": timedelta(days=amount),
        "w": timedelta(weeks=amount),
    }
    assert parse_since(f"{amount}{unit}", NOW) == NOW - delta[unit]


def test_report_command_prints_json_and_csv(tmp_path, monkeypatch) -> None:
    from bot.cli import app
    from bot.store import open_store

    url = f"sqlite:///{tmp_path / 'crmbot.db'}"
    store = open_store(url)
    with store.begin() as conn:
        seed(conn, _history())
    store.dispose()
    monkeypatch.setenv("CRMBOT_STORE__URL", url)
    runner = CliRunner()
    result = runner.invoke(app, ["report", "--since", "2026-11-01", "--json", "--by", "source"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {r["group"] for r in data["rows"]} == {"mail", "crm"}
    result = runner.invoke(app, ["report", "--since", "2026-11-01", "--csv"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("period,group,requests_in,cases_opened")
    monkeypatch.setenv("CRMBOT_STEERING__LANGUAGE", "fr")
    result = runner.invoke(app, ["report", "--since", "2026-11-01"])
    assert result.exit_code == 0, result.output
    assert "Flux: volumes" in result.stdout
    assert "Stock actuel" in result.stdout
