"""`crmbot replay`: a changed rule pack re-decides stored requests; nothing is stored."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.app import rules_provider
from bot.store import Store
from bot.store.schema import audit, cases, outbox, requests, timers
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PACK = ROOT / "rules" / "packs" / "default"


@pytest.fixture
def filled(store: Store, store_url: str, tmp_path: Path) -> str:
    """A store the pipeline filled from the example Maildir; returns its URL."""
    maildir = tmp_path / "maildir"
    shutil.copytree(ROOT / "examples" / "maildir", maildir)
    settings = make_settings(store_url, {"acme": maildir_source(maildir)})
    maildir_worker(settings, store, rules=rules_provider(settings)).run_once()
    return store_url


def _pack(tmp_path: Path, edit: object) -> Path:
    pack = tmp_path / "candidate"
    shutil.copytree(DEFAULT_PACK, pack)
    edit(pack)  # type: ignore[operator]
    return pack


def _billing_p2(pack: Path) -> None:
    path = pack / "sla.yaml"
    data = yaml.safe_load(path.read_text())
    for policy in data["sla"]["policies"]:
        if policy["id"] == "billing":
            policy["priority"] = "P2"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))


def _no_acknowledgement(pack: Path) -> None:
    path = pack / "automations.yaml"
    data = yaml.safe_load(path.read_text())
    data["automations"] = [a for a in data["automations"] if a["id"] != "acknowledge_new_request"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True))


def _counts(store: Store) -> list[int]:
    with store.connect() as conn:
        return [
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (cases, requests, audit, outbox, timers)
        ]


def _replay(store_url: str, pack: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    from bot.cli import app

    monkeypatch.setenv("CRMBOT_STORE__URL", store_url)
    result = CliRunner().invoke(app, ["replay", "--rules", str(pack), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_replay_shows_priority_and_sla_changes_of_a_policy_change_and_stores_nothing(
    filled: str, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _counts(store)
    data = _replay(filled, _pack(tmp_path, _billing_p2), monkeypatch)
    assert _counts(store) == before
    assert data["replayed"] == 37
    assert data["changed"] > 0
    assert data["summary"]["category"] == 0 and data["summary"]["actions"] == 0
    for change in data["changes"]:
        assert change["changes"]["priority"] == ["P3", "P2"]
        old_due, new_due = change["changes"]["resolution_due"]
        assert new_due < old_due  # P2 resolves in 2 days, P3 in 5
    with store.connect() as conn:
        billing = conn.execute(
            select(func.count()).select_from(cases).where(cases.c.category == "billing")
        ).scalar_one()
    origins = {c["case"] for c in data["changes"] if c["event"] == "case.created"}
    assert len(origins) == billing


def test_replay_shows_actions_a_removed_automation_would_no_longer_plan(
    filled: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _replay(filled, _pack(tmp_path, _no_acknowledgement), monkeypatch)
    assert data["summary"]["actions"] > 0 and data["summary"]["priority"] == 0
    for change in data["changes"]:
        old, new = change["changes"]["actions"]
        assert "send_reply:acknowledge_new_request" in old
        assert "send_reply:acknowledge_new_request" not in new


def test_replay_with_the_same_rules_changes_nothing(
    filled: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _replay(filled, _pack(tmp_path, lambda pack: None), monkeypatch)
    assert (data["replayed"], data["changed"]) == (37, 0)


def test_replay_refuses_a_broken_rule_pack(
    filled: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli import app

    pack = _pack(tmp_path, lambda p: (p / "sla.yaml").write_text("sla: {targets: nope}\n"))
    monkeypatch.setenv("CRMBOT_STORE__URL", filled)
    result = CliRunner().invoke(app, ["replay", "--rules", str(pack)])
    assert result.exit_code == 1
    assert "sla.yaml" in result.output
