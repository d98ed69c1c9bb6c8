"""`crmbot rules` commands: check, explain (.eml and JSON), test, schema."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rules import DEFAULT_PACK
from rules.cli import app

DATA = Path(__file__).parent / "data" / "rules"
runner = CliRunner()


def test_check_default_pack_prints_ok_with_counts() -> None:
    result = runner.invoke(app, ["check", str(DEFAULT_PACK)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: 5 files, 7 categories")


def test_check_broken_pack_prints_file_line_and_exits_2_like_run(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("version: 1\ncategorys: []\n", encoding="utf-8")
    result = runner.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 2  # a configuration problem: the code `crmbot run` gives it
    assert f"{tmp_path / 'bad.yaml'}:2: categorys: unknown key" in result.output
    assert "did you mean 'categories'?" in result.output


def test_explain_eml_shows_category_sla_priority_and_trace() -> None:
    result = runner.invoke(
        app, ["explain", str(DATA / "billing.eml"), "--now", "2026-11-23T10:00:00+01:00"]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "billing" in out and "first response due" in out and "P1" in out  # mise en demeure
    assert "legal_risk" in out and "strategic_customer" in out and "no" in out


def test_explain_json_is_machine_readable(tmp_path: Path) -> None:
    request = tmp_path / "req.json"
    request.write_text(
        json.dumps({"subject": "Résiliation", "body": "je souhaite résilier", "language": "fr"}),
        encoding="utf-8",
    )
    result = runner.invoke(
        app, ["explain", str(request), "--json", "--now", "2026-11-23T10:00:00+01:00"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["category"] == "cancellation"
    assert data["sla"]["first_response_due"].startswith("2026-11-24")
    assert any(t["kind"] == "automation" and not t["fired"] for t in data["trace"])


def test_test_command_passes_on_good_cases() -> None:
    result = runner.invoke(app, ["test", str(DATA / "admin_cases.yaml")])
    assert result.exit_code == 0, result.output
    assert "2 passed, 0 failed" in result.output


def test_test_command_fails_with_a_readable_report(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "- name: wrong\n  input: {subject: Facture, body: facture}\n"
        "  expect: {category: complaint, priority: P1}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["test", str(cases)])
    assert result.exit_code == 1
    assert "FAIL" in result.output
    assert "category: expected complaint, got billing" in result.output
    assert "0 passed, 1 failed" in result.output


def test_schema_is_a_json_schema_of_the_rules_file() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["additionalProperties"] is False
    assert {"categories", "sla", "impact", "automations", "calendars"} <= set(schema["properties"])
    assert "Webhook" in schema["$defs"]  # the action contract's own model (bot/actions.py)


def test_explain_reads_a_message_straight_from_a_maildir(tmp_path: Path) -> None:
    message = tmp_path / "1795598138.M972178P7565.mx1.example"  # Maildir names have no suffix
    message.write_bytes((DATA / "billing.eml").read_bytes())
    result = runner.invoke(app, ["explain", str(message), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["category"] == "billing"
