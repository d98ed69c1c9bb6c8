"""Overflow to an outsourced team: a rule on forecast facts routes the least critical cases."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.settings import Settings
from bot.steering.forecast import Forecast
from bot.steering.kpi import compute_kpis
from bot.steering.overflow import run_overflow
from bot.store import Store
from bot.store.audit import trail
from bot.store.rows import get_case
from bot.store.schema import outbox
from rules.engine import load_ruleset
from rules.loader import RulesError
from tests.helpers.steering import CaseSpec, seed

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
OVERFLOW_RULES = """\
version: 1
automations:
  - id: overflow_back_office
    events: [forecast.updated]
    when:
      all:
        - {field: forecast.breach_expected, op: equals, value: true}
        - {field: forecast.breach_cases, op: greater, value: 0}
        - {field: case.category, op: in, value: [admin_update, billing]}
    actions:
      - {type: assign, queue: prestataire}
"""


@pytest.fixture
def ruleset(tmp_path: Path):
    pack = tmp_path / "rules"
    shutil.copytree(ROOT / "rules" / "packs" / "default", pack)
    (pack / "overflow.yaml").write_text(OVERFLOW_RULES)
    return load_ruleset(pack)


def _forecast(breaches: int) -> Forecast:
    due = NOW + timedelta(hours=3)
    items = [
        {"id": -n, "reference": f"X-{n}", "category": "billing", "priority": "P3", "due_at": due}
        for n in range(breaches)
    ]
    return Forecast(NOW, 48, 1.0, "setting", [], items)


def _settings() -> Settings:
    return Settings(overflow={"enabled": True, "sink": "crm", "home_queue": "back-office"})


def _seed(store: Store) -> None:
    opened = NOW - timedelta(hours=2)
    with store.begin() as conn:
        seed(
            conn,
            [
                CaseSpec(opened, category="admin_update", priority="P4"),  # CB-1
                CaseSpec(opened, category="billing", priority="P3"),  # CB-2
                CaseSpec(opened, category="billing", priority="P3", tags=["legal_risk"]),  # CB-3
                CaseSpec(opened, category="complaint", priority="P4"),  # CB-4: not eligible
                CaseSpec(opened, category="billing", priority="P2"),  # CB-5
                CaseSpec(opened, category="billing", priority="P1"),  # CB-6
                CaseSpec(opened, category="billing", priority="P4", status="closed"),  # CB-7
            ],
        )


def test_a_rule_on_an_unknown_forecast_field_root_is_still_refused(tmp_path: Path) -> None:
    pack = tmp_path / "rules"
    shutil.copytree(ROOT / "rules" / "packs" / "default", pack)
    (pack / "overflow.yaml").write_text(OVERFLOW_RULES.replace("forecast.breach", "forcast.breach"))
    with pytest.raises(RulesError, match="forcast"):
        load_ruleset(pack)


def test_overflow_routes_the_least_critical_eligible_cases_and_never_protected_ones(
    store: Store, ruleset
) -> None:
    _seed(store)
    with store.begin() as conn:
        result = run_overflow(
            conn, ruleset=ruleset, forecast=_forecast(3), settings=_settings(), now=NOW
        )
    # P4 first, then P3 (not the legal-risk one), then P2; the complaint is not eligible
    assert result.routed == ["CB-1", "CB-2", "CB-5"]
    with store.connect() as conn:
        rows = conn.execute(select(outbox).order_by(outbox.c.id)).mappings().all()
        assert [(r["case_id"], r["sink"], r["action"], r["payload"]["queue"]) for r in rows] == [
            (1, "crm", "assign", "prestataire"),
            (2, "crm", "assign", "prestataire"),
            (5, "crm", "assign", "prestataire"),
        ]
        assert "overflow:outsourced" in get_case(conn, 1)["tags"]
        assert "overflow:outsourced" not in get_case(conn, 3)["tags"]
        [entry] = [e for e in trail(conn, 1) if e["event"] == "overflow_routed"]
        assert entry["detail"]["queue"] == "prestataire"
        assert entry["detail"]["rule_id"] == "overflow_back_office"
        assert entry["detail"]["forecast"]["breach_cases"] == 3
    with store.begin() as conn:  # the same forecast again: those three are enough
        again = run_overflow(
            conn, ruleset=ruleset, forecast=_forecast(3), settings=_settings(), now=NOW
        )
    assert again.routed == [] and again.returned == []


def test_overflow_routes_cases_back_when_no_breach_is_expected(store: Store, ruleset) -> None:
    _seed(store)
    with store.begin() as conn:
        run_overflow(conn, ruleset=ruleset, forecast=_forecast(2), settings=_settings(), now=NOW)
    with store.begin() as conn:
        result = run_overflow(
            conn, ruleset=ruleset, forecast=_forecast(0), settings=_settings(), now=NOW
        )
    assert result.returned == ["CB-1", "CB-2"]
    with store.connect() as conn:
        back = conn.execute(select(outbox.c.case_id, outbox.c.payload).where(outbox.c.id > 2)).all()
        assert [(cid, p["queue"]) for cid, p in back] == [(1, "back-office"), (2, "back-office")]
        assert "overflow:outsourced" not in get_case(conn, 1)["tags"]
        events = [e["event"] for e in trail(conn, 1)]
        assert events[-2:] == ["overflow_routed", "overflow_returned"]


def test_report_by_team_compares_in_house_and_outsourced(store: Store, ruleset) -> None:
    _seed(store)
    with store.begin() as conn:
        run_overflow(conn, ruleset=ruleset, forecast=_forecast(2), settings=_settings(), now=NOW)
    with store.connect() as conn:
        report = compute_kpis(
            conn,
            since=NOW - timedelta(days=1),
            now=NOW,
            calendar=ruleset.calendar(),
            by="team",
            team="outsourced",
        )
    opened = {r["group"]: r["cases_opened"] for r in report.rows}
    assert opened == {"in_house": 5, "outsourced": 2}
    assert {b["group"]: b["backlog"] for b in report.backlog} == {"in_house": 4, "outsourced": 2}


def test_a_protected_case_moves_only_when_a_rule_allows_it(store: Store, tmp_path: Path) -> None:
    pack = tmp_path / "allowing"
    shutil.copytree(ROOT / "rules" / "packs" / "default", pack)
    allowing = OVERFLOW_RULES.replace(
        "      - {type: assign, queue: prestataire}\n",
        "      - {type: assign, queue: prestataire}\n"
        "      - {type: add_tag, tag: overflow:allowed}\n",
    )
    (pack / "overflow.yaml").write_text(allowing)
    _seed(store)
    with store.begin() as conn:
        result = run_overflow(
            conn, ruleset=load_ruleset(pack), forecast=_forecast(3), settings=_settings(), now=NOW
        )
    assert result.routed == ["CB-1", "CB-2", "CB-3"]
