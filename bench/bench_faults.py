"""The fault harness at full scale: every scenario of tests/faults/scenarios.py, one table.

Usage: python3 bench/bench_faults.py [--only NAME ...] [--messages 1000] [--kills 50]
Scenarios: kill9 (kill -9 at random during a run with acknowledgements, SMTP through the TCP
fault proxy), replicas (3 replicas on PostgreSQL, one SIGKILLed every few seconds), crm (30 %
of HubSpot answers 429 with Retry-After plus TCP resets through the proxy), postgres (the
store a black hole, then resetting, then back), disk (a full tmpfs under the SQLite store),
hostile (the full-size hostile corpus through the worker), replies (bench/bench_replies.py:
a reply storm and a two-bot loop). Each row: messages in, stored, quarantined, lost (must be
0), effects sent twice (SMTP Message-IDs at the server, HubSpot notes at the fake).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    """Run the chosen scenarios, print a Markdown table."""
    from tests.faults import scenarios as sc
    from tests.helpers.stores import postgres_schema_url
    from tests.servers.smtp import running_smtp

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--replica-messages", type=int, default=300)
    parser.add_argument("--kill-every", type=float, default=5.0)
    parser.add_argument("--tickets", type=int, default=100)
    parser.add_argument("--storm", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()

    def kill9(work: Path) -> sc.Report:
        with running_smtp() as server:
            return sc.kill9_with_acks(work, server, messages=args.messages, kills=args.kills)

    def replicas(work: Path) -> sc.Report:
        with postgres_schema_url() as url, running_smtp() as server:
            return sc.replicas_with_kills(
                work,
                server,
                url,
                messages=args.replica_messages,
                kill_every=args.kill_every,
                timeout=900,
            )

    def crm(work: Path) -> sc.Report:
        return sc.crm_429_and_resets(f"sqlite:///{work / 'crmbot.db'}", tickets=args.tickets)

    def postgres(work: Path) -> sc.Report:
        with postgres_schema_url() as url, running_smtp() as server:
            return sc.postgres_unreachable(
                work, server, url, messages=200, blackhole_seconds=15, reset_seconds=10
            )

    def disk(work: Path) -> sc.Report:
        with running_smtp() as server:
            return sc.full_disk(work, server, messages=500, disk_bytes=2 * 1024 * 1024)

    def hostile(work: Path) -> sc.Report:
        return sc.hostile_corpus(work, scale="full", normal=20)

    scenarios: dict[str, Callable[[Path], sc.Report]] = {
        "kill9": kill9,
        "replicas": replicas,
        "crm": crm,
        "postgres": postgres,
        "disk": disk,
        "hostile": hostile,
    }
    chosen = args.only or [*scenarios, "replies"]
    print(sc.HEADER, flush=True)
    for name in chosen:
        if name == "replies":
            continue
        work = Path(tempfile.mkdtemp(prefix=f"crmbot-bench-faults-{name}-"))
        try:
            print(scenarios[name](work).row(), flush=True)
        except Exception as exc:  # report the failure as a row, go on with the others
            print(f"| {name} | failed: {type(exc).__name__}: {exc} |", flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if "replies" in chosen:
        import bench_replies

        started = time.monotonic()
        bench_replies.storm(args.storm)
        bench_replies.loop(args.rounds)
        print(f"replies: {time.monotonic() - started:.1f}s", flush=True)


if __name__ == "__main__":
    main()
