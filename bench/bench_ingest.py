"""Messages per second from a Maildir into the store (parse, thread, decide, store), and peak RSS.

Usage: python3 bench/bench_ingest.py [--messages 10000] [--stores sqlite,postgres] [--no-rules]
       [--repeat 3]
Each store is measured in a fresh subprocess, so that peak memory is that run's alone.
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


def generate(maildir: Path, count: int, seed: int = 7) -> None:
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
        mid = f"bench-{i}@example.fr"
        raw = make_message(
            subject=("Re: " if reply_to else "") + subject,
            body=body,
            sender=f"{name} <client{rng.randrange(3000)}@example.fr>",
            message_id=mid,
            in_reply_to=reply_to,
        )
        ids.append(mid)
        (maildir / "new" / f"{1795400000 + i}.M{i}P1.bench").write_bytes(raw)


def run_child(url: str, maildir: str, rules: bool) -> None:
    """Ingest the whole Maildir once and print the figures as JSON."""
    from bot.logging import configure_logging
    from bot.pipeline import Pipeline
    from bot.registry import build_source
    from bot.settings import Settings
    from bot.stages import DEFAULT_STAGES
    from bot.store import open_store
    from bot.worker import Worker

    configure_logging("error", "json")
    settings = Settings(
        store={"url": url},
        worker={"batch_size": 200},
        sources={"bench": {"type": "maildir", "path": maildir}},
    )
    store = open_store(url)
    provider = None
    if rules:
        from bot.app import rules_provider

        provider = rules_provider(settings)
    spent: dict[str, float] = {}
    worker = Worker(
        settings,
        store,
        {"bench": build_source("bench", settings.sources["bench"])},
        Pipeline([_timed(stage, spent) for stage in DEFAULT_STAGES]),
        rules=provider,
    )
    start = time.perf_counter()
    stored = worker.run_once()
    elapsed = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    per_message = {name: 1000 * total / max(stored, 1) for name, total in spent.items()}
    print(
        json.dumps(
            {
                "stored": stored,
                "seconds": elapsed,
                "peak_rss_mib": peak_kib / 1024,
                "stage_ms": per_message,
            }
        )
    )


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
    return run


def _pg_url() -> str:
    import psycopg

    schema = f"bench_{os.getpid()}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"


def main() -> None:
    """Generate the Maildir once, then measure each store in a subprocess."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--no-rules", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("URL", "MAILDIR"))
    args = parser.parse_args()
    if args.child:
        run_child(args.child[0], args.child[1], not args.no_rules)
        return
    with tempfile.TemporaryDirectory(prefix="crmbot-bench-") as tmp:
        maildir = Path(tmp) / "maildir"
        t0 = time.perf_counter()
        generate(maildir, args.messages)
        print(f"generated {args.messages} messages in {time.perf_counter() - t0:.1f} s")
        for kind in args.stores.split(","):
            runs = []
            for _ in range(args.repeat):
                url = f"sqlite:///{tmp}/bench-{len(runs)}.db" if kind == "sqlite" else _pg_url()
                cmd = [sys.executable, __file__, "--child", url, str(maildir)]
                if args.no_rules:
                    cmd.append("--no-rules")
                out = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if out.returncode != 0:
                    print(f"{kind}: FAILED\n{out.stderr[-3000:]}")
                    break
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            if not runs:
                continue
            rates = sorted(r["stored"] / r["seconds"] for r in runs)
            median = statistics.median(rates)
            print(
                f"{kind:9s} rules={'off' if args.no_rules else 'on '} "
                f"stored={runs[0]['stored']} runs={len(runs)}: median {median:,.0f}"
                f" msg/s (min {rates[0]:,.0f}, max {rates[-1]:,.0f}), "
                f"peak RSS {max(r['peak_rss_mib'] for r in runs):.0f} MiB"
            )
            stages = sorted(runs[0]["stage_ms"].items(), key=lambda kv: -kv[1])
            print("          ms per message: " + ", ".join(f"{n} {v:.2f}" for n, v in stages))


if __name__ == "__main__":
    main()
