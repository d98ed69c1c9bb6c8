"""Messages per second from a Maildir into the store (parse, thread, decide, store), and peak RSS.

Usage: python3 bench/bench_ingest.py [--messages 10000] [--stores sqlite,postgres] [--no-rules]
       [--repeat 3] [--replicas 3] [--profile DIR]
Each store is measured in a fresh subprocess, so that peak memory is that run's alone.

Two rates are printed: `ingest` is the poll alone (read, parse, thread, decide, store, cursor:
what issue 8 measures), `end-to-end` adds the housekeeping that follows it (SLA timers that are
due fire, the outbox is dispatched). Worker CPU is the worker processes' own CPU time during the
poll per message (not the database server's): steadier than the rates on a loaded machine.
Statements per message counts every statement sent to the database during the poll (an
executemany is one), BEGIN/SAVEPOINT included, COMMIT not.
`--replicas N` (PostgreSQL only) runs N worker processes, each on its own Maildir (the messages
split between them), against one store, started together; the rate is the sum of messages
stored over the wall time from the first start to the last end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SUBJECTS_FR = [
    "Facture incorrecte",
    "Double prélèvement ce mois-ci",
    "Coupure de courant depuis ce matin",
    "Changement d'adresse",
    "Où en est ma demande ?",
    "Résiliation de mon contrat",
    "Nouveau RIB pour le prélèvement",
    "Réclamation sur le relevé de compteur",
]
SUBJECTS_EN = [
    "Wrong invoice amount",
    "Charged twice this month",
    "Power cut since this morning",
    "Change of address",
    "Any update on my request?",
    "Please close my account",
    "New bank details for direct debit",
    "Complaint about the meter reading",
]
BODY_FR = (
    "Bonjour,\n\nJe vous écris au sujet de mon contrat n° {n}. {s} Pourriez-vous regarder "
    "rapidement et me tenir informé ?\n\nMerci d'avance,\n\n{name}\n06 12 34 56 {d:02d}\n"
)
BODY_EN = (
    "Hello,\n\nI am writing about my contract number {n}. {s} Could you please look into it "
    "and let me know?\n\nKind regards,\n{name}\n"
)


def generate(maildir: Path, count: int, seed: int = 7, prefix: str = "bench") -> None:
    """Write `count` realistic messages, ~1 in 5 a reply to an earlier one."""
    from tests.helpers.mail import make_maildir, make_message

    rng = random.Random(seed)
    make_maildir(maildir)
    ids: list[str] = []
    for i in range(count):
        fr = rng.random() < 0.5
        subject = rng.choice(SUBJECTS_FR if fr else SUBJECTS_EN)
        name = f"Client {rng.randrange(3000)}"
        body = (BODY_FR if fr else BODY_EN).format(
            n=rng.randrange(10**7), s=subject, name=name, d=rng.randrange(100)
        )
        reply_to = rng.choice(ids) if ids and rng.random() < 0.2 else None
        mid = f"{prefix}-{i}@example.fr"
        raw = make_message(
            subject=("Re: " if reply_to else "") + subject,
            body=body,
            sender=f"{name} <client{rng.randrange(3000)}@example.fr>",
            message_id=mid,
            in_reply_to=reply_to,
        )
        ids.append(mid)
        (maildir / "new" / f"{1795400000 + i}.M{i}P1.bench").write_bytes(raw)


def run_child(url: str, maildir: str, rules: bool, *, wait: bool = False) -> dict[str, Any]:
    """Ingest the whole Maildir once and print the figures as JSON.

    With `wait`, print "ready" once everything is loaded and wait for a line on stdin before
    starting (replicas start together).
    """
    from sqlalchemy import event

    from bot.logging import configure_logging
    from bot.pipeline import Pipeline
    from bot.registry import build_source
    from bot.settings import Settings
    from bot.stages import DEFAULT_STAGES
    from bot.store import open_store
    from bot.worker import Worker

    configure_logging("error", "json")
    name = f"bench-{Path(maildir).name}"
    settings = Settings(
        store={"url": url},
        worker={"batch_size": 200},
        sources={name: {"type": "maildir", "path": maildir}},
    )
    store = open_store(url)
    provider = None
    if rules:
        from bot.app import rules_provider

        provider = rules_provider(settings)
        provider()  # the rules and the model load once, before the clock starts
    spent: dict[str, float] = {}
    worker = Worker(
        settings,
        store,
        {name: build_source(name, settings.sources[name])},
        Pipeline([_timed(stage, spent) for stage in DEFAULT_STAGES]),
        rules=provider,
    )
    statements: dict[str, int] = {}

    def count(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
        statements[verb] = statements.get(verb, 0) + 1

    if wait:
        print("ready", flush=True)
        sys.stdin.readline()
    event.listen(store.engine, "before_cursor_execute", count)
    began_wall = time.time()
    start = time.perf_counter()
    cpu_start = time.process_time()
    stored = worker.poll_source(name)
    polled = time.perf_counter()
    poll_cpu = time.process_time() - cpu_start
    ended_wall = time.time()
    event.remove(store.engine, "before_cursor_execute", count)
    worker.housekeeping()
    elapsed = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    per_message = {name: 1000 * total / max(stored, 1) for name, total in spent.items()}
    figures = {
        "stored": stored,
        "seconds": elapsed,
        "poll_seconds": polled - start,
        "poll_cpu_seconds": poll_cpu,
        "began": began_wall,
        "ended": ended_wall,
        "statements": statements,
        "peak_rss_mib": peak_kib / 1024,
        "stage_ms": per_message,
    }
    print(json.dumps(figures), flush=True)
    return figures


def _timed(stage: Any, spent: dict[str, float]) -> Any:
    """The stage, adding the time it takes to `spent[its name]` (where a message's time goes)."""
    name = stage.__name__

    def run(ctx: Any, work: Any) -> Any:
        began = time.perf_counter()
        try:
            return stage(ctx, work)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - began

    run.__name__ = name
    prepare = getattr(stage, "prepare", None)
    if prepare is not None:  # the stage's batch-wide part (Pipeline.prepare), timed with it

        def run_prepare(ctx: Any, records: Any) -> None:
            began = time.perf_counter()
            try:
                prepare(ctx, records)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - began

        run.prepare = run_prepare  # type: ignore[attr-defined]
    return run


def _pg_url() -> str:
    import psycopg

    schema = f"bench_{os.getpid()}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"


def _child_cmd(url: str, maildir: Path, args: argparse.Namespace, *, wait: bool) -> list[str]:
    cmd = [sys.executable, __file__, "--child", url, str(maildir)]
    if args.no_rules:
        cmd.append("--no-rules")
    if wait:
        cmd.append("--wait")
    if args.profile:
        cmd += ["--profile", str(args.profile)]
    return cmd


def _one_run(url: str, maildirs: list[Path], args: argparse.Namespace) -> dict[str, Any] | None:
    """One measured run: one child per Maildir, started together; the figures summed."""
    wait = len(maildirs) > 1
    procs = [
        subprocess.Popen(
            _child_cmd(url, md, args, wait=wait),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for md in maildirs
    ]
    if wait:
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                break
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
    results = []
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            print(f"FAILED\n{err[-3000:]}")
            return None
        results.append(json.loads(out.strip().splitlines()[-1]))
    statements: dict[str, int] = {}
    for r in results:
        for verb, n in r["statements"].items():
            statements[verb] = statements.get(verb, 0) + n
    stored = sum(r["stored"] for r in results)
    return {
        "stored": stored,
        "ingest_rate": stored
        / (max(r["ended"] for r in results) - min(r["began"] for r in results)),
        "rate": stored / max(r["seconds"] for r in results),
        "statements": statements,
        "per_message": sum(statements.values()) / max(stored, 1),
        "cpu_ms": 1000 * sum(r["poll_cpu_seconds"] for r in results) / max(stored, 1),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in results),
        "stage_ms": results[0]["stage_ms"],
    }


def _profile_child(args: argparse.Namespace) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    run_child(args.child[0], args.child[1], not args.no_rules, wait=args.wait)
    profiler.disable()
    out = Path(args.profile) / f"ingest-{os.getpid()}.prof"
    out.parent.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(str(out))
    stats = pstats.Stats(str(out), stream=sys.stderr)
    stats.sort_stats("tottime").print_stats(25)


def main() -> None:
    """Generate the Maildirs once, then measure each store in subprocesses."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000, help="in all (split by replica)")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--no-rules", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--replicas", type=int, default=1, help="worker processes on one PostgreSQL store"
    )
    parser.add_argument("--profile", type=Path, help="write a cProfile of each child here")
    parser.add_argument("--child", nargs=2, metavar=("URL", "MAILDIR"))
    parser.add_argument("--wait", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.profile:
            _profile_child(args)
        else:
            run_child(args.child[0], args.child[1], not args.no_rules, wait=args.wait)
        return
    with tempfile.TemporaryDirectory(prefix="crmbot-bench-") as tmp:
        t0 = time.perf_counter()
        replicas = max(args.replicas, 1)
        maildirs = [Path(tmp) / f"maildir{i}" for i in range(replicas)]
        for i, md in enumerate(maildirs):
            share = args.messages // replicas + (1 if i < args.messages % replicas else 0)
            generate(md, share, seed=7 + i, prefix=f"bench{i}")
        print(f"generated {args.messages} messages in {time.perf_counter() - t0:.1f} s")
        for kind in args.stores.split(","):
            if kind == "sqlite" and replicas > 1:
                print("sqlite: one process only (replicas need PostgreSQL); skipped")
                continue
            runs = []
            for i in range(args.repeat):
                url = f"sqlite:///{tmp}/bench-{i}.db" if kind == "sqlite" else _pg_url()
                run = _one_run(url, maildirs, args)
                if run is None:
                    print(f"{kind}: FAILED")
                    break
                runs.append(run)
            if not runs:
                continue
            ingest = sorted(r["ingest_rate"] for r in runs)
            total = sorted(r["rate"] for r in runs)
            label = f"{kind} x{replicas}" if replicas > 1 else kind
            print(
                f"{label:12s} rules={'off' if args.no_rules else 'on '} "
                f"stored={runs[0]['stored']}/{args.messages} runs={len(runs)}: ingest median "
                f"{statistics.median(ingest):,.0f} msg/s "
                f"(min {ingest[0]:,.0f}, max {ingest[-1]:,.0f}); "
                f"end-to-end median {statistics.median(total):,.0f} msg/s; "
                f"worker CPU median {statistics.median(r['cpu_ms'] for r in runs):.2f} ms/msg; "
                f"peak RSS {max(r['peak_rss_mib'] for r in runs):.0f} MiB"
            )
            verbs = runs[0]["statements"]
            print(
                f"             statements per message {runs[0]['per_message']:.1f} ("
                + ", ".join(
                    f"{v} {n / runs[0]['stored']:.2f}"
                    for v, n in sorted(verbs.items(), key=lambda kv: -kv[1])
                )
                + ")"
            )
            stages = sorted(runs[0]["stage_ms"].items(), key=lambda kv: -kv[1])
            print("             ms per message: " + ", ".join(f"{n} {v:.2f}" for n, v in stages))


if __name__ == "__main__":
    main()
