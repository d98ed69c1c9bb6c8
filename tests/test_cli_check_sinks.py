"""`crmbot check` connects to each configured sink: a wrong password fails, naming the sink."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bot.cli import app
from tests.servers.smtp import PASSWORD, USERNAME, running_smtp


def _settings(tmp_path: Path, sinks: dict[str, Any]) -> Path:
    path = tmp_path / "crmbot.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "store": {"url": f"sqlite:///{tmp_path / 'crmbot.db'}"},
                "log": {"format": "json", "level": "warning"},
                "sinks": sinks,
            }
        )
    )
    return path


def _smtp(port: int, password: str) -> dict[str, Any]:
    return {
        "type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "security": "plain",
        "username": USERNAME,
        "password": password,
        "from_address": "support@acme-energie.fr",
        "timeout_seconds": 5,
    }


def _check(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["check", "--settings", str(path)])
    return result.exit_code, result.output


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")


def test_check_logs_in_to_the_smtp_sink_and_fails_on_a_wrong_password(tmp_path: Path) -> None:
    with running_smtp() as server:
        code, output = _check(_settings(tmp_path, {"mail": _smtp(server.port, PASSWORD)}))
        assert code == 0, output
        assert "sink mail" in output and f"logged in as {USERNAME}" in output

        code, output = _check(_settings(tmp_path, {"mail": _smtp(server.port, "wrong-pass")}))
    assert code == 1
    assert "sink mail" in output and "FAILED" in output and "AuthError" in output
    assert "wrong-pass" not in output


def test_check_fails_when_the_smtp_server_cannot_be_reached(tmp_path: Path) -> None:
    server = running_smtp()
    with server as started:
        port = started.port
    code, output = _check(_settings(tmp_path, {"mail": _smtp(port, PASSWORD)}))
    assert code == 1 and "sink mail" in output and "cannot be reached" in output
