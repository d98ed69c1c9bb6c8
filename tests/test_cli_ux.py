"""The admin's and the agent's experience of the command line (issue 14), at 80 and 160 columns."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
import yaml
from rich.console import Console
from typer.testing import CliRunner

from bot.cli import app
from bot.logging import Heartbeat
from bot.summary import PROGRESS_AFTER, StoreProgress

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
LEGAL_MAIL = EXAMPLES / "maildir" / "new" / "1795598138.M972178P7565.mx1.acme-energie.fr"


def _write_settings(tmp: Path, **extra: object) -> Path:
    shutil.copytree(EXAMPLES / "maildir", tmp / "maildir")
    settings = {
        "store": {"url": "sqlite:///var/crmbot.db"},
        "log": {"format": "json", "level": "warning"},
        "worker": {"health_file": "var/health"},
        "sources": {"acme": {"type": "maildir", "path": "maildir"}},
        **extra,
    }
    path = tmp / "crmbot.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def _env(tmp: Path, **more: str) -> dict[str, str | None]:
    return {"CRMBOT_SETTINGS_FILE": None, "CRMBOT_SECRETS_DIR": str(tmp / "none"), **more}


def _invoke(tmp: Path, *args: str, columns: int | None = None, **env: str) -> tuple[int, str]:
    extra = {"COLUMNS": str(columns)} if columns else {}
    result = CliRunner().invoke(app, list(args), env=_env(tmp, **extra, **env))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The example mailbox, run once: (the settings file, its directory)."""
    tmp = tmp_path_factory.mktemp("ux")
    path = _write_settings(tmp)
    code, output = _invoke(tmp, "run", "--once", "--settings", str(path))
    assert code == 0, output
    return path, tmp


def _cases(quickstart: tuple[Path, Path], *args: str) -> list[dict]:
    path, tmp = quickstart
    code, output = _invoke(tmp, "cases", "--json", "--settings", str(path), *args)
    assert code == 0, output
    return json.loads(output)


# -- 14.3 cases


def test_cases_at_80_columns_fit_and_show_review_flags_and_the_calendar_zone(
    quickstart: tuple[Path, Path],
) -> None:
    path, tmp = quickstart
    code, output = _invoke(tmp, "cases", "--settings", str(path), columns=80)
    assert code == 0
    assert max(len(line) for line in output.splitlines()) <= 80
    assert "SLA due (Europe/Paris)" in output and "times in Europe/Paris" in output
    assert "quotes CB-3" in output
    assert re.search(r"same person as \S+@\S+\?", output)  # an e-mail, not an internal id
    assert "possible_same_contact:" not in output


def test_cases_at_160_columns_end_a_cut_subject_with_an_ellipsis(
    quickstart: tuple[Path, Path],
) -> None:
    path, tmp = quickstart
    code, output = _invoke(tmp, "cases", "--settings", str(path), columns=160)
    assert code == 0
    assert max(len(line) for line in output.splitlines()) <= 160
    assert "review" in output and "…" in output
    assert "2026-11-23 10:00" in output  # CB-1's first response due, 09:00 UTC, in Paris time


def test_cases_filter_by_tag_category_priority_contact_and_overdue(
    quickstart: tuple[Path, Path],
) -> None:
    everything = _cases(quickstart)
    billing = _cases(quickstart, "--category", "billing")
    assert billing and {c["category"] for c in billing} == {"billing"}
    assert len(billing) < len(everything)
    assert {c["priority"] for c in _cases(quickstart, "--priority", "P1")} == {"P1"}
    quoted = _cases(quickstart, "--tag", "foreign_reference:CB-3")
    assert [("foreign_reference:CB-3" in c["tags"]) for c in quoted] == [True]
    repeats = _cases(quickstart, "--tag", "possible_same_contact:")
    assert len(repeats) == 2 and all(
        any(t.startswith("possible_same_contact:") for t in c["tags"]) for c in repeats
    )
    karim = _cases(quickstart, "--contact", "KARIM.benali")
    assert [c["reference"] for c in karim] == ["CB-1"]
    now = datetime.now(UTC).isoformat()
    overdue = _cases(quickstart, "--overdue")
    # The example mail is from November 2026: whatever is open and past due is listed.
    assert {c["reference"] for c in overdue} == {
        c["reference"]
        for c in everything
        if c["status"] not in ("resolved", "closed")
        and min(c["first_response_due"], c["resolution_due"]) < now
    }


@pytest.mark.parametrize(
    ("option", "value", "valid"),
    [
        ("--status", "bogus", "waiting_customer"),
        ("--priority", "P9", "P1, P2, P3, P4"),
        ("--category", "billling", "billing"),
    ],
)
def test_an_unknown_filter_value_exits_2_with_the_valid_values(
    quickstart: tuple[Path, Path], option: str, value: str, valid: str
) -> None:
    path, tmp = quickstart
    code, output = _invoke(tmp, "cases", "--settings", str(path), option, value)
    assert code == 2
    assert f"{option} {value!r} is not one of" in output and valid in output


# -- 14.4 show


@pytest.mark.parametrize("columns", [80, 160])
def test_show_wraps_the_why_on_words_and_prints_audit_details_as_words(
    quickstart: tuple[Path, Path], columns: int
) -> None:
    path, tmp = quickstart
    code, output = _invoke(tmp, "show", "CB-1", "--settings", str(path), columns=columns)
    assert code == 0
    assert max(len(line) for line in output.splitlines()) <= columns
    words = set(re.findall(r"[\w.@<>-]+", output))
    # The words of "why" a follow-up was attached are all there, whole (not cut mid-word).
    for word in ("known", "contact", "In-Reply-To", "points", "identical"):
        assert word in words
    assert "reasons: new contact" in output  # audit reasons by their message…
    assert '{"code"' not in output  # …not as raw JSON
    assert "received (Europe/Paris)" in " ".join(output.split()) or columns == 80


# -- 14.2 run summary and progress


def test_run_once_ends_with_a_human_summary_on_a_terminal_and_json_in_a_container(
    tmp_path: Path,
) -> None:
    path = _write_settings(tmp_path)
    code, output = _invoke(
        tmp_path,
        "run",
        "--once",
        "--settings",
        str(path),
        CRMBOT_LOG__FORMAT="console",
        CRMBOT_LOG__LEVEL="info",
    )
    assert code == 0
    assert "case_decided" not in output  # the summary, not a line per message
    summary = output[output.index("run finished in") :]
    assert re.search(r"messages read\s+40", summary)
    assert re.search(r"requests stored\s+37", summary)
    assert re.search(r"new cases\s+28", summary)
    assert re.search(r"follow-ups\s+7", summary) and re.search(r"duplicates\s+2", summary)
    (tmp_path / "var" / "crmbot.db").unlink()
    code, output = _invoke(
        tmp_path, "run", "--once", "--settings", str(path), CRMBOT_LOG__LEVEL="info"
    )
    assert code == 0 and "run finished in" not in output
    finished = [json.loads(line) for line in output.splitlines() if "run_once_finished" in line]
    assert finished[0]["new_cases"] == 28 and finished[0]["read"] == 40


def test_a_long_run_shows_a_progress_line_with_count_and_rate_past_the_threshold() -> None:
    stored = {"n": 0}
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=80)
    seen = threading.Event()

    def count() -> int:
        stored["n"] += 120
        if stored["n"] > PROGRESS_AFTER * 3:
            seen.set()
        return stored["n"]

    with StoreProgress(count, console, every=0.01):
        assert seen.wait(10)
    text = screen.getvalue()
    assert "messages read" in text and "/s" in text


def test_a_short_run_shows_no_progress_line() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=80)
    calls = threading.Event()

    def count() -> int:
        calls.set()
        return 10

    with StoreProgress(count, console, every=0.01):
        assert calls.wait(10)
    assert "messages read" not in screen.getvalue()


def test_a_worker_that_runs_for_ever_counts_each_burst_from_its_own_start() -> None:
    # Two bursts of 700 messages with a quiet spell between: two progress lines, each
    # counting its own burst (never the running total of 1,400).
    burst = [100 * i for i in range(1, 8)]
    script = [0] * 5 + burst + [700] * 60 + [700 + n for n in burst] + [1400] * 60
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=80)
    finished = threading.Event()
    position = {"i": 0}
    now = {"t": 0.0}  # each store read is 10 ms later: the bursts do not depend on the machine

    def clock() -> float:
        return now["t"]

    def count() -> int:
        now["t"] += 0.01
        i = min(position["i"], len(script) - 1)
        position["i"] += 1
        if i == len(script) - 1:
            finished.set()
        return script[i]

    with StoreProgress(count, console, every=0.005, quiet_after=0.1, clock=clock):
        assert finished.wait(20)
    text = screen.getvalue()
    assert text.count("700 messages read") >= 2
    assert "1,400 messages read" not in text and "1,000 messages read" not in text


def test_a_worker_that_runs_for_ever_shows_nothing_while_quiet() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=80)
    ticks = threading.Event()
    calls = {"n": 0}

    def count() -> int:
        calls["n"] += 1
        if calls["n"] > 50:
            ticks.set()
        return 5 + calls["n"] % 2  # a trickle: one message now and then

    with StoreProgress(count, console, every=0.005, quiet_after=0.05):
        assert ticks.wait(10)
    assert "messages read" not in screen.getvalue()


def test_run_once_verbose_on_a_terminal_keeps_every_log_line(tmp_path: Path) -> None:
    path = _write_settings(tmp_path, log={"format": "console", "level": "info"})
    code, output = _invoke(tmp_path, "run", "--once", "-v", "--settings", str(path))
    assert code == 0 and "case_decided" in output and "run finished in" in output


# -- 14.7 health


def test_run_once_writes_no_health_file(tmp_path: Path) -> None:
    path = _write_settings(tmp_path)
    code, _ = _invoke(tmp_path, "run", "--once", "--settings", str(path))
    assert code == 0 and not (tmp_path / "var" / "health").exists()
    code, output = _invoke(tmp_path, "health", "--settings", str(path))
    assert code == 1 and "no health stamp" in output


def test_the_worker_refuses_to_start_when_it_cannot_write_its_health_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a directory")
    path = _write_settings(tmp_path, worker={"health_file": "afile/health"})
    code, output = _invoke(tmp_path, "run", "--settings", str(path))
    assert code == 2
    assert "worker.health_file" in output and "cannot be written" in output


def test_health_fails_once_the_worker_stopped_or_its_stamp_is_old(tmp_path: Path) -> None:
    path = _write_settings(tmp_path)
    stamp = tmp_path / "var" / "health"
    stamp.parent.mkdir()
    stamp.write_text(datetime.now(UTC).isoformat())
    assert _invoke(tmp_path, "health", "--settings", str(path))[0] == 0
    stamp.write_text((datetime.now(UTC) - timedelta(seconds=200)).isoformat())
    assert _invoke(tmp_path, "health", "--settings", str(path))[0] == 1
    stamp.write_text("stopped " + datetime.now(UTC).isoformat())
    code, output = _invoke(tmp_path, "health", "--settings", str(path))
    assert code == 1 and "the worker stopped at" in output


# -- 14.8 dry run


def test_a_dry_run_without_a_store_creates_no_database_and_no_health_file(tmp_path: Path) -> None:
    path = _write_settings(tmp_path)
    code, output = _invoke(tmp_path, "run", "--once", "--dry-run", "--settings", str(path))
    assert code == 0, output
    assert not (tmp_path / "var").exists()


# -- 14.6 settings


def _bad_settings(tmp: Path) -> Path:
    return _write_settings(
        tmp,
        worker={"batch_sise": 5},
        sources={
            "acme": {"type": "maildir", "pth": "maildir"},
            "support": {"type": "imap", "host": "imap.example.com", "username": "a@example.com"},
        },
    )


def test_every_settings_error_comes_at_once_with_did_you_mean_and_the_secret_names(
    tmp_path: Path,
) -> None:
    path = _bad_settings(tmp_path)
    code, output = _invoke(tmp_path, "check", "--settings", str(path))
    text = " ".join(output.split())
    assert code == 2
    assert "worker.batch_sise: unknown setting; did you mean 'batch_size'?" in text
    assert "sources.acme.pth: unknown setting; did you mean 'path'?" in text
    assert "sources.support.password: missing secret: set CRMBOT_SOURCES__SUPPORT__PASSWORD" in text
    assert "crmbot_sources__support__password" in text
    assert "settings ok" not in text and "FAILED" not in text


def test_a_mistyped_key_in_a_section_gets_the_nearest_name(tmp_path: Path) -> None:
    path = _write_settings(tmp_path, worker={"batch_sise": 5})
    code, output = _invoke(tmp_path, "run", "--once", "--settings", str(path))
    assert code == 2 and "worker.batch_sise: unknown setting; did you mean 'batch_size'?" in output


def test_the_same_settings_problem_exits_2_in_run_check_and_health(tmp_path: Path) -> None:
    path = _bad_settings(tmp_path)
    codes = {
        command: _invoke(tmp_path, command, "--settings", str(path), *extra)[0]
        for command, *extra in (("run", "--once"), ("check",))
    }
    codes["health"] = _invoke(tmp_path, "health", "--settings", str(path), CRMBOT_STORE__X="1")[0]
    assert codes == {"run": 2, "check": 2, "health": 2}


# -- 14.5 rules


def test_rules_explain_and_test_use_the_rules_dir_of_the_settings(tmp_path: Path) -> None:
    rules = tmp_path / "my-rules"
    rules.mkdir()
    (rules / "bad.yaml").write_text("version: 1\ncategorys: []\n", encoding="utf-8")
    path = _write_settings(tmp_path, rules_dir="my-rules")
    cases = tmp_path / "cases.yaml"
    cases.write_text("- input: {subject: Facture}\n  expect: {category: billing}\n")
    for args in (
        ["rules", "explain", str(LEGAL_MAIL)],
        ["rules", "test", str(cases)],
        ["rules", "check"],
    ):
        code, output = _invoke(tmp_path, *args, "--settings", str(path))
        assert code == 2, (args, output)
        assert "bad.yaml:2: categorys: unknown key" in " ".join(output.split())


def test_rules_explain_reads_without_double_negation_or_a_same_priority_escalation(
    tmp_path: Path,
) -> None:
    code, output = _invoke(
        tmp_path,
        "rules",
        "explain",
        str(LEGAL_MAIL),
        "--now",
        "2026-11-23T10:00:00+00:00",
        columns=200,
    )
    assert code == 0
    assert "not (" not in output
    assert "is not 'status_request'" in output  # why the acknowledgement fired
    assert "to: P1 (already; no change of priority)" in output  # a mise en demeure: P1
    assert '"from": "P1"' not in output
    assert "[case.updated]" in output  # a rule evaluated again in a later round says so


# -- 14.10 heartbeat


def test_a_quiet_worker_logs_a_heartbeat_with_its_counters() -> None:
    counters = {"polls": 3, "records": 0, "failing_sources": 0}
    beat = Heartbeat(300, lambda: dict(counters))
    with structlog.testing.capture_logs() as logs:
        beat.beat()
        counters["polls"] = 5
        beat.beat()
    assert [e["event"] for e in logs] == ["worker_heartbeat", "worker_heartbeat"]
    assert logs[1]["polls"] == 5 and logs[1]["polls_since_last"] == 2
    assert logs[1]["records_since_last"] == 0


# -- 14.1 quickstart


def test_make_run_sets_up_its_own_venv_without_the_dev_extra_and_make_test_with_it() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    run = subprocess.run(
        ["make", "-n", "-B", "run"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "-m venv .venv" in run
    assert "pip install" in run and "-e .\n" in run and "[dev]" not in run
    assert ".venv/bin/crmbot run --once --settings examples/crmbot.yaml" in run
    test = subprocess.run(
        ["make", "-n", "-B", "test"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "-e '.[dev]'" in test and ".venv/bin/python -m pytest" in test
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    runtime = (ROOT / "pyproject.toml").read_text().split("[project.optional-dependencies]")[0]
    for heavy in ("recordlinkage", "pandas", "scipy", "scikit-learn", "pytest", "hypothesis"):
        assert heavy not in runtime
