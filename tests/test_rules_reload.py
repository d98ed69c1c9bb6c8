"""Hot reload: a valid change is swapped in, an invalid one keeps the previous rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from rules import RulesError
from rules.reload import RulesWatcher

GOOD = """\
categories:
  - id: billing
    label: {fr: facturation}
    signals: [{terms: [facture]}]
"""
GOOD_TWO = (
    GOOD
    + """\
  - id: complaint
    label: {fr: réclamation}
    signals: [{terms: [plainte]}]
"""
)


def write(path: Path, text: str, bump: int) -> None:
    path.write_text(text, encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))


def test_valid_change_is_swapped_in_and_logged(tmp_path: Path) -> None:
    file = tmp_path / "rules.yaml"
    write(file, GOOD, 0)
    watcher = RulesWatcher(tmp_path)
    first = watcher.current()
    assert watcher.current() is first
    write(file, GOOD_TWO, 5)
    with capture_logs() as logs:
        second = watcher.current()
    assert second is not first
    assert "complaint" in second.category_ids
    assert [entry["event"] for entry in logs] == ["rules_reloaded"]


def test_invalid_change_keeps_previous_rules_and_logs_once(tmp_path: Path) -> None:
    file = tmp_path / "rules.yaml"
    write(file, GOOD, 0)
    watcher = RulesWatcher(tmp_path)
    first = watcher.current()
    write(file, GOOD + "  - id: x\n    lable: {fr: x}\n", 5)
    with capture_logs() as logs:
        assert watcher.current() is first
        assert watcher.current() is first
        assert watcher.current() is first
    failures = [entry for entry in logs if entry["event"] == "rules_reload_failed"]
    assert len(failures) == 1
    assert "lable" in failures[0]["error"] and "rules.yaml:6" in failures[0]["error"]
    assert watcher.last_error is not None
    write(file, GOOD_TWO, 10)
    with capture_logs() as logs:
        assert "complaint" in watcher.current().category_ids
    assert [entry["event"] for entry in logs] == ["rules_reloaded"]


def test_a_new_file_in_the_directory_is_noticed(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", GOOD, 0)
    watcher = RulesWatcher(tmp_path)
    first = watcher.current()
    write(tmp_path / "b.yaml", "categories:\n  - id: other2\n    label: {fr: autre}\n", 0)
    assert "other2" in watcher.current().category_ids
    assert watcher.current() is not first


def test_invalid_rules_at_start_up_raise(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "categorys: []\n", 0)
    with pytest.raises(RulesError, match="did you mean 'categories'"):
        RulesWatcher(tmp_path).current()


def test_default_pack_when_no_path() -> None:
    assert "billing" in RulesWatcher(None).current().category_ids
