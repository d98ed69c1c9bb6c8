"""`crmbot rules …`: check a pack, explain a decision, run admins' test cases, export the schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rules.decision import Decision
from rules.engine import RuleSet, load_ruleset
from rules.loader import RulesError, read_yaml
from rules.operators import as_datetime
from rules.schema import EVENTS, json_schema

app = typer.Typer(help="Check, explain, test and export crmbot rules packs.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

RulesOpt = Annotated[
    Path | None,
    typer.Option(
        "--rules", help="Rules directory (default: rules_dir of --settings, else the shipped pack)."
    ),
]
SettingsOpt = Annotated[
    Path | None,
    typer.Option("--settings", "-s", help="Settings file: its rules_dir is the rules to use."),
]


def _rules_dir(rules: Path | None, settings_file: Path | None) -> Path | None:
    """--rules, else the rules_dir of the settings (--settings or CRMBOT_SETTINGS_FILE)."""
    if rules is not None:
        return rules
    import os

    from bot.errors import ConfigError
    from bot.settings import SETTINGS_FILE_ENV, load_settings

    if settings_file is None and not os.environ.get(SETTINGS_FILE_ENV):
        return None
    try:
        return load_settings(settings_file).rules_dir
    except ConfigError as exc:
        err_console.print(f"[red]error[/red] {exc}", markup=True)
        raise typer.Exit(2) from None


def _load(rules: Path | None) -> RuleSet:
    try:
        return load_ruleset(rules)
    except RulesError as exc:
        for issue in exc.issues:
            err_console.print(f"[red]error[/red] {issue}", markup=True)
        raise typer.Exit(2) from None  # invalid rules: a configuration problem, as in `run`


def _now(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    parsed = as_datetime(text)
    if parsed is None:
        raise typer.BadParameter(f"--now {text!r} is not an ISO 8601 date-time")
    return parsed


def facts_from_input(data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Facts from a JSON/YAML input: a full facts dict, or just the request's fields."""
    if "request" in data:
        facts = {
            key: dict(value) if isinstance(value, dict) else value for key, value in data.items()
        }
    else:
        facts = {"request": dict(data)}
    request = facts.setdefault("request", {})
    request.setdefault("channel", "email")
    if "body" not in request and "body_text" in request:
        request["body"] = request["body_text"]
    email = request.get("sender_email")
    if email and "sender_domain" not in request and "@" in str(email):
        request["sender_domain"] = str(email).rsplit("@", 1)[1].lower()
    facts.setdefault("contact", {})
    facts.setdefault("company", {})
    case = facts.setdefault("case", {})
    case.setdefault("reference", "EXPLAIN-1")
    case.setdefault("status", "new")
    case.setdefault("follow_up_count", 0)
    case.setdefault("created_at", request.get("received_at") or now)
    return facts


def facts_from_eml(raw: bytes, now: datetime) -> dict[str, Any]:
    """Facts from a raw e-mail, parsed like the mailbox connector does."""
    from bot.mail.parse import parse_email

    mail = parse_email(raw)
    request = {
        "subject": mail.subject,
        "body": mail.body_clean,
        "body_text": mail.body_text,
        "language": mail.language,
        "channel": "email",
        "source": "explain",
        "sender_email": mail.sender_email,
        "sender_name": mail.sender_name,
        "received_at": mail.date,
        "attachments": len(mail.attachments),
        "auto_reply": mail.auto_reply,
        "message_id": mail.message_id,
    }
    facts = facts_from_input({"request": request}, now)
    facts["contact"] = {"email": mail.sender_email, "name": mail.sender_name}
    return facts


def _read_input(file: Path, now: datetime) -> dict[str, Any]:
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"{file}: cannot be read ({exc.strerror})") from None
    # A .json file, or anything that starts like a JSON object, is a request; the rest is
    # a message (an .eml, or a file straight from a Maildir, which has no extension).
    if file.suffix.lower() != ".json" and not raw.lstrip().startswith(b"{"):
        return facts_from_eml(raw, now)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"{file}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{file}: the JSON must be an object")
    return facts_from_input(data, now)


@app.command()
def check(
    directory: Annotated[
        Path | None, typer.Argument(help="Rules directory or file (default: rules_dir).")
    ] = None,
    settings_file: Annotated[
        Path | None,
        typer.Option(
            "--settings",
            "-s",
            help="Also check that the configured sinks perform every action of the rules.",
        ),
    ] = None,
) -> None:
    """Validate a rules pack; print OK with counts, or every error with file:line (exit 2).

    With --settings, a rule whose action no configured sink can perform is an error too
    (naming the rule, the action and the sink), as it is at worker start-up.
    """
    if settings_file is None:
        console.print(f"OK: {_load(_rules_dir(directory, None)).describe()}")
        return
    from bot.errors import ConfigError
    from bot.routing import case_only, refusals, write_back_settings
    from bot.settings import load_settings

    try:
        settings = load_settings(settings_file)
        routes = write_back_settings(settings)
    except ConfigError as exc:
        err_console.print(f"[red]error[/red] {exc}", markup=True)
        raise typer.Exit(2) from None
    ruleset = _load(directory if directory is not None else settings.rules_dir)
    uses = ruleset.action_uses()
    refused = refusals(routes, uses)
    for use, message in refused:
        err_console.print(f"[red]error[/red] {use.file}:{use.line}: {message}", markup=True)
    if refused:
        raise typer.Exit(2)
    local = case_only(routes, uses)
    for use in local:
        console.print(
            f"note: rule {use.rule_id!r}: {use.action_type} reaches no sink here "
            "(none of its kind is configured): it changes crmbot's case only"
        )
    where = f"{len(local)} action(s) stay in the case" if local else "every action has its sink"
    console.print(f"OK: {ruleset.describe()}; {where}")


@app.command()
def explain(
    file: Annotated[Path, typer.Argument(help="An .eml message or a JSON request/facts file.")],
    rules: RulesOpt = None,
    settings_file: SettingsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    now: Annotated[str | None, typer.Option("--now", help="Evaluate as of this ISO time.")] = None,
    event: Annotated[str, typer.Option("--event", help="The event to evaluate.")] = "case.created",
) -> None:
    """Show category, SLA due dates, priority, and every rule that fired or not, and why."""
    if event not in EVENTS:
        raise typer.BadParameter(f"--event must be one of {', '.join(EVENTS)}")
    when = _now(now)
    ruleset = _load(_rules_dir(rules, settings_file))
    facts = _read_input(file, when)
    decision = ruleset.decide(facts, event=event, now=when)
    if as_json:
        typer.echo(json.dumps(decision.to_dict(), ensure_ascii=False, indent=2))
        return
    _print_decision(decision)


def _params(action_type: str, params: dict[str, Any]) -> str:
    """An action's parameters as 'key: value' pairs; an escalation to the same priority says so."""
    shown = {k: v for k, v in params.items() if v not in (None, [], {}, "")}
    if action_type == "escalate" and shown.get("from") == shown.get("to"):
        shown["to"] = f"{shown.pop('from')} (already; no change of priority)"
    return "; ".join(
        f"{k}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)}"
        for k, v in shown.items()
    )


def _print_decision(decision: Decision) -> None:
    summary = Table(title="Decision", show_header=False)
    summary.add_row(
        "category", f"{decision.category} (confidence {decision.category_confidence:.2f})"
    )
    summary.add_row("signals", ", ".join(decision.category_reasons) or "-")
    summary.add_row(
        "priority", f"{decision.priority} (base {decision.base_priority}, score {decision.score:g})"
    )
    if decision.sla is not None:
        summary.add_row("SLA policy", f"{decision.sla.policy} on calendar {decision.sla.calendar}")
        summary.add_row("first response due", decision.sla.first_response_due.isoformat())
        summary.add_row("resolution due", decision.sla.resolution_due.isoformat())
        if decision.sla.warning_at:
            summary.add_row("warning at", decision.sla.warning_at.isoformat())
    summary.add_row("tags", ", ".join(decision.tags) or "-")
    console.print(summary)
    _print_judgement(decision)
    if decision.reasons:
        reasons = Table(title="Impact reasons")
        for col in ("rule", "points", "reason"):
            reasons.add_column(col)
        for r in decision.reasons:
            reasons.add_row(r.rule_id, f"{r.points:+g}", f"{r.message_fr} / {r.message_en}")
        console.print(reasons)
    if decision.actions:
        actions = Table(title="Planned actions (not performed)")
        for col in ("rule", "action", "params", "key"):
            actions.add_column(col)
        for a in decision.actions:
            actions.add_row(a.rule_id, a.type, Text(_params(a.type, a.params)), a.key)
        console.print(actions)
    trace = Table(title="Rules evaluated")
    for col in ("kind", "rule", "fired", "why"):
        trace.add_column(col)
    for t in decision.trace:
        # "[case.updated] …" marks a later round (after an automation changed the case):
        # plain Text, or rich would read the brackets as markup and drop them.
        trace.add_row(t.kind, t.rule_id, "yes" if t.fired else "no", Text(t.why))
    console.print(trace)
    console.print(decision.note("fr"))


def _print_judgement(decision: Decision) -> None:
    """Both sides of the category decision: the rule terms and the model's n-grams."""
    j = decision.judgement
    if not j:
        return
    table = Table(title=f"Category: decided by {decision.category_source}")
    for col in ("side", "category", "strength", "terms that weighed"):
        table.add_column(col)
    rules = j["rules"]
    strength = f"score {rules['score']:g}, confidence {rules['confidence']:.2f}"
    if rules.get("explicit"):
        strength += f", explicit rule for {rules['explicit']}"
    table.add_row("rules", rules["category"], strength, ", ".join(rules["terms"]) or "-")
    model = j.get("model")
    if model:
        extra = [
            f"{k.removesuffix('_probability')} {v:.2f}"
            for k, v in model.items()
            if k.endswith("_probability")
        ]
        table.add_row(
            f"model {model['version']}",
            model["category"],
            f"p={model['probability']:.2f}" + (f" ({', '.join(extra)})" if extra else ""),
            ", ".join(model["terms"]) or "-",
        )
    console.print(table)


@app.command("test")
def run_tests(
    cases: Annotated[
        Path, typer.Argument(help="YAML list of cases: input + expect (docs/rules-test.md).")
    ],
    rules: RulesOpt = None,
    settings_file: SettingsOpt = None,
) -> None:
    """Run admins' own cases (input, expected category/priority/tags); exit 1 on a failure."""
    ruleset = _load(_rules_dir(rules, settings_file))
    try:
        data = read_yaml(cases).data
    except RulesError as exc:
        for issue in exc.issues:
            err_console.print(f"error {issue}")
        raise typer.Exit(2) from None
    items = data.get("cases") if isinstance(data, dict) else data
    if not isinstance(items, list):
        err_console.print(f"error {cases}: expected a list of cases (or a 'cases:' list)")
        raise typer.Exit(2)
    table = Table(title=f"Rules test cases: {cases}")
    for col in ("#", "case", "result", "details"):
        table.add_column(col)
    failures = 0
    for number, item in enumerate(items, start=1):
        name, ok, details = _run_case(ruleset, item, number)
        failures += 0 if ok else 1
        table.add_row(str(number), name, "PASS" if ok else "FAIL", details)
    console.print(table)
    console.print(f"{len(items) - failures} passed, {failures} failed")
    if failures:
        raise typer.Exit(1)


def _run_case(ruleset: RuleSet, item: Any, number: int) -> tuple[str, bool, str]:
    if not isinstance(item, dict) or not isinstance(item.get("input"), dict):
        return f"case {number}", False, "a case needs an 'input' mapping and an 'expect' mapping"
    name = str(item.get("name") or f"case {number}")
    expect = item.get("expect") or {}
    when = as_datetime(item.get("now")) or datetime.now(UTC)
    event = str(item.get("event") or "case.created")
    if event not in EVENTS:
        return name, False, f"unknown event {event!r}"
    decision = ruleset.decide(facts_from_input(item["input"], when), event=event, now=when)
    problems = []
    for key in ("category", "priority"):
        if key in expect and str(expect[key]) != getattr(decision, key):
            problems.append(f"{key}: expected {expect[key]}, got {getattr(decision, key)}")
    for tag in expect.get("tags", []) or []:
        if tag not in decision.tags:
            problems.append(f"tag {tag!r} missing (got {', '.join(decision.tags) or 'none'})")
    for action in expect.get("actions", []) or []:
        if action not in {a.type for a in decision.actions}:
            problems.append(f"no {action!r} action planned")
    if problems:
        return name, False, "; ".join(problems)
    return name, True, f"{decision.category}, {decision.priority}"


@app.command()
def schema() -> None:
    """Print the JSON Schema of the rules file format (for editor completion)."""
    typer.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))
