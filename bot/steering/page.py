"""The read-only status page at /: server-rendered HTML (Jinja2, autoescaped), no JavaScript."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from bot.steering.kpi import CLOSED, cases_due_soon, sla_state
from bot.steering.labels import label, pick_language
from bot.store import kpi as kpi_store

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
PRIORITIES = ("P1", "P2", "P3", "P4", "-")
REFRESH_SECONDS = 30
DUE_SOON_HOURS = 8.0


def throughput_svg(
    arrivals: list[datetime], closings: list[datetime], now: datetime, language: str
) -> str:
    """An inline SVG bar chart of arrivals and closings per hour over the last 24 hours."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    ins, outs = [0] * 24, [0] * 24
    for values, times in ((ins, arrivals), (outs, closings)):
        for at in times:
            index = int((at - start).total_seconds() // 3600)
            if 0 <= index < 24:
                values[index] += 1
    top = max([1, *ins, *outs])
    width, height, pad = 720, 180, 24
    slot = (width - 2 * pad) / 24
    bars: list[str] = []
    for i in range(24):
        x = pad + i * slot
        for j, (values, colour) in enumerate(((ins, "#2f6fdf"), (outs, "#2aa876"))):
            h = (height - 2 * pad) * values[i] / top
            bars.append(
                f'<rect x="{x + 2 + j * (slot / 2 - 2):.1f}" y="{height - pad - h:.1f}" '
                f'width="{slot / 2 - 3:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{(start + timedelta(hours=i)):%H:00}: {values[i]}</title></rect>"
            )
        if i % 3 == 0:
            hour = (start + timedelta(hours=i)).strftime("%H")
            bars.append(
                f'<text x="{x + slot / 2:.1f}" y="{height - 6}" font-size="10" '
                f'text-anchor="middle" fill="#555">{hour}h</text>'
            )
    legend = (
        f'<rect x="{pad}" y="4" width="10" height="10" fill="#2f6fdf"/>'
        f'<text x="{pad + 14}" y="13" font-size="11">{escape(label("in", language))}</text>'
        f'<rect x="{pad + 90}" y="4" width="10" height="10" fill="#2aa876"/>'
        f'<text x="{pad + 104}" y="13" font-size="11">{escape(label("out", language))}</text>'
        f'<text x="{width - pad}" y="13" font-size="11" text-anchor="end">max {top}</text>'
    )
    axis = (
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        f'stroke="#999"/>'
    )
    name = escape(label("throughput", language))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{name}">'
        f"{legend}{axis}{''.join(bars)}</svg>"
    )


def status_data(steering: Any, now: datetime) -> dict[str, Any]:
    """Everything the page shows, read from the store at `now`."""
    settings = steering.settings
    at_risk = timedelta(hours=settings.steering.at_risk_hours)
    rules = steering.rules() if steering.rules is not None else None
    zone = rules.calendar().zone if rules is not None else None
    local_now = now.astimezone(zone) if zone else now
    today = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    with steering.store.connect() as conn:
        open_cases = kpi_store.open_cases(conn)
        recent = kpi_store.requests_received(conn, now - timedelta(hours=24))
        closed = kpi_store.cases_closed_since(conn, min(today, now - timedelta(hours=24)))
        chased = kpi_store.most_chased_contacts(conn, now - timedelta(days=7), limit=8)
        sources = {s["source"]: s for s in kpi_store.source_health(conn)}
    backlog: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(PRIORITIES, 0))
    for case in open_cases:
        backlog[case["category"] or "-"][case["priority"] or "-"] += 1
    breaches_today = 0
    for case in open_cases:
        dues = [
            d
            for d in (
                None if case.get("first_response_at") else case["first_response_due"],
                case["resolution_due"],
            )
            if d is not None
        ]
        if dues and today <= min(dues) <= now:
            breaches_today += 1
    for case in closed:
        if case["last_request_at"] >= today and sla_state(case, now, at_risk) == "breached":
            breaches_today += 1
    health = []
    for name in sorted(set(steering.intervals) | set(sources)):
        state = sources.get(name) or {}
        health.append(
            {
                "source": name,
                "ok": state.get("failing_since") is None and state.get("polled_at") is not None,
                "polled_at": state.get("polled_at"),
                "failing_since": state.get("failing_since"),
            }
        )
    forecast = None
    try:
        from bot.steering.forecast import current_forecast

        forecast = current_forecast(steering, now=now, open_cases=open_cases)
    except ImportError:
        forecast = None
    return {
        "now": now,
        "backlog": dict(sorted(backlog.items())),
        "backlog_total": len(open_cases),
        "due_soon": cases_due_soon(open_cases, now, DUE_SOON_HOURS)[:12],
        "breaches_today": breaches_today,
        "sources": health,
        "arrivals": [r["received_at"] for r in recent],
        "closings": [c["last_request_at"] for c in closed if c["status"] in CLOSED],
        "chased": chased,
        "forecast": forecast,
    }


def render_status_page(steering: Any, lang: str | None, accept_language: str | None) -> str:
    """The status page's HTML in French or English (?lang=, then Accept-Language)."""
    language = pick_language(lang, accept_language, steering.settings.steering.language)
    now = steering.clock()
    data = status_data(steering, now)
    svg = throughput_svg(data["arrivals"], data["closings"], now, language)
    return _ENV.get_template("status.html.j2").render(
        **data,
        language=language,
        t=lambda key: label(key, language),
        priorities=PRIORITIES,
        refresh=REFRESH_SECONDS,
        throughput_svg=Markup(svg),  # built here from numbers and escaped labels only
        fmt=lambda at: at.strftime("%Y-%m-%d %H:%M") if at else "-",
    )
