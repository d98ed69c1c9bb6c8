"""Isolation of the worker's threads (issue 8.5): figures, never assertions.

1. A CRM answering each request in --crm-delay seconds (the HubSpot fake, slowed) and a
   Maildir source on one worker: seconds from a mail's delivery to its storage.
2. A backlog of --backlog mails with an SMTP sink (aiosmtpd): seconds to the first
   acknowledgement sent, and to the whole backlog ingested.

Usage: python3 bench/bench_isolation.py [--crm-delay 5] [--backlog 2000] [--store sqlite|postgres]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bot.app import rules_provider  # noqa: E402
from bot.registry import build_sink  # noqa: E402
from bot.store import Store, open_store  # noqa: E402
from bot.store.schema import requests  # noqa: E402
from tests.fakes.hubspot import FakeHubSpot  # noqa: E402
from tests.helpers.mail import deliver, make_maildir, make_message  # noqa: E402
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings  # noqa: E402
from tests.servers.smtp import PASSWORD, USERNAME, running_smtp  # noqa: E402


class SlowHubSpot(FakeHubSpot):
    """Every request takes `delay` seconds."""

    delay = 5.0

    def handle(self, method: str, path: str, *args: Any) -> Any:
        """Sleep, then answer."""
        time.sleep(self.delay)
        return super().handle(method, path, *args)


def _count(store: Store) -> int:
    with store.connect() as conn:
        return conn.execute(select(func.count()).select_from(requests)).scalar_one()


def _until(condition: Callable[[], bool], timeout: float = 3600.0) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise TimeoutError
        time.sleep(0.01)
    return time.monotonic() - start


def _store_url(kind: str, stack: ExitStack, tmp: Path) -> str:
    if kind == "postgres":
        from tests.helpers.stores import postgres_schema_url

        return stack.enter_context(postgres_schema_url())
    return f"sqlite:///{tmp / 'crmbot.db'}"


def slow_crm(delay: float, kind: str) -> None:
    """Mail latency with a slow CRM on the same worker."""
    with tempfile.TemporaryDirectory() as root, ExitStack() as stack:
        tmp = Path(root)
        url = _store_url(kind, stack, tmp)
        store = open_store(url)
        inbox = make_maildir(tmp / "inbox")
        SlowHubSpot.delay = delay
        with SlowHubSpot(search_lag=0.0) as crm:
            conf = {
                "type": "hubspot",
                "base_url": crm.url,
                "token": crm.token,
                "search_lag_seconds": 0,
                "interval_seconds": 1,
            }
            settings = make_settings(
                url, {"crm": conf, "inbox": maildir_source(inbox)}, worker={"tick_seconds": 0.2}
            )
            worker = maildir_worker(settings, store)
            thread = threading.Thread(target=worker.run_forever, daemon=True)
            thread.start()
            time.sleep(1.5)  # the CRM poll is under way
            latencies = []
            for n in range(5):
                deliver(inbox, make_message(subject=f"Compteur bloqué {n}"))
                latencies.append(_until(lambda n=n: _count(store) == n + 1))
            worker.stop_event.set()
            thread.join()
        store.dispose()
    print(
        f"slow CRM ({delay:.0f} s per request), {kind}: mail delivery -> stored, "
        f"max {max(latencies):.2f} s, mean {sum(latencies) / len(latencies):.2f} s (5 mails)"
    )


def backlog(count: int, kind: str) -> None:
    """Time to the first acknowledgement and to the whole backlog ingested."""
    with tempfile.TemporaryDirectory() as root, ExitStack() as stack, running_smtp() as smtp:
        tmp = Path(root)
        url = _store_url(kind, stack, tmp)
        store = open_store(url)
        inbox = make_maildir(tmp / "inbox")
        for i in range(count):
            deliver(
                inbox,
                make_message(
                    subject=f"Facture fausse n°{i}",
                    body=f"Bonjour, ma facture {10_000 + i} est fausse : {i} € au lieu de 95 €.",
                    sender=f"client{i}@client.example",
                ),
            )
        sink = {
            "type": "smtp",
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": "plain",
            "username": USERNAME,
            "password": PASSWORD,
            "from_address": "support@acme-energie.fr",
            "max_per_minute": 1_000_000,
        }
        settings = make_settings(
            url,
            {"inbox": maildir_source(inbox)},
            sinks={"mail": sink},
            worker={"batch_size": 100, "tick_seconds": 0.2},
        )
        worker = maildir_worker(
            settings,
            store,
            rules=rules_provider(settings),
            sinks={"mail": build_sink("mail", settings.sinks["mail"])[0]},
        )
        thread = threading.Thread(target=worker.run_forever, daemon=True)
        start = time.monotonic()
        thread.start()
        first_ack = _until(lambda: len(smtp.messages) > 0)
        stored_then = _count(store)
        ingested = _until(lambda: _count(store) == count) + first_ack
        _until(lambda: len(smtp.messages) >= count)
        worker.stop_event.set()
        thread.join()
        store.dispose()
        total = time.monotonic() - start
    print(
        f"backlog of {count} mails, {kind}: first acknowledgement after {first_ack:.2f} s "
        f"({stored_then} stored by then), all ingested after {ingested:.2f} s, "
        f"all {count} acknowledged after {total:.2f} s"
    )


def main() -> None:
    """Run both measurements."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--crm-delay", type=float, default=5.0)
    parser.add_argument("--backlog", type=int, default=2000)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    slow_crm(args.crm_delay, args.store)
    backlog(args.backlog, args.store)


if __name__ == "__main__":
    main()
