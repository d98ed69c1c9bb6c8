"""The worker's HTTP endpoint: liveness, readiness, Prometheus metrics (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import rules_provider
from bot.settings import Settings
from bot.steering.http import Steering, SteeringServer
from bot.store import Store
from bot.store import cursors as cursor_store
from bot.store import outbox as outbox_store
from bot.store.rows import create_contact
from tests.helpers.runtime import make_settings
from tests.helpers.steering import CaseSpec, seed
from tests.servers.dovecot import free_port

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def serve(store: Store, store_url: str) -> Iterator[Any]:
    servers: list[SteeringServer] = []

    def start(intervals: dict[str, float], **kw: Any) -> SteeringServer:
        settings = make_settings(store_url, {})
        steering = Steering(
            store=store,
            rules=kw.pop("rules", rules_provider(settings)),
            intervals=intervals,
            settings=settings,
            **kw,
        )
        server = SteeringServer(steering, "127.0.0.1", 0).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_healthz_answers_alive(serve: Any) -> None:
    server = serve({})
    assert _get(server.url + "/healthz") == (200, json.dumps({"status": "alive"}))


def test_readyz_waits_for_every_source_to_have_polled_within_three_intervals(
    serve: Any, store: Store
) -> None:
    server = serve({"mail": 30.0, "crm": 30.0})
    status, body = _get(server.url + "/readyz")
    assert status == 503
    assert json.loads(body)["sources"] == {"crm": "never polled", "mail": "never polled"}
    with store.begin() as conn:
        cursor_store.record_health(conn, "mail", None)
        cursor_store.record_health(conn, "crm", None)
    status, body = _get(server.url + "/readyz")
    assert status == 200, body
    assert json.loads(body) == {
        "ready": True,
        "store": "ok",
        "rules": "ok",
        "sources": {"crm": "ok", "mail": "ok"},
    }


def test_readyz_is_not_ready_without_rules(serve: Any) -> None:
    def broken() -> Any:
        raise RuntimeError("rules failed to load")

    status, body = _get(serve({}, rules=broken).url + "/readyz")
    assert status == 503 and json.loads(body)["rules"] == "not loaded: RuntimeError"


def _metrics(url: str) -> tuple[dict[str, list[Any]], str]:
    status, text = _get(url + "/metrics")
    assert status == 200
    return {f.name: f.samples for f in text_string_to_metric_families(text)}, text


def test_metrics_report_cases_sla_outbox_and_latency_without_personal_data(
    serve: Any, store: Store
) -> None:
    now = datetime.now(UTC)
    with store.begin() as conn:
        contact = create_contact(conn, email="jeanne.martin@example.fr", name="Jeanne Martin")
        seed(
            conn,
            [
                CaseSpec(
                    now - timedelta(hours=2),
                    first_response_due=now - timedelta(minutes=100),  # answered 10 min late
                    replied_at=now - timedelta(minutes=90),
                    follow_ups=2,
                    contact_id=contact["id"],
                ),
                CaseSpec(
                    now - timedelta(hours=1),
                    category="complaint",
                    priority="P1",
                    source="crm",
                    first_response_due=now + timedelta(hours=1),
                    duplicates=1,
                ),
            ],
        )
        outbox_store.enqueue(
            conn, idempotency_key="k1", sink="hubspot", action="set_field", payload={}, case_id=None
        )
    server = serve({})
    families, text = _metrics(server.url)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f
    }
    assert samples[("crmbot_requests_total", (("source", "mail"),))] == 3
    assert samples[("crmbot_requests_total", (("source", "crm"),))] == 2
    key = (("category", "complaint"), ("priority", "P1"), ("status", "new"))
    assert samples[("crmbot_cases", key)] == 1
    assert samples[("crmbot_follow_ups_total", ())] == 2
    assert samples[("crmbot_duplicates_total", ())] == 1
    assert samples[("crmbot_sla_open_cases", (("state", "breached"),))] == 1
    assert samples[("crmbot_sla_open_cases", (("state", "at_risk"),))] == 1
    assert samples[("crmbot_outbox_depth", (("state", "pending"),))] == 1
    assert samples[("crmbot_outbox_depth", (("state", "done"),))] == 1
    assert samples[("crmbot_automations_total", (("action", "send_reply"), ("sink", "smtp")))] == 1
    # the reply went out 30 minutes after arrival: in the 1 h bucket, not the 15 min one
    assert samples[("crmbot_write_back_latency_seconds_bucket", (("le", "900.0"),))] == 0
    assert samples[("crmbot_write_back_latency_seconds_bucket", (("le", "3600.0"),))] == 1
    assert "jeanne" not in text.lower() and "@" not in text
    # the forecast: the open complaint due in an hour, and no closing measured (capacity 0)
    assert samples[("crmbot_forecast_capacity_per_hour", ())] == 0
    assert samples[("crmbot_forecast_breaches", ())] == 1
    status, body = _get(server.url + "/forecast.json")
    assert status == 200 and json.loads(body)["breach_cases"] == 1
    # a second scrape does not count the same action twice
    families, _ = _metrics(server.url)
    counts = [s for s in families["crmbot_write_back_latency_seconds"] if s.name.endswith("_count")]
    assert counts[0].value == 1


def test_http_listens_on_loopback_unless_told_otherwise() -> None:
    assert Settings().http.host == "127.0.0.1"


@pytest.mark.slow
def test_crmbot_run_serves_readiness_once_the_maildir_is_polled(tmp_path: Path) -> None:
    maildir = tmp_path / "maildir"
    shutil.copytree(EXAMPLES / "maildir", maildir)
    port = free_port()
    settings_file = tmp_path / "crmbot.yaml"
    settings_file.write_text(
        f"store: {{url: 'sqlite:///{tmp_path / 'crmbot.db'}'}}\n"
        f"http: {{port: {port}}}\n"
        f"log: {{format: json}}\n"
        f"sources:\n  acme: {{type: maildir, path: '{maildir}', interval_seconds: 1}}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--settings", str(settings_file)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        status = 0
        while time.monotonic() < deadline:
            try:
                status, _ = _get(f"http://127.0.0.1:{port}/readyz")
            except OSError:
                status = 0
            if status == 200:
                break
            time.sleep(0.3)
        assert status == 200
        _, text = _get(f"http://127.0.0.1:{port}/metrics")
        line = next(x for x in text.splitlines() if x.startswith("crmbot_requests_total{"))
        assert line.startswith('crmbot_requests_total{source="acme"} ')
        assert float(line.split()[-1]) >= 37  # every example message stored
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_the_page_data_is_read_once_at_start_so_the_first_visitor_does_not_wait(
    serve: Any, store: Store
) -> None:
    with store.begin() as conn:
        seed(conn, [CaseSpec(datetime.now(UTC) - timedelta(hours=2))])
    server = serve({})
    deadline = time.monotonic() + 30
    while server.steering.summary_cache.computed == 0 and time.monotonic() < deadline:
        time.sleep(0.05)  # nobody asked for the page: the warm-up reads it
    assert server.steering.summary_cache.computed >= 1
    status, _ = _get(server.url + "/")
    assert status == 200
