"""`crmbot report` and `crmbot forecast`: the steering indicators on the command line."""

from __future__ import annotations

import csv
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from bot.errors import ConfigError, CrmbotError
from bot.steering.labels import label

SettingsOption = Annotated[
    Path | None,
    typer.Option("--settings", "-s", help="YAML or TOML settings file (or CRMBOT_SETTINGS_FILE)."),
]
_RELATIVE = re.compile(r"^(\d+)\s*([hdw])$")


def parse_since(text: str, now: datetime) -> datetime:
    """'7d', '12h', '2w' before now, or an ISO date/time (UTC when no zone is given)."""
    match = _RELATIVE.match(text.strip().lower())
    if match:
        unit = {"h": "hours", "d": "days", "w": "weeks"}[match.group(2)]
        return now - timedelta(**{unit: int(match.group(1))})
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ConfigError(f"--since: '7d', '12h', '2w' or an ISO date, not {text!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _context(settings_file: Path | None) -> tuple[Any, Any, Any]:
    """(settings, store, rules) for a read-only steering command."""
    from bot.app import rules_provider
    from bot.cli import _fail, _open_store, _settings

    try:
        settings = _settings(settings_file)
        rules = rules_provider(settings)()
    except CrmbotError as exc:
        raise _fail(exc) from exc
    return settings, _open_store(settings_file), rules


def _table(title: str, rows: list[dict[str, Any]], language: str) -> Table:
    table = Table(title=title)
    keys = list(rows[0]) if rows else []
    for key in keys:
        table.add_column(label(key, language), overflow="fold")
    for row in rows:
        table.add_row(*("-" if row[k] is None else str(row[k]) for k in keys))
    return table


def _write_csv(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)


_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "volumes",
        (
            "requests_in",
            "cases_opened",
            "cases_closed",
            "duplicates_absorbed",
            "chases_per_case",
            "share_chased",
            "automation_rate",
        ),
    ),
    (
        "times",
        (
            "first_response_median_h",
            "first_response_p90_h",
            "first_response_median_bh",
            "first_response_p90_bh",
            "resolution_median_h",
            "resolution_p90_h",
            "resolution_median_bh",
            "resolution_p90_bh",
        ),
    ),
    ("sla", ("sla_met", "sla_breached", "sla_at_risk", "sla_compliance")),
)


def report(
    settings_file: SettingsOption = None,
    since: Annotated[str, typer.Option("--since", help="'7d', '12h', '2w' or an ISO date.")] = "7d",
    by: Annotated[
        str | None, typer.Option("--by", help="category | priority | source | language")
    ] = None,
    period: Annotated[str, typer.Option("--period", help="day | week")] = "day",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV of the flow rows.")] = False,
    team: Annotated[
        bool, typer.Option("--team", help="Compare the in-house and the outsourced team.")
    ] = False,
) -> None:
    """KPIs: volumes, backlog, response and resolution times, SLA, chases, automation."""
    by = "team" if team else by
    from bot.cli import _fail, _print_json, out
    from bot.steering.kpi import DIMENSIONS, compute_kpis

    if by is not None and by not in DIMENSIONS:
        raise _fail(ConfigError(f"--by: one of {', '.join(DIMENSIONS)}, not {by!r}"))
    if period not in ("day", "week"):
        raise _fail(ConfigError(f"--period: day or week, not {period!r}"))
    now = datetime.now(UTC)
    try:
        start = parse_since(since, now)
    except ConfigError as exc:
        raise _fail(exc) from exc
    settings, store, rules = _context(settings_file)
    try:
        with store.connect() as conn:
            result = compute_kpis(
                conn,
                since=start,
                now=now,
                calendar=rules.calendar(),
                by=by,
                period=period,  # type: ignore[arg-type]
                at_risk_hours=settings.steering.at_risk_hours,
                team=settings.overflow.team,
            )
    finally:
        store.dispose()
    if as_json:
        _print_json(result.to_dict())
        return
    if as_csv:
        _write_csv(result.rows)
        return
    language = settings.steering.language
    for title, keys in _SECTIONS:
        rows = [{k: row[k] for k in ("period", "group", *keys)} for row in result.rows]
        out.print(
            _table(f"{label('flow_title', language)}: {label(title, language)}", rows, language)
        )
    out.print(_table(label("backlog_title", language), result.backlog, language))


def forecast(
    settings_file: SettingsOption = None,
    hours: Annotated[
        int | None, typer.Option("--hours", help="Business hours ahead (steering.horizon_hours).")
    ] = None,
    agents: Annotated[
        float | None,
        typer.Option("--agents", help="Agents per business hour (else steering.agents_per_hour)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON.")] = False,
) -> None:
    """Load forecast: work due per business hour ahead, and the cases that will breach."""
    from bot.cli import _print_json, out
    from bot.steering.forecast import forecast_from_store

    settings, store, rules = _context(settings_file)
    steering = settings.steering.model_copy(
        update={
            k: v
            for k, v in {"horizon_hours": hours, "agents_per_hour": agents}.items()
            if v is not None
        }
    )
    try:
        with store.connect() as conn:
            result = forecast_from_store(
                conn, now=datetime.now(UTC), calendar=rules.calendar(), steering_settings=steering
            )
    finally:
        store.dispose()
    if as_json:
        _print_json(result.to_dict())
        return
    language = settings.steering.language
    hours_rows = [
        {
            "hour": h.start.astimezone(rules.calendar().zone).strftime("%a %Y-%m-%d %H:%M"),
            "arrivals": round(h.arrivals, 1),
            "work_due": h.work_due,
            "capacity": round(h.capacity, 1),
            "queue": round(h.queue, 1),
            "breaches": h.breaches,
        }
        for h in result.hours
    ]
    title = (
        f"{label('forecast', language)} — {label('capacity', language)}"
        f" {result.capacity_per_hour:.2f}/h ({result.capacity_source})"
    )
    out.print(_table(title, hours_rows, language))
    breach_rows = [
        {
            "reference": b["reference"],
            "category": b["category"],
            "priority": b["priority"],
            "due_at": b["due_at"].strftime("%Y-%m-%d %H:%M"),
        }
        for b in result.breaches
    ]
    out.print(_table(label("predicted_breaches", language), breach_rows, language))
    if not breach_rows:
        out.print(label("none", language))


def replay(
    rules_dir: Annotated[
        Path, typer.Option("--rules", help="The changed rule pack (a directory).")
    ],
    settings_file: SettingsOption = None,
    since: Annotated[
        str | None, typer.Option("--since", help="'7d', '12h', '2w' or an ISO date.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many requests.")] = 10_000,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON.")] = False,
) -> None:
    """Shadow mode: re-decide stored requests with a changed rule pack; print what changes."""
    from bot.cli import _fail, _print_json, out
    from bot.steering.replay import replay as run_replay
    from rules.engine import load_ruleset
    from rules.loader import RulesError

    try:
        candidate = load_ruleset(rules_dir)
    except RulesError as exc:
        raise _fail(exc, 1) from exc
    now = datetime.now(UTC)
    try:
        start = parse_since(since, now) if since else None
    except ConfigError as exc:
        raise _fail(exc) from exc
    _, store, baseline = _context(settings_file)
    try:
        with store.connect() as conn:  # read-only: nothing is stored, nothing performed
            result = run_replay(conn, baseline, candidate, since=start, limit=limit)
    finally:
        store.dispose()
    if as_json:
        _print_json(result.to_dict())
        return
    table = Table(title=f"replay: {result.replayed} requests, {len(result.changes)} would change")
    for column in ("case", "request", "event", "field", "now", "with the new rules"):
        table.add_column(column, overflow="fold")
    for change in result.changes:
        for name, (old, new) in change["changes"].items():
            table.add_row(
                change["case"],
                str(change["request_id"]),
                change["event"],
                name,
                ", ".join(old) if isinstance(old, list) else str(old),
                ", ".join(new) if isinstance(new, list) else str(new),
            )
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add the steering commands to the `crmbot` application."""
    app.command("report")(report)
    app.command("forecast")(forecast)
    app.command("replay")(replay)
