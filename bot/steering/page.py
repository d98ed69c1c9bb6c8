"""The read-only status page at /: server-rendered HTML (Jinja2, autoescaped), no JavaScript."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

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


Times = Iterable[datetime | tuple[datetime, int]]


def throughput_svg(arrivals: Times, closings: Times, now: datetime, language: str) -> str:
    """An inline SVG bar chart of arrivals and closings per hour over the last 24 hours,
    from times or (hour, count) pairs."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    ins, outs = [0] * 24, [0] * 24
    for values, times in ((ins, arrivals), (outs, closings)):
        for item in times:
            at, n = item if isinstance(item, tuple) else (item, 1)
            index = int((at - start).total_seconds() // 3600)
            if 0 <= index < 24:
                values[index] += n
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


def start_of_day(steering: Any, now: datetime) -> datetime:
    """Midnight of `now`'s day in the business calendar's zone (UTC without rules)."""
    rules = steering.rules() if steering.rules is not None else None
    zone = rules.calendar().zone if rules is not None else None
    local_now = now.astimezone(zone) if zone else now
    return local_now.replace(hour=0, minute=0, second=0, microsecond=0)


def status_data(steering: Any, now: datetime) -> dict[str, Any]:
    """Everything the page shows, read from the store at `now`: sums and a few rows, never
    every case (the open backlog's summary is shared with /metrics for a few seconds)."""
    today = start_of_day(steering, now)
    summary = steering.summary()
    chart_start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    with steering.store.connect() as conn:
        arrivals = kpi_store.per_hour(conn, "arrivals", chart_start)
        closings = kpi_store.per_hour(conn, "closings", chart_start)
        closed_breached = kpi_store.closed_breached_since(conn, today)
        due_soon = kpi_store.due_soon(conn, now, now + timedelta(hours=DUE_SOON_HOURS), 12)
        chased = kpi_store.most_chased_contacts(conn, now - timedelta(days=7), limit=8)
        sources = {s["source"]: s for s in kpi_store.source_health(conn)}
    backlog: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(PRIORITIES, 0))
    for row in summary["backlog"]:
        backlog[row["category"] or "-"][row["priority"] or "-"] += row["n"]
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

        forecast = current_forecast(steering, now=now)
    except ImportError:
        forecast = None
    return {
        "now": now,
        "backlog": dict(sorted(backlog.items())),
        "backlog_total": summary["total"],
        "due_soon": due_soon,
        "breaches_today": summary["fell_due"] + closed_breached,
        "sources": health,
        "arrivals": arrivals,
        "closings": closings,
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
