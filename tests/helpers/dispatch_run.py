"""Run `crmbot run` as a subprocess on a Maildir with acknowledgements to a real SMTP server,
kill -9 it at random points while it dispatches, then let it finish; count what arrived.

Shared by tests/test_dispatch_exactly_once.py and bench/bench_dispatch.py.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select

from bot.store import Store, open_store
from bot.store.schema import audit, case_requests, outbox, quarantine, requests
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.servers.smtp import PASSWORD, USERNAME, SmtpServer


@dataclass(frozen=True)
class Figures:
    """What the SMTP server received for the acknowledgements the outbox planned."""

    requests: int  # requests stored (one per message)
    acks: int  # send_reply rows in the outbox
    sent: int  # messages the SMTP server accepted
    unique: int  # distinct Message-IDs among them
    duplicates: int  # sent - unique
    dead: int  # outbox rows given up on
    lost: int  # acknowledgements planned but never received, plus requests never acknowledged
    kills: int  # kill -9 actually delivered while the worker ran
    unacknowledged: int = 0  # requests stored without an acknowledgement planned for them
    quarantined: int = 0  # items quarantined (a kill -9 while handled alone counts as poison)
    why: tuple[str, ...] = ()  # for each unacknowledged request: what the store says of it

    def line(self) -> str:
        """One line for a report."""
        return (
            f"requests={self.requests} acks={self.acks} sent={self.sent} unique={self.unique} "
            f"duplicates={self.duplicates} dead={self.dead} lost={self.lost} kills={self.kills} "
            f"unacknowledged={self.unacknowledged}"
        )


def fill_maildir(root: Path, n: int) -> Path:
    """A Maildir with `n` new requests from `n` different customers (one case each)."""
    maildir = make_maildir(root)
    for i in range(n):
        deliver(
            maildir,
            make_message(
                subject=f"Facture numéro {i} incorrecte",
                sender=f"Client {i} <client{i}@example.fr>",
                body=f"Bonjour, ma facture {i} est fausse : {100 + i} € au lieu de 95 €. Merci.",
            ),
        )
    return maildir


def write_settings(
    path: Path, maildir: Path, store_url: str, smtp_port: int, **dispatch: Any
) -> Path:
    """A settings file: the Maildir source, the SMTP sink (no rate limit), JSON logs."""
    path.write_text(
        yaml.safe_dump(
            {
                "store": {"url": store_url},
                "log": {"format": "json", "level": "warning"},
                # Port 0: each worker's HTTP endpoint on a port of its own, so that replicas
                # (and tests run side by side) never fail at start on the default port.
                "http": {"port": 0},
                "worker": {"batch_size": 50, "tick_seconds": 0.2},
                "dispatch": {"lease_seconds": 3.0, **dispatch},
                "sources": {
                    "inbox": {"type": "maildir", "path": str(maildir), "interval_seconds": 1}
                },
                "sinks": {
                    "mail": {
                        "type": "smtp",
                        "host": "127.0.0.1",
                        "port": smtp_port,
                        "security": "plain",
                        "username": USERNAME,
                        "password": PASSWORD,
                        "from_address": "support@acme-energie.fr",
                        "timeout_seconds": 5,
                        "max_per_minute": 1_000_000,
                    }
                },
            }
        )
    )
    return path


def _requests(store: Store) -> int:
    try:
        with store.connect() as conn:
            return conn.execute(select(func.count()).select_from(requests)).scalar_one()
    except Exception:  # tables not created yet
        return 0


def _outbox(store: Store) -> dict[str, int]:
    try:
        with store.connect() as conn:
            rows = conn.execute(
                select(outbox.c.state, func.count())
                .where(outbox.c.action == "send_reply")
                .group_by(outbox.c.state)
            )
            return {state: n for state, n in rows}
    except Exception:  # tables not created yet
        return {}


def unacknowledged(store: Store) -> list[str]:
    """Requests stored without a `send_reply` planned on their case (each mail of these
    scenarios opens its own case and is acknowledged once), each with what the store says:
    its case link and the case's audit events."""
    acked = select(outbox.c.case_id).where(outbox.c.action == "send_reply")
    found: list[str] = []
    with store.connect() as conn:
        rows = conn.execute(
            select(requests.c.id, requests.c.source_id, requests.c.case_id).where(
                requests.c.case_id.is_(None) | requests.c.case_id.not_in(acked)
            )
        ).all()
        for request_id, source_id, case_id in rows:
            links = conn.execute(
                select(case_requests.c.case_id, case_requests.c.relation).where(
                    case_requests.c.request_id == request_id
                )
            ).all()
            events = conn.execute(
                select(audit.c.event).where(audit.c.case_id == case_id).order_by(audit.c.id)
            ).scalars()
            found.append(
                f"request {request_id} ({source_id}) case {case_id} links {links} "
                f"events {list(events)}"
            )
    return found


def _wait(predicate: Any, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    return False


def run_with_kills(
    workdir: Path,
    server: SmtpServer,
    *,
    messages: int,
    kills: int,
    store_url: str | None = None,
    seed: int = 8,
    timeout: float = 240.0,
    jitter: float = 0.0,
    **dispatch: Any,
) -> Figures:
    """Ingest `messages` requests, kill -9 the worker `kills` times while it sends, finish.

    Each kill comes when the SMTP server has received a chosen number of messages, plus a
    random delay of up to `jitter` seconds: with no jitter the kill lands right after the
    server's 250, the worst moment (before the worker could mark that row done).
    """
    rng = random.Random(seed)
    maildir = fill_maildir(workdir / "inbox", messages)
    store_url = store_url or f"sqlite:///{workdir / 'crmbot.db'}"
    settings = write_settings(workdir / "crmbot.yaml", maildir, store_url, server.port, **dispatch)
    cmd = [sys.executable, "-m", "bot.cli", "run", "--settings", str(settings)]
    env = {**os.environ, "CRMBOT_SECRETS_DIR": str(workdir / "no-secrets")}
    targets = sorted(rng.sample(range(1, messages), kills)) if kills else []
    delivered = 0
    store: Store | None = None
    try:
        for target in targets:
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
            try:
                _wait(lambda t=target: len(server.messages) >= t, proc, timeout)
                time.sleep(rng.uniform(0, jitter))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    delivered += 1
            finally:
                proc.kill()
                proc.wait(timeout=30)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
        try:
            store = open_store(store_url, run_migrations=False) if store is None else store

            def finished() -> bool:
                if _requests(store) < messages:
                    return False
                states = _outbox(store)
                return bool(states) and not set(states) - {"done", "dead", "skipped"}

            time.sleep(1.0)  # let it poll the Maildir first
            _wait(finished, proc, timeout)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        states = _outbox(store)
        stored = _requests(store)
        missing = unacknowledged(store)
        with store.connect() as conn:
            quarantined = conn.execute(select(func.count()).select_from(quarantine)).scalar_one()
    finally:
        if store is not None:
            store.dispose()
    ids = Counter(m.message()["Message-ID"] for m in server.messages)
    acks = sum(states.values())
    sent = sum(ids.values())
    return Figures(
        requests=stored,
        acks=acks,
        sent=sent,
        unique=len(ids),
        duplicates=sent - len(ids),
        dead=states.get("dead", 0),
        lost=max(acks - len(ids), 0) + len(missing),
        kills=delivered,
        unacknowledged=len(missing),
        why=tuple(missing),
        quarantined=quarantined,
    )
