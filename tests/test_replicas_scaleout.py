"""Scale-out on PostgreSQL (issue 8.7): replicas started together, and leases kept alive.

Real processes (`python -m bot.cli`) on a private schema of the local PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select, text

from bot.store import open_store
from bot.store.schema import source_cursors
from tests.fakes.hubspot import FakeHubSpot
from tests.helpers.mail import make_maildir
from tests.helpers.runtime import maildir_worker, make_settings
from tests.helpers.stores import postgres_schema_url

pytestmark = pytest.mark.postgres
WAIT = 120.0  # an upper bound for a process to come up or a hand-off, not a measured time


def _settings_file(tmp_path: Path, name: str, url: str, **extra: Any) -> Path:
    path = tmp_path / f"{name}.yaml"
    values: dict[str, Any] = {
        "store": {"url": url},
        "log": {"format": "json", "level": "info"},
        "http": {"port": 0},  # a port of its own: replicas side by side
        "sources": {"inbox": {"type": "maildir", "path": str(make_maildir(tmp_path / name))}},
    }
    for key, value in extra.items():
        values.setdefault(key, {}).update(value)
    path.write_text(yaml.safe_dump(values))
    return path


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", *args]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "CRMBOT_SECRETS_DIR": str(tmp_path / "none")}


def _events(stderr: str) -> list[str]:
    out = []
    for line in stderr.splitlines():
        try:
            out.append(json.loads(line)["event"])
        except (ValueError, KeyError, TypeError):
            continue
    return out


def _head() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from bot.store.engine import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def test_three_replicas_started_together_on_an_empty_schema_all_come_up(
    tmp_path: Path,
) -> None:
    with postgres_schema_url() as url:
        procs = [
            subprocess.Popen(
                _cli("run", "--once", "--settings", str(_settings_file(tmp_path, f"r{n}", url))),
                env=_env(tmp_path),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(3)
        ]
        outputs = [p.communicate(timeout=WAIT)[1] for p in procs]
        for proc, err in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err[-3000:]
            assert "Traceback" not in err and "IntegrityError" not in err, err[-3000:]
        migrated = sum(_events(err).count("store_migrated") for err in outputs)
        assert migrated == 1
        store = open_store(url, run_migrations=False)
        try:
            with store.connect() as conn:
                versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        finally:
            store.dispose()
        assert [v[0] for v in versions] == [_head()]


def test_a_replica_without_auto_migrate_waits_for_db_upgrade(tmp_path: Path) -> None:
    with postgres_schema_url() as url:
        waiting = subprocess.Popen(
            _cli(
                "run",
                "--once",
                "--settings",
                str(_settings_file(tmp_path, "replica", url, store={"auto_migrate": False})),
            ),
            env=_env(tmp_path),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + WAIT
            line = ""
            while "store_schema_waiting" not in line:  # it waits instead of racing
                assert time.monotonic() < deadline and waiting.poll() is None
                line = waiting.stderr.readline()  # type: ignore[union-attr]
            upgrade = subprocess.run(
                _cli("db", "upgrade", "--settings", str(_settings_file(tmp_path, "admin", url))),
                env=_env(tmp_path),
                capture_output=True,
                text=True,
                timeout=WAIT,
            )
            assert upgrade.returncode == 0, upgrade.stderr[-3000:]
            assert "upgraded to" in upgrade.stdout
            _, err = waiting.communicate(timeout=WAIT)
            assert waiting.returncode == 0, err[-3000:]
            assert "store_schema_ready" in _events(err)
            again = subprocess.run(
                _cli("db", "upgrade", "--settings", str(_settings_file(tmp_path, "admin", url))),
                env=_env(tmp_path),
                capture_output=True,
                text=True,
                timeout=WAIT,
            )
            assert again.returncode == 0 and "already at" in again.stdout
        finally:
            if waiting.poll() is None:
                waiting.kill()


class SlowHubSpot(FakeHubSpot):
    """A HubSpot whose answers wait until the test releases them (a long poll)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.release = threading.Event()
        self.waiting = threading.Event()

    def handle(self, method: str, path: str, *args: Any) -> Any:
        """Hold every request until released (at most WAIT seconds)."""
        self.waiting.set()
        self.release.wait(WAIT)
        return super().handle(method, path, *args)


def _lease(store: Any) -> tuple[str | None, Any]:
    with store.connect() as conn:
        row = conn.execute(
            select(source_cursors.c.lease_owner, source_cursors.c.lease_until).where(
                source_cursors.c.source == "crm"
            )
        ).first()
    return (row[0], row[1]) if row else (None, None)


def test_a_long_poll_keeps_its_lease_and_a_killed_replica_hands_the_source_over(
    tmp_path: Path,
) -> None:
    lease_seconds = 1.0
    with postgres_schema_url() as url, SlowHubSpot(search_lag=0.0) as crm:
        crm_conf = {
            "type": "hubspot",
            "base_url": crm.url,
            "token": crm.token,
            "search_lag_seconds": 0,
            "interval_seconds": 1,
        }
        path = tmp_path / "a.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "store": {"url": url},
                    "log": {"format": "json", "level": "warning"},
                    "http": {"port": 0},  # a port of its own: replicas side by side
                    "worker": {"instance_id": "replica-a", "lease_seconds": lease_seconds},
                    "sources": {"crm": crm_conf},
                }
            )
        )
        replica_a = subprocess.Popen(
            _cli("run", "--settings", str(path)),
            env=_env(tmp_path),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        store = None
        try:
            assert crm.waiting.wait(WAIT), "replica A never polled the CRM"
            store = open_store(url, run_migrations=False)
            assert _lease(store)[0] == "replica-a"
            time.sleep(4 * lease_seconds)  # a poll far longer than the lease
            owner, until = _lease(store)
            with store.connect() as conn:
                now = conn.execute(text("SELECT now()")).scalar()
            assert owner == "replica-a" and until > now, "the lease ran out during the poll"
            replica_a.kill()  # kill -9 mid-poll: no release, no more renewals
            replica_a.wait(timeout=WAIT)
            crm.release.set()
            settings_b = make_settings(
                url,
                {"crm": crm_conf},
                worker={"instance_id": "replica-b", "lease_seconds": lease_seconds},
            )
            replica_b = maildir_worker(settings_b, store)
            killed_at = time.monotonic()
            deadline = killed_at + WAIT
            while replica_b.sources["crm"].health.polls == 0:
                assert time.monotonic() < deadline, "replica B never got the source"
                replica_b.poll_source("crm")
                time.sleep(0.1)
            print(
                f"replica B polled the source {time.monotonic() - killed_at:.1f} s after the kill"
            )
            replica_b.close()
        finally:
            crm.release.set()
            if replica_a.poll() is None:
                replica_a.kill()
            if store is not None:
                store.dispose()
