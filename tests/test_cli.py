"""The command line as an admin uses it: run, cases, show, merge, check, health."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bot.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The quickstart settings, on a copy of the example Maildir and a private store."""
    monkeypatch.delenv("CRMBOT_SETTINGS_FILE", raising=False)
    monkeypatch.setenv("CRMBOT_SECRETS_DIR", str(tmp_path / "no-secrets"))
    shutil.copytree(EXAMPLES / "maildir", tmp_path / "maildir")
    path = tmp_path / "crmbot.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "store": {"url": "sqlite:///var/crmbot.db"},
                "log": {"format": "json", "level": "warning"},
                "worker": {"health_file": "var/health"},
                "sources": {"acme": {"type": "maildir", "path": "maildir"}},
            }
        )
    )
    return path


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_the_quickstart_run_gives_cases_sorted_by_urgency_with_json_output(
    settings_file: Path,
) -> None:
    code, _ = _invoke("run", "--once", "--settings", str(settings_file))
    assert code == 0
    code, output = _invoke("cases", "--json", "--settings", str(settings_file))
    cases = json.loads(output)
    assert code == 0 and len(cases) >= 20
    priorities = [c["priority"] for c in cases]
    assert priorities == sorted(priorities)
    assert {"billing", "technical_incident", "cancellation"} <= {c["category"] for c in cases}
    code, _ = _invoke("run", "--once", "--settings", str(settings_file))
    assert code == 0
    _, after = _invoke("cases", "--json", "--settings", str(settings_file))
    assert len(json.loads(after)) == len(cases)  # a second run changes nothing


def test_show_gives_requests_reasons_and_the_audit_trail(settings_file: Path) -> None:
    _invoke("run", "--once", "--settings", str(settings_file))
    code, output = _invoke("show", "CB-1", "--json", "--settings", str(settings_file))
    case = json.loads(output)
    assert code == 0 and case["reference"] == "CB-1"
    assert case["requests"] and case["audit"][0]["event"] == "case_opened"
    assert any(e["event"] == "case_decided" for e in case["audit"])
    code, text = _invoke("show", "CB-1", "--settings", str(settings_file))
    assert code == 0 and "CB-1" in text
    code, _ = _invoke("show", "CB-99999", "--settings", str(settings_file))
    assert code == 1


def test_merge_and_unmerge_are_reversible_and_audited(settings_file: Path) -> None:
    _invoke("run", "--once", "--settings", str(settings_file))
    before = json.loads(_invoke("cases", "--json", "--settings", str(settings_file))[1])
    code, _ = _invoke("cases", "merge", "CB-1", "CB-2", "--settings", str(settings_file))
    assert code == 0
    merged = json.loads(_invoke("cases", "--json", "--settings", str(settings_file))[1])
    assert len(merged) == len(before) - 1
    survivor = next(c for c in merged if c["reference"] == "CB-1")
    original = {c["reference"]: c for c in before}
    expected = original["CB-1"]["requests"] + original["CB-2"]["requests"]
    assert survivor["requests"] == expected
    code, _ = _invoke("cases", "merge", "CB-1", "CB-2", "--settings", str(settings_file))
    assert code == 1  # already merged: a clear refusal, nothing changed
    code, _ = _invoke("cases", "unmerge", "CB-2", "--settings", str(settings_file))
    assert code == 0
    after = json.loads(_invoke("cases", "--json", "--settings", str(settings_file))[1])
    assert {c["reference"]: c["requests"] for c in after} == {
        c["reference"]: c["requests"] for c in before
    }
    show = json.loads(_invoke("show", "CB-2", "--json", "--settings", str(settings_file))[1])
    assert [e["event"] for e in show["audit"]][-2:] == ["case_merged", "case_unmerged"]


def test_a_wrong_setting_stops_with_a_message_that_names_it(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRMBOT_WORKER__BATCH_SIZE", "lots")
    code, output = _invoke("run", "--once", "--settings", str(settings_file))
    assert code == 2 and "worker.batch_size" in output


def test_an_unknown_connector_type_suggests_the_nearest(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRMBOT_SOURCES__ACME__TYPE", "mialdir")
    code, output = _invoke("run", "--once", "--settings", str(settings_file))
    assert code == 2 and "did you mean 'maildir'" in output


def test_check_reports_every_part_and_fails_on_an_unreachable_source(
    settings_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = _invoke("check", "--settings", str(settings_file))
    assert code == 0 and "source acme" in output and "FAILED" not in output
    monkeypatch.setenv("CRMBOT_SOURCES__ACME__PATH", str(tmp_path / "missing"))
    code, output = _invoke("check", "--settings", str(settings_file))
    assert code == 1 and "FAILED" in output


def test_health_fails_without_a_worker_even_after_a_one_off_run(settings_file: Path) -> None:
    code, _ = _invoke("health", "--settings", str(settings_file))
    assert code == 1
    _invoke("run", "--once", "--settings", str(settings_file))
    code, output = _invoke("health", "--settings", str(settings_file))
    assert code == 1 and "no health stamp" in output  # only `crmbot run` (the worker) writes it


def test_reading_commands_never_create_a_store_and_say_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = _invoke("cases", "--json")
    assert code == 2 and "no store at" in output
    assert not (tmp_path / "crmbot.db").exists()


def test_bad_arguments_give_clear_errors_not_tracebacks(settings_file: Path) -> None:
    _invoke("run", "--once", "--settings", str(settings_file))
    code, output = _invoke("show", "9" * 25, "--settings", str(settings_file))
    assert code == 1 and "no case" in output
    code, output = _invoke("cases", "--limit", "-1", "--settings", str(settings_file))
    assert code == 2 and "Traceback" not in output
    code, output = _invoke("outbox", "--json", "--settings", str(settings_file))
    assert code == 0 and json.loads(output)["dead"] == []


def test_an_unusable_store_path_is_a_setting_error(
    settings_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("CRMBOT_STORE__URL", f"sqlite:///{tmp_path / 'afile' / 'x.db'}")
    code, output = _invoke("run", "--once", "--settings", str(settings_file))
    assert code == 2 and "store.url" in output
