"""Acknowledgements through kill -9: N messages, K random kills of the worker while it sends.

Usage: python3 bench/bench_dispatch.py [--messages 500] [--kills 10] [--store sqlite|postgres]
       [--jitter 0.05] [--seed 8]
Runs `crmbot run` on a Maildir of N requests (one acknowledgement each) against a local
aiosmtpd server, kills it with SIGKILL K times while it dispatches, then lets it finish, and
prints what the SMTP server received: sent, unique (Message-IDs), duplicates, dead, lost.
A kill comes when the server has taken a random number of messages, plus up to --jitter
seconds (0: right after the server's 250, the worst moment).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    """Parse the options, run, print the figures."""
    from tests.helpers.dispatch_run import run_with_kills
    from tests.helpers.stores import postgres_schema_url
    from tests.servers.smtp import running_smtp

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--jitter", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--lease-seconds", type=float, default=3.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="crmbot-bench-dispatch-"))
    started = time.monotonic()
    try:
        with ExitStack() as stack:
            url = stack.enter_context(postgres_schema_url()) if args.store == "postgres" else None
            server = stack.enter_context(running_smtp())
            figures = run_with_kills(
                workdir,
                server,
                messages=args.messages,
                kills=args.kills,
                store_url=url,
                seed=args.seed,
                jitter=args.jitter,
                timeout=600,
                batch_size=args.batch_size,
                lease_seconds=args.lease_seconds,
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"store={args.store} messages={args.messages} kills={args.kills} jitter={args.jitter}s "
        f"batch={args.batch_size} lease={args.lease_seconds}s "
        f"elapsed={time.monotonic() - started:.1f}s"
    )
    print(f"  {figures.line()}")


if __name__ == "__main__":
    main()
