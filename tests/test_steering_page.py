"""The status page at /: real data from the pipeline, rendered in a real headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from bot.app import rules_provider
from bot.steering.http import Steering, SteeringServer
from bot.steering.page import throughput_svg
from bot.store import Store
from bot.store.rows import create_contact
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings
from tests.helpers.steering import CaseSpec, seed
from tests.helpers.stores import in_ci

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        message = "chromium is missing: apt-get install chromium"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return binary


def _chromium_run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, timeout=120, check=True)


@pytest.fixture
def page_server(store: Store, store_url: str, tmp_path: Path) -> Iterator[SteeringServer]:
    """The endpoint over a store the pipeline filled from the example Maildir."""
    maildir = tmp_path / "maildir"
    shutil.copytree(EXAMPLES / "maildir", maildir)
    settings = make_settings(store_url, {"acme": maildir_source(maildir)})
    rules = rules_provider(settings)
    assert maildir_worker(settings, store, rules=rules).run_once() == 37
    now = datetime.now(UTC)
    with store.begin() as conn:  # and a day of traffic, so that the chart has bars
        seed(
            conn,
            [
                CaseSpec(
                    now - timedelta(minutes=37 * i),
                    status="closed" if i % 3 == 0 else "new",
                    closed_at=now - timedelta(minutes=20 * i) if i % 3 == 0 else None,
                    first_response_due=now + timedelta(hours=i % 7 - 1),
                    priority=f"P{1 + i % 4}",
                    source="acme",
                )
                for i in range(1, 38)
            ],
        )
    steering = Steering(store=store, rules=rules, intervals={"acme": 1.0}, settings=settings)
    server = SteeringServer(steering, "127.0.0.1", 0).start()
    try:
        yield server
    finally:
        server.stop()


def test_status_page_renders_in_headless_chromium_with_real_data(
    page_server: SteeringServer, tmp_path: Path
) -> None:
    shot = tmp_path / "status.png"
    _chromium_run(
        f"--screenshot={shot}",
        "--window-size=1280,1400",
        page_server.url + "/?lang=en",
        tmp_path=tmp_path,
    )
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20) or []
        assert rgb.size == (1280, 1400)
    # a blank or error page has a handful of colours; the status page has text, bars, tables
    assert len(colours) > 200
    biggest = max(count for count, _ in colours)
    assert biggest < 0.8 * 1280 * 1400  # no single colour covers the page
    dom = _chromium_run("--dump-dom", page_server.url + "/?lang=fr", tmp_path=tmp_path)
    html = dom.stdout.decode()
    assert "Stock par catégorie et priorité — " in html
    assert "Dépasseront dans les prochaines heures" in html
    assert "<svg" in html and "<rect" in html
    assert 'http-equiv="refresh"' in html


def _fetch(url: str, **headers: str) -> str:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        return response.read().decode()


def test_status_page_language_follows_lang_then_accept_language(
    page_server: SteeringServer,
) -> None:
    assert "Santé des sources" in _fetch(
        page_server.url + "/", **{"Accept-Language": "fr-FR,fr;q=0.9"}
    )
    assert "Source health" in _fetch(page_server.url + "/", **{"Accept-Language": "en-GB"})
    assert "Source health" in _fetch(page_server.url + "/?lang=en", **{"Accept-Language": "fr"})


def test_status_page_escapes_customer_names(
    store: Store, store_url: str, page_server: SteeringServer
) -> None:
    with store.begin() as conn:
        contact = create_contact(conn, email="x@example.test", name="<script>alert(1)</script>")
        seed(conn, [CaseSpec(datetime.now(UTC), follow_ups=9, contact_id=contact["id"])])
    html = _fetch(page_server.url + "/?lang=en")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html


def test_throughput_chart_counts_arrivals_and_closings_per_hour() -> None:
    now = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
    arrivals = [now - timedelta(minutes=m) for m in (1, 5, 10, 70)]
    closings = [now - timedelta(minutes=2), now - timedelta(hours=30)]  # the 2nd is too old
    svg = throughput_svg(arrivals, closings, now, "en")
    assert "<title>15:00: 3</title>" in svg  # three arrivals in the 15:00 hour
    assert "<title>14:00: 1</title>" in svg
    assert svg.count("<rect") == 2 + 48  # legend + two bars per hour
    assert svg.count(": 1</title>") == 2  # one arrival at 14:00, one closing at 15:00
