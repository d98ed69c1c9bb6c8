"""Fixtures shared by the test suite."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.dovecot import DovecotServer, find_dovecot, free_port


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    """A running Dovecot with an empty mailbox on a free loopback port, removed afterwards."""
    binary = find_dovecot()
    if binary is None:
        message = "the dovecot binary is missing: apt-get install dovecot-imapd"
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    # Not pytest's tmp_path: its parents are 0700 and the dovecot user must reach the mail.
    root = Path(tempfile.mkdtemp(prefix="crmbot-dovecot-"))
    server = DovecotServer(root, free_port(), binary=binary)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty store, once on SQLite and once on PostgreSQL."""
    from tests.helpers.stores import store_url as make_url

    with make_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[object]:
    """A migrated, empty store on SQLite and on PostgreSQL."""
    from bot.store import open_store

    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.dispose()


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """Each test starts with structlog's defaults (a CLI test may have set a level)."""
    import structlog

    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture(autouse=True)
def _no_crmbot_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests see only the settings they give: no CRMBOT_* variable, no mounted secret."""
    for key in list(os.environ):
        if key.startswith("CRMBOT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CRMBOT_SECRETS_DIR", str(tmp_path / "no-secrets"))
