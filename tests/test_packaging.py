"""What a connector author installs: the runtime without pytest, the contract kit with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_WITHOUT_PYTEST = "import sys; sys.modules['pytest'] = None; "


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_PYTEST + code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_the_runtime_and_every_connector_import_without_pytest() -> None:
    code = "import bot.cli, bot.worker, connectors.kit; from bot.registry import build_sink"
    done = _run(code)
    assert done.returncode == 0, done.stderr


def test_the_contract_kit_without_pytest_says_which_extra_to_install() -> None:
    done = _run("import connectors.kit.contract")
    assert done.returncode != 0
    assert "crmbot[testing]" in done.stderr


def test_the_packages_declare_their_type_hints() -> None:
    for package in ("bot", "connectors", "rules"):
        assert (ROOT / package / "py.typed").is_file()
