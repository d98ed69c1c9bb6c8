"""The `crmbot` command line: run, check, cases, show, health, rules."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer
from rich.console import Console
from rich.table import Table

from bot.entities import Case
from bot.errors import ConfigError, CrmbotError, FatalError, SourceUnavailable
from bot.logging import Heartbeat, configure_logging
from bot.settings import SETTINGS_FILE_ENV, Settings, load_settings

app = typer.Typer(
    name="crmbot",
    help="crmbot: deduplicate, triage and write back requests between mailboxes and the CRM.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
cases_app = typer.Typer(help="List cases (default), merge and unmerge them.")
app.add_typer(cases_app, name="cases")
secrets_app = typer.Typer(help="The key that seals the OAuth2 tokens kept in the store.")
app.add_typer(secrets_app, name="secrets")
# Customer text such as "[#CB-3]" must print as is: no rich markup on stdout.
out = Console(width=None if sys.stdout.isatty() else 160, markup=False, highlight=False)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
log = structlog.get_logger("bot.cli")

SettingsOption = Annotated[
    Path | None,
    typer.Option("--settings", "-s", help="YAML or TOML settings file (or CRMBOT_SETTINGS_FILE)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def _settings(path: Path | None, *, connectors: bool = False, **overrides: Any) -> Settings:
    settings = load_settings(path, connectors=connectors, **overrides)
    configure_logging(settings.log.level, settings.log.format)
    return settings


# Exit codes, the same for the same problem in every command (docs/troubleshooting.md):
EXIT_PROBLEM = 1  # something checked is failing: a source, a test case, a stale worker
EXIT_CONFIG = 2  # the settings, the rules or the command line are wrong


def _fail(exc: Exception, code: int = EXIT_CONFIG) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_json_default, ensure_ascii=False, indent=2) + "\n")


@app.command()
def run(
    settings_file: SettingsOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="Poll every source once, then exit.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Plan and log actions; store and perform nothing.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="--once on a terminal: every log line, not just the summary."
        ),
    ] = False,
) -> None:
    """Run the worker: poll sources, triage, write back (until SIGTERM, or once)."""
    from bot.app import build_runtime

    try:
        overrides = {"dry_run": True} if dry_run else {}
        settings = _settings(settings_file, connectors=True, **overrides)
        if once or dry_run:
            # The health file is the long-running worker's; a one-off run must not fake it.
            settings.worker.health_file = None
        if once and not verbose and settings.log.level == "info":
            from bot.summary import for_humans

            if for_humans(settings.log.format):  # a person reads the summary, not 80 lines
                configure_logging("warning", settings.log.format)
        if dry_run:
            settings.store.url = _dry_run_store(settings.store.url)
        else:
            _check_health_file(settings.worker.health_file)
        runtime = build_runtime(settings)
    except CrmbotError as exc:
        raise _fail(exc) from exc
    worker = runtime.worker()
    worker.install_signal_handlers()
    http = None
    try:
        if not once:
            from bot.steering.http import serve

            try:  # /healthz, /readyz, /metrics and the status page (settings http.*)
                http = serve(runtime, wake_source=lambda name: worker.wake_source(name))
            except CrmbotError as exc:
                raise _fail(exc) from exc
        if once:
            _run_once(runtime, worker)
        else:
            heartbeat = Heartbeat(settings.log.heartbeat_seconds, lambda: _poll_counts(worker))
            heartbeat.start()
            try:
                with _burst_progress(runtime):
                    worker.run_forever()
            finally:
                heartbeat.stop()
    finally:
        if http is not None:
            http.stop()
        runtime.close()
        if not once:
            _mark_stopped(settings.worker.health_file)


def _run_once(runtime: Any, worker: Any) -> None:
    """Poll until nothing is new, then a summary: for a person, or one JSON line."""
    import time

    from bot import summary
    from bot.store.stats import stored_requests, totals

    def count(read: Any) -> Any:
        with runtime.store.connect() as conn:
            return read(conn)

    human = summary.for_humans(runtime.settings.log.format)
    before = count(totals)
    started = time.monotonic()
    if human:
        progress_console = Console(stderr=True)
        with summary.StoreProgress(lambda: count(stored_requests), progress_console):
            stored = worker.run_once()
    else:
        stored = worker.run_once()
    seconds = time.monotonic() - started
    counts = summary.difference(before, count(totals))
    counts["read"], counts["stored"] = counts["stored"], stored
    failing = [n for n, s in worker.sources.items() if s.health.failing_since]
    log.info("run_once_finished", **counts, failing_sources=failing, seconds=round(seconds, 2))
    if human:
        err.print(summary.render(counts, seconds, failing), markup=False, highlight=False)
    if failing:
        raise typer.Exit(1)


BURST_QUIET_SECONDS = 10.0  # a progress line goes once nothing was stored for this long


def _burst_progress(runtime: Any) -> Any:
    """On a terminal, a progress line during each burst of a worker that runs for ever."""
    from contextlib import nullcontext

    from bot import summary
    from bot.store.stats import stored_requests

    if not summary.for_humans(runtime.settings.log.format):
        return nullcontext()

    def count() -> int:
        with runtime.store.connect() as conn:
            return int(stored_requests(conn))

    return summary.StoreProgress(
        count, Console(stderr=True), every=1.0, quiet_after=BURST_QUIET_SECONDS
    )


def _dry_run_store(url: str) -> str:
    """A dry run reads an existing store; where there is none, a scratch one removed at exit."""
    import atexit
    import shutil
    import tempfile

    prefix = "sqlite:///"
    if url.startswith(prefix) and not Path(url[len(prefix) :]).is_file():
        scratch = tempfile.mkdtemp(prefix="crmbot-dry-run-")
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        return prefix + str(Path(scratch) / "dry-run.db")
    return url


def _poll_counts(worker: Any) -> dict[str, int]:
    """Polls, records and failing sources over every source (for the heartbeat)."""
    healths = [configured.health for configured in worker.sources.values()]
    return {
        "polls": sum(h.polls for h in healths),
        "records": sum(h.records for h in healths),
        "failing_sources": sum(1 for h in healths if h.failing_since),
    }


STOPPED = "stopped "


def _mark_stopped(path: Path | None) -> None:
    """A worker that stops says so in its health file: `crmbot health` fails at once."""
    if path is not None:
        try:
            path.write_text(STOPPED + datetime.now(UTC).isoformat(), encoding="utf-8")
        except OSError:
            log.warning("health_file_not_written", path=str(path))


def _check_health_file(path: Path | None) -> None:
    """Fail at start (exit 2) when the worker could not write its health file."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(datetime.now(UTC).isoformat(), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"worker.health_file {path} cannot be written ({exc.strerror}): "
            "fix the path or its permissions, or unset it"
        ) from exc


@app.command()
def check(settings_file: SettingsOption = None) -> None:
    """Validate settings and rules, open the store, connect to each source and sink; exit 1
    on a problem."""
    from bot.app import rules_provider
    from bot.registry import build_sink, build_source
    from bot.shared import StoreSharing, sealer_from_settings
    from bot.store import open_store
    from connectors.kit.shared import sharing as kit_sharing

    problems = 0
    table = Table("part", "status", "detail", title="crmbot check")
    try:
        settings = _settings(settings_file, connectors=True)
        table.add_row(
            "settings", "ok", str(settings_file or os.environ.get(SETTINGS_FILE_ENV, "(env)"))
        )
    except CrmbotError as exc:
        raise _fail(exc, EXIT_CONFIG) from exc
    try:  # once the store opens: the tokens and budgets the replicas use
        shared = StoreSharing(sealer=sealer_from_settings(settings))
    except CrmbotError as exc:
        raise _fail(exc, EXIT_CONFIG) from exc

    def opened(store: Any) -> Any:
        shared.bind(store)
        return store

    def connector(build: Any, name: str, raw: dict[str, Any]) -> Any:
        with kit_sharing(shared.state() if shared.bound else None):
            return build(name, raw)

    steps: list[tuple[str, Any]] = [("rules", lambda: _describe_rules(rules_provider(settings)))]
    steps.append(("store", lambda: _describe_store(opened(open_store(settings.store.url)))))
    for name, raw in settings.sources.items():
        steps.append(
            (
                f"source {name}",
                lambda n=name, r=raw: _check_source(connector(build_source, n, r)),
            )
        )
    for name, raw in settings.sinks.items():
        steps.append(
            (f"sink {name}", lambda n=name, r=raw: _check_sink(connector(build_sink, n, r)))
        )
    steps.append(("tokens", shared.check_at_rest))  # how OAuth2 tokens are kept at rest
    failed: list[str] = []
    for label, step in steps:
        try:
            table.add_row(label, "ok", step())
        except Exception as exc:  # every problem is reported, then the exit code says it
            problems += 1
            failed.append(label)
            table.add_row(label, "FAILED", f"{type(exc).__name__}: {exc}")
    out.print(table)
    if problems:
        err.print(f"[red]{problems} problem(s): {', '.join(failed)}[/]")
        raise typer.Exit(1)


def _describe_rules(provider: Any) -> str:
    ruleset = provider()
    return getattr(ruleset, "describe", lambda: "loaded")()


def _describe_store(store: Any) -> str:
    try:
        return f"{store.engine.dialect.name}, schema up to date"
    finally:
        store.dispose()


def _check_source(built: Any) -> str:
    source, _ = built
    try:
        return source.check()
    finally:
        source.close()


def _check_sink(built: Any) -> str:
    sink, settings = built
    try:
        check = getattr(sink, "check", None)
        return check() if callable(check) else f"{settings.type} configured (no check)"
    finally:
        sink.close()


def _open_store(settings_file: Path | None) -> Any:
    """The existing store, for commands that read or edit it (never created here)."""
    from sqlalchemy import inspect

    from bot.store import open_store

    try:
        settings = _settings(settings_file)
        url = settings.store.url
        if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).is_file():
            raise ConfigError(
                f"no store at {url[len('sqlite:///') :]}: run `crmbot run` first, "
                "or give the settings that name the store (--settings)"
            )
        store = open_store(url, run_migrations=False)
        if not inspect(store.engine).has_table("cases"):
            store.dispose()
            raise ConfigError(f"the store at {url.split('@')[-1]} has no crmbot tables yet")
        return store
    except CrmbotError as exc:
        raise _fail(exc) from exc


def _due(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


@cases_app.callback(invoke_without_command=True)
def cases(
    ctx: typer.Context,
    settings_file: SettingsOption = None,
    as_json: JsonOption = False,
    status: Annotated[str | None, typer.Option(help="Only cases with this status.")] = None,
    category: Annotated[str | None, typer.Option(help="Only cases of this category.")] = None,
    priority: Annotated[str | None, typer.Option(help="Only cases of this priority.")] = None,
    tag: Annotated[
        str | None, typer.Option(help="Only cases with this tag (a prefix ending in ':' too).")
    ] = None,
    contact: Annotated[
        str | None, typer.Option(help="Only cases whose contact e-mail contains this.")
    ] = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only open cases past an SLA due time.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many.")] = 200,
) -> None:
    """List cases, most urgent first: id, contact, subject, category, priority, SLA, requests."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = settings_file
        return
    from bot import cli_views as views
    from bot.store.cases import distinct_values, list_cases
    from bot.store.contacts import get_contact

    store = _open_store(settings_file)
    ruleset = _ruleset_or_none(settings_file)
    try:
        with store.connect() as conn:
            known_categories = set(getattr(ruleset, "category_ids", []))
            known_categories |= set(distinct_values(conn, "category"))
            for option, value, valid in (
                ("--status", status, views.STATUSES),
                ("--priority", priority, views.PRIORITIES),
                ("--category", category, sorted(known_categories)),
            ):
                if value is not None and value not in valid:
                    raise _fail(
                        ValueError(f"{option} {value!r} is not one of: {', '.join(valid)}"), 2
                    )
            rows = list_cases(
                conn,
                limit=limit,
                status=status,
                category=category,
                priority=priority,
                tag=tag,
                contact=contact,
                overdue_at=datetime.now(UTC) if overdue else None,
            )
            contacts = {}
            for cid in views.flagged_contact_ids(rows):
                found = get_contact(conn, cid)
                contacts[cid] = (found.email if found else None) or f"contact {cid}"
    finally:
        store.dispose()
    if as_json:
        _print_json([_case_summary(r) for r in rows])
        return
    console = views.console()
    zone = views.calendar_zone(ruleset)
    console.print(views.cases_table(rows, zone, console.width, contacts))
    console.print(f"{len(rows)} case(s); times in {views.zone_name(zone)}")


def _ruleset_or_none(settings_file: Path | None) -> Any:
    """The configured rules (for categories and the business calendar), None if they fail."""
    from rules.engine import load_ruleset

    try:
        return load_ruleset(_settings(settings_file).rules_dir)
    except Exception:  # a broken pack must not stop anyone reading the cases
        return None


def _case_summary(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": r["id"],
        "reference": r["reference"],
        "contact": r.get("contact_email"),
        "subject": r["subject"],
        "category": r["category"],
        "category_confidence": r["category_confidence"],
        "priority": r["priority"],
        "impact_score": r["impact_score"],
        "first_response_due": r["first_response_due"],
        "resolution_due": r["resolution_due"],
        "requests": r["request_count"],
        "follow_ups": r["follow_up_count"],
        "duplicates": r["duplicate_count"],
        "status": r["status"],
        "tags": r["tags"],
    }


def _merge_command(survivor: str, absorbed: str, settings_file: Path | None, undo: bool) -> None:
    from bot.crm_merge import plan_crm_merge
    from bot.routing import write_back_settings
    from bot.store import audit
    from bot.store.cases import merge_cases, unmerge_case

    actor = f"admin:{os.environ.get('USER') or os.environ.get('LOGNAME') or 'cli'}"
    try:  # where a CRM merge would go: a sink's invalid settings stop here, before any change
        routes = None if undo else write_back_settings(_settings(settings_file))
    except CrmbotError as exc:
        raise _fail(exc) from exc
    store = _open_store(settings_file)
    try:
        with store.begin() as conn:
            first = _find_case(conn, survivor)
            second = _find_case(conn, absorbed) if absorbed else None
            if first is None or (absorbed and second is None):
                raise ValueError(f"no case {absorbed if first else survivor!r}")
            if undo:
                target = unmerge_case(conn, first.id)
                detail: dict[str, Any] = {"case": first.reference, "from": target.reference}
                for case_id in (first.id, target.id):
                    audit.record(conn, "case_unmerged", case_id=case_id, actor=actor, **detail)
                out.print(f"{first.reference} is no longer merged into {target.reference}")
            else:
                assert second is not None and routes is not None
                merge_cases(conn, first.id, second.id)
                crm = plan_crm_merge(conn, routes, first, second)
                detail = {"survivor": first.reference, "absorbed": second.reference, "crm": crm}
                for case_id in (first.id, second.id):
                    audit.record(conn, "case_merged", case_id=case_id, actor=actor, **detail)
                out.print(f"{second.reference} merged into {first.reference} (reversible)")
                out.print(f"CRM: {crm}")
    except ValueError as exc:
        raise _fail(exc, 1) from exc
    finally:
        store.dispose()


@cases_app.command("merge")
def merge(
    ctx: typer.Context,
    survivor: Annotated[str, typer.Argument(help="The case that stays (e.g. CB-3).")],
    absorbed: Annotated[str, typer.Argument(help="The case merged into it (e.g. CB-24).")],
    settings_file: SettingsOption = None,
) -> None:
    """Soft-merge ABSORBED into SURVIVOR: linked and counted, nothing deleted, reversible."""
    _merge_command(survivor, absorbed, settings_file or _parent_settings(ctx), undo=False)


@cases_app.command("unmerge")
def unmerge(
    ctx: typer.Context,
    case: Annotated[str, typer.Argument(help="A case that was merged into another.")],
    settings_file: SettingsOption = None,
) -> None:
    """Undo a soft merge: the case stands on its own again."""
    _merge_command(case, "", settings_file or _parent_settings(ctx), undo=True)


def _parent_settings(ctx: typer.Context) -> Path | None:
    """The --settings given before the sub-command (`crmbot cases -s FILE merge …`)."""
    return ctx.obj if isinstance(ctx.obj, Path) else None


def _find_case(conn: Any, ref: str) -> Case | None:
    from bot.store.cases import case_by_reference, get_case

    if ref.isdigit():
        return get_case(conn, int(ref)) if int(ref) < 2**31 else None
    return case_by_reference(conn, ref)


@app.command()
def show(
    case: Annotated[str, typer.Argument(help="Case reference (CB-12) or id.")],
    settings_file: SettingsOption = None,
    as_json: JsonOption = False,
) -> None:
    """One case with its requests, planned actions and audit trail."""
    from bot.store.audit import trail
    from bot.store.cases import case_links
    from bot.store.contacts import get_contact
    from bot.store.outbox import rows_of_case
    from bot.store.requests import requests_of_case

    store = _open_store(settings_file)
    with store.connect() as conn:
        found = _find_case(conn, case)
        if found is None:
            store.dispose()
            raise _fail(ConfigError(f"no case {case!r}"), 1)
        links = case_links(conn, found.id)
        reqs = requests_of_case(conn, found.id)
        contact = get_contact(conn, found.contact_id) if found.contact_id else None
        entries = trail(conn, found.id)
        actions = rows_of_case(conn, found.id)
    store.dispose()
    for r in reqs:
        r["relation"], r["link_reason"] = links.get(r["id"], ("?", ""))
    if as_json:
        _print_json(
            {
                **found.as_row(),
                "contact": contact.as_row() if contact else None,
                "requests": reqs,
                "outbox": actions,
                "audit": entries,
            }
        )
        return
    from bot import cli_views as views

    console = views.console()
    zone = views.calendar_zone(_ruleset_or_none(settings_file))
    tz = views.zone_name(zone)
    console.print(f"{found.reference} {found.subject}", style="bold")
    console.print(
        f"status {found.status} · category {found.category or '-'} "
        f"({found.category_confidence or 0:.2f}) · priority {found.priority or '-'} · "
        f"score {found.impact_score or 0:g}"
    )
    if contact:
        console.print(f"contact: {contact.name or ''} <{contact.email}>")
    console.print(
        f"first response due {views.when(found.first_response_due, zone)} · "
        f"resolution due {views.when(found.resolution_due, zone)} ({tz})"
    )
    for flag in views.review_flags(list(found.tags)):
        console.print(f"  ! {flag}")
    for reason in found.reasons:
        text = reason.get("message") or reason.get("message_en") or reason.get("code")
        console.print(f"  · {text}")
    # Long text wraps on word boundaries (never cut mid-word); subjects end in an ellipsis.
    table = Table("req", "relation", f"received ({tz})", "from", "subject", "why", expand=True)
    table.columns[3].overflow = "fold"
    table.columns[4].overflow = "ellipsis"
    table.columns[4].max_width = 40
    for r in reqs:
        table.add_row(
            str(r["id"]),
            r["relation"],
            views.when(r["received_at"], zone),
            r["sender_email"] or "-",
            r["subject"] or "",
            r["link_reason"] or "",
        )
    console.print(table)
    if actions:
        at = Table("action", "sink", "state", "key")
        at.columns[3].overflow = "fold"
        for a in actions:
            at.add_row(a["action"], a["sink"] or "-", a["state"], a["idempotency_key"])
        console.print(at)
    audit_table = Table(f"when ({tz})", "event", "detail", expand=True)
    audit_table.columns[2].overflow = "fold"
    for e in entries:
        audit_table.add_row(
            views.when(e["created_at"], zone, seconds=True),
            e["event"],
            views.audit_detail(e["detail"]),
        )
    console.print(audit_table)


@app.command()
def quarantine(settings_file: SettingsOption = None, as_json: JsonOption = False) -> None:
    """Items that could not be processed, with why (nothing is dropped silently)."""
    from bot.store.requests import quarantined

    store = _open_store(settings_file)
    with store.connect() as conn:
        rows = quarantined(conn)
    store.dispose()
    if as_json:
        _print_json(rows)
        return
    table = Table("id", "source", "source id", "size", "reason", "when (UTC)")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["source"],
            r["source_id"],
            str(r["raw_size"]),
            r["reason"][:80],
            _due(r["created_at"]),
        )
    out.print(table)


@app.command()
def health(
    settings_file: SettingsOption = None,
    max_age: Annotated[
        float, typer.Option(help="Seconds since the worker's last loop (it writes every tick).")
    ] = 120,
) -> None:
    """Exit 0 when the worker's health file is fresh (for the container HEALTHCHECK)."""
    try:
        settings = _settings(settings_file)
    except CrmbotError as exc:
        raise _fail(exc, EXIT_CONFIG) from exc
    path = settings.worker.health_file
    if path is None:
        raise _fail(ConfigError("worker.health_file is not set"), EXIT_CONFIG)
    try:
        text = path.read_text(encoding="utf-8").strip()
        if text.startswith(STOPPED):
            raise _fail(FatalError(f"the worker stopped at {text[len(STOPPED) :]}"), 1)
        stamp = datetime.fromisoformat(text)
    except (OSError, ValueError) as exc:
        raise _fail(FatalError(f"no health stamp in {path}: {exc}"), 1) from exc
    age = (datetime.now(UTC) - stamp).total_seconds()
    if age > max_age:
        raise _fail(FatalError(f"worker's last loop was {age:.0f} s ago (> {max_age:g} s)"), 1)
    out.print(f"ok: last loop {age:.0f} s ago")


@secrets_app.command("new-key")
def secrets_new_key() -> None:
    """Print a new key for secrets_key (to rotate: put it first, the old one after it)."""
    from cryptography.fernet import Fernet

    typer.echo(Fernet.generate_key().decode("ascii"))


@app.command()
def outbox(
    settings_file: SettingsOption = None,
    as_json: JsonOption = False,
    retry_dead: Annotated[
        bool, typer.Option("--retry-dead", help="Give every dead action a fresh start.")
    ] = False,
) -> None:
    """Planned actions by state; those given up on (dead) and those not performed, with why."""
    from bot.store import outbox as outbox_store

    store = _open_store(settings_file)
    with store.begin() as conn:
        requeued = outbox_store.requeue_dead(conn) if retry_dead else 0
        counts = outbox_store.counts(conn)
        dead = outbox_store.dead_rows(conn)
        refused = outbox_store.refused_rows(conn)
    store.dispose()
    if as_json:
        _print_json({"counts": counts, "dead": dead, "refused": refused, "requeued": requeued})
        return
    out.print("outbox: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "empty"))
    if requeued:
        out.print(f"{requeued} dead action(s) put back in the queue")
    if dead:
        table = Table("id", "action", "sink", "attempts", "last error", "key")
        for row in dead:
            table.add_row(
                str(row["id"]),
                row["action"],
                row["sink"],
                str(row["attempts"]),
                (row["last_error"] or "")[:70],
                row["idempotency_key"],
            )
        out.print(table)
    if refused:
        table = Table("id", "state", "action", "sink", "reason", "key")
        for row in refused:
            result = row["result"] or {}
            why = result.get("reason") or result.get("why") or ""
            table.add_row(
                str(row["id"]),
                row["state"],
                row["action"],
                row["sink"] or "-",
                str(why)[:90],
                row["idempotency_key"],
            )
        out.print(table)


automations_app = typer.Typer(help="What the automations did.")
app.add_typer(automations_app, name="automations")


@automations_app.command("report")
def automations_report(settings_file: SettingsOption = None, as_json: JsonOption = False) -> None:
    """Per automation: times fired, effects that reached their sink, effects an agent undid."""
    from bot.automation_report import as_json as report_json
    from bot.automation_report import automation_report

    store = _open_store(settings_file)
    with store.connect() as conn:
        rows = automation_report(conn)
    store.dispose()
    if as_json:
        _print_json(report_json(rows))
        return
    table = Table("rule", "fired", "effects", "reached sink", "not performed", "pending", "undone")
    for r in rows:
        undone = f"{r.undone} ({r.conflicts} conflicts, {r.cases_reopened} reopened)"
        table.add_row(
            r.rule_id, str(r.fired), str(r.effects), str(r.reached_sink),
            str(r.not_performed), str(r.pending), undone,
        )  # fmt: skip
    out.print(table)


@app.command("setup")
def setup(
    connector: Annotated[
        str, typer.Argument(help="The connector type to set up: hubspot, zendesk, …")
    ],
    name: Annotated[
        str | None, typer.Argument(help="The source or sink to set up (default: all of it).")
    ] = None,
    settings_file: SettingsOption = None,
    print_only: Annotated[
        bool,
        typer.Option("--print-only", help="Say what to create; create nothing remotely."),
    ] = False,
) -> None:
    """Prepare a connected system for crmbot: fields, webhooks (idempotent; the connector's own)."""
    from bot.registry import get_connector, validate_connector_settings

    try:
        spec = get_connector(connector)
        if spec.setup is None:
            raise ConfigError(f"connector {connector!r} needs no set-up")
        settings = _settings(settings_file)
        targets = [
            (section, key, raw)
            for section, entries in (("sources", settings.sources), ("sinks", settings.sinks))
            for key, raw in entries.items()
            if raw.get("type") == connector and name in (None, key)
        ]
        if not targets:
            raise ConfigError(
                f"no {connector} source or sink named {name or '(any)'} in the settings"
            )
        for section, key, raw in targets:
            conf = validate_connector_settings(section, key, raw)
            for line in spec.setup(key, conf, not print_only):
                out.print(f"{section}.{key}: {line}")
    except CrmbotError as exc:
        raise _fail(exc, 1) from exc


db_app = typer.Typer(help="The store's schema.")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(settings_file: SettingsOption = None) -> None:
    """Bring the store's schema to the newest revision (under a lock on PostgreSQL)."""
    from bot.store.engine import head_revision, make_engine, migrate

    try:
        settings = _settings(settings_file)
        engine = make_engine(settings.store.url, echo=settings.store.echo)
    except CrmbotError as exc:
        raise _fail(exc) from exc
    try:
        ran = migrate(engine, wait_seconds=settings.store.schema_wait_seconds)
    except CrmbotError as exc:
        raise _fail(exc, 1) from exc
    except Exception as exc:  # an unreachable database: say so, exit 1
        raise _fail(SourceUnavailable(f"store: {type(exc).__name__}: {exc}"), 1) from exc
    finally:
        engine.dispose()
    verb = "upgraded to" if ran else "already at"
    out.print(f"store schema {verb} {head_revision()}")


def _mount_rules() -> None:
    from rules.cli import app as rules_app

    app.add_typer(rules_app, name="rules", help="Check, explain, test and export the rules.")
    from rules.model.cli import app as model_app

    app.add_typer(model_app, name="model", help="Train, evaluate and activate the learned model.")


_mount_rules()


def _mount_steering() -> None:
    from bot.steering.commands import register

    register(app)


_mount_steering()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
