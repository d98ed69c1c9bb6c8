"""Reply discipline under a reply storm and a two-robot loop, through the real pipeline and SMTP.

Usage: python3 bench/bench_replies.py [--storm 1000] [--rounds 50]
- storm: N different mails from one sender plus 20 other customers, in one Maildir; prints
  mails in, replies planned, sent (to the flooder and to the others), suppressed by reason.
- loop: a robot that answers every reply it gets with a new mail (a fresh thread each time,
  the worst case), for `rounds` rounds; prints replies sent before the loop was cut.
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from bot.app import rules_provider  # noqa: E402
from bot.registry import build_sink  # noqa: E402
from bot.store import open_store  # noqa: E402
from bot.store.schema import audit  # noqa: E402
from tests.helpers.mail import deliver, make_maildir, make_message  # noqa: E402
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings  # noqa: E402
from tests.servers.smtp import PASSWORD, USERNAME, running_smtp  # noqa: E402


def _text(rng: random.Random) -> tuple[str, str]:
    words = ["".join(rng.choices("bcdfgklmnprstvz", k=3)) + "ou" for _ in range(10)]
    return " ".join(words[:3]).capitalize(), "Bonjour, " + " ".join(words) + ". Merci."


def _worker(root: Path, inbox: Path, port: int) -> tuple[Any, Any]:
    url = f"sqlite:///{root / 'bench.db'}"
    store = open_store(url)
    settings = make_settings(
        url,
        {"inbox": maildir_source(inbox)},
        sinks={
            "mail": {
                "type": "smtp",
                "host": "127.0.0.1",
                "port": port,
                "security": "plain",
                "username": USERNAME,
                "password": PASSWORD,
                "from_address": "support@acme-energie.fr",
                "timeout_seconds": 5,
            }
        },
        dedup={"similar_text": 0.99, "similar_text_same_category": 0.99},
        log={"level": "warning"},
    )
    sinks = {"mail": build_sink("mail", settings.sinks["mail"])[0]}
    return store, maildir_worker(settings, store, rules=rules_provider(settings), sinks=sinks)


def _suppressed(store: Any) -> collections.Counter[str]:
    with store.connect() as conn:
        details = conn.execute(select(audit.c.detail).where(audit.c.event == "reply_suppressed"))
        return collections.Counter(d["code"] for d in details.scalars())


def storm(count: int) -> None:
    """One sender's flood, and the other customers' replies."""
    rng = random.Random(3)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp, running_smtp() as server:
        inbox = make_maildir(Path(tmp) / "inbox")
        for i in range(count):
            subject, body = _text(rng)
            date = now - timedelta(minutes=30) + timedelta(seconds=i)
            deliver(
                inbox, make_message(subject=subject, body=body, sender="f@flood.example", date=date)
            )
        for i in range(20):
            subject, body = _text(rng)
            deliver(
                inbox,
                make_message(subject=subject, body=body, sender=f"c{i}@other.example", date=now),
            )
        store, worker = _worker(Path(tmp), inbox, server.port)
        worker.run_once()
        to = collections.Counter(parseaddr(m.message()["To"])[1] for m in server.messages)
        suppressed = _suppressed(store)
        store.dispose()
    others = sum(n for addr, n in to.items() if addr.endswith("@other.example"))
    print(
        f"storm: mails in {count + 20} ({count} from one sender), replies sent "
        f"{sum(to.values())} (flooder {to['f@flood.example']}, other customers {others}/20), "
        f"suppressed {sum(suppressed.values())} {dict(suppressed)}"
    )


def loop(rounds: int) -> None:
    """A robot that opens a new thread to answer each of our replies."""
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as tmp, running_smtp() as server:
        inbox = make_maildir(Path(tmp) / "inbox")
        subject, body = _text(rng)
        deliver(
            inbox,
            make_message(
                subject=subject, body=body, sender="robot@peer.example", date=datetime.now(UTC)
            ),
        )
        store, worker = _worker(Path(tmp), inbox, server.port)
        seen = 0
        for _ in range(rounds):
            worker.run_once()
            for _mail in server.messages[seen:]:
                subject, body = _text(rng)
                deliver(
                    inbox,
                    make_message(
                        subject=subject,
                        body=body,
                        sender="robot@peer.example",
                        date=datetime.now(UTC),
                    ),
                )
            seen = len(server.messages)
        suppressed = _suppressed(store)
        store.dispose()
    print(
        f"loop: {rounds} rounds, robot mails in {seen + 1}, replies sent {seen}, "
        f"suppressed {sum(suppressed.values())} {dict(suppressed)}"
    )


def main() -> None:
    """Run both scenarios and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--storm", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    storm(args.storm)
    loop(args.rounds)


if __name__ == "__main__":
    main()
