"""Fault scenarios: each one function, run small by tests/test_faults.py and at full scale by
bench/bench_faults.py. Each returns a `Report`: messages in, stored, quarantined, lost (must
be 0) and effects sent twice (by SMTP Message-ID at the server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.store import Store, open_store
from bot.store.schema import outbox, quarantine, requests
from tests.faults.proxy import FaultProxy, fault_proxy
from tests.helpers.dispatch_run import (
    fill_maildir,
    run_with_kills,
    unacknowledged,
    write_settings,
)
from tests.helpers.hostile import CORPUS
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.servers.smtp import SmtpServer


@dataclass(frozen=True)
class Report:
    """What one scenario measured."""

    scenario: str
    messages_in: int
    stored: int
    quarantined: int
    lost: int  # messages neither stored nor quarantined, plus acknowledgements never sent
    effects_twice: int  # SMTP messages received more than once (same Message-ID)
    seconds: float
    notes: dict[str, Any] = field(default_factory=dict)

    def row(self) -> str:
        """One Markdown table row."""
        notes = ", ".join(f"{k}={v}" for k, v in self.notes.items())
        return (
            f"| {self.scenario} | {self.messages_in} | {self.stored} | {self.quarantined} | "
            f"{self.lost} | {self.effects_twice} | {self.seconds:.1f} | {notes} |"
        )


HEADER = (
    "| scenario | in | stored | quarantined | lost | sent twice | seconds | notes |\n"
    "|---|---|---|---|---|---|---|---|"
)


def _count(store: Store, table: Any, *where: Any) -> int:
    try:
        with store.connect() as conn:
            return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
    except Exception:  # tables not there yet, or the store unreachable for now
        return -1


def _states(store: Store) -> dict[str, int]:
    try:
        with store.connect() as conn:
            rows = conn.execute(
                select(outbox.c.state, func.count())
                .where(outbox.c.action == "send_reply")
                .group_by(outbox.c.state)
            )
            return {state: n for state, n in rows}
    except Exception:
        return {}


def _duplicates(server: SmtpServer) -> tuple[int, int]:
    ids = Counter(m.message()["Message-ID"] for m in server.messages)
    return len(ids), sum(ids.values()) - len(ids)


class _SmtpThroughProxy:
    """Looks like the SmtpServer to run_with_kills, but points the worker at the proxy."""

    def __init__(self, server: SmtpServer, proxy: FaultProxy) -> None:
        self.port = proxy.port
        self.messages = server.messages


def kill9_with_acks(
    workdir: Path,
    server: SmtpServer,
    *,
    messages: int,
    kills: int,
    store_url: str | None = None,
    seed: int = 8,
) -> Report:
    """kill -9 the worker at random `kills` times while it acknowledges `messages` mails,
    the SMTP connection going through the fault proxy with a little latency."""
    started = time.monotonic()
    with fault_proxy("127.0.0.1", server.port) as proxy:
        proxy.passthrough(latency=0.001)
        figures = run_with_kills(
            workdir,
            _SmtpThroughProxy(server, proxy),  # type: ignore[arg-type]
            messages=messages,
            kills=kills,
            store_url=store_url,
            seed=seed,
            jitter=0.05,
            timeout=600,
            batch_size=20,
        )
    return Report(
        scenario=f"kill -9 x{kills} during acks",
        messages_in=messages,
        stored=figures.requests,
        quarantined=figures.quarantined,
        lost=max(messages - figures.requests - figures.quarantined, 0) + figures.lost,
        effects_twice=figures.duplicates,
        seconds=time.monotonic() - started,
        notes={
            "kills": figures.kills,
            "acks": figures.acks,
            "dead": figures.dead,
            "unacknowledged": figures.unacknowledged,
            **({"why": "; ".join(figures.why)} if figures.why else {}),
        },
    )


def _worker(settings: Path, workdir: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "bot.cli", "run", "--settings", str(settings)]
    env = {**os.environ, "CRMBOT_SECRETS_DIR": str(workdir / "no-secrets")}
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(workdir / "worker.log", "ab")
    )


def _wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def postgres_unreachable(
    workdir: Path,
    server: SmtpServer,
    pg_url: str,
    *,
    messages: int,
    blackhole_seconds: float,
    reset_seconds: float,
    timeout: float = 300.0,
) -> Report:
    """The worker's PostgreSQL goes through the proxy: half the mail is processed, then the
    store is a black hole, then resets every connection, while the other half arrives; then
    it comes back. Everything must be stored and acknowledged once."""
    started = time.monotonic()
    host_port = pg_url.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    with fault_proxy(host, int(port)) as proxy:
        proxied = pg_url.replace(f"@{host_port}/", f"@127.0.0.1:{proxy.port}/", 1)
        # connect_timeout so a black hole is noticed; the direct URL is used for counting
        proxied += "&connect_timeout=2"
        first = messages // 2
        maildir = fill_maildir(workdir / "inbox", first)
        settings = write_settings(workdir / "crmbot.yaml", maildir, proxied, server.port)
        store = open_store(pg_url, run_migrations=False)
        proc = _worker(settings, workdir)
        try:
            _wait(lambda: _count(store, requests) >= first, timeout)
            proxy.blackhole()
            for i in range(first, messages):
                deliver(
                    maildir,
                    make_message(
                        subject=f"Facture numéro {i} incorrecte",
                        sender=f"Client {i} <client{i}@example.fr>",
                        body=f"Bonjour, ma facture {i} est fausse : {100 + i} €. Merci.",
                    ),
                )
            time.sleep(blackhole_seconds)
            proxy.reset()
            time.sleep(reset_seconds)
            proxy.passthrough()

            def finished() -> bool:
                states = _states(store)
                return (
                    _count(store, requests) >= messages
                    and sum(states.values()) >= messages
                    and not set(states) - {"done", "dead", "skipped"}
                )

            _wait(finished, timeout)
            crashed = proc.poll()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            stored = _count(store, requests)
            quarantined = _count(store, quarantine)
            states = _states(store)
            missing = unacknowledged(store)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
            store.dispose()
        counters = proxy.counters
    unique, twice = _duplicates(server)
    acks = sum(states.values())
    return Report(
        scenario=f"PostgreSQL black hole {blackhole_seconds:g}s then resets {reset_seconds:g}s",
        messages_in=messages,
        stored=stored,
        quarantined=quarantined,
        lost=max(messages - stored - quarantined, 0) + max(acks - unique, 0) + len(missing),
        effects_twice=twice,
        seconds=time.monotonic() - started,
        notes={
            "worker_exited_early": crashed is not None,
            "acks": acks,
            "dead": states.get("dead", 0),
            "proxy_resets": counters.reset,
            "blackholed": counters.blackholed,
        },
    )


def hostile_corpus(workdir: Path, *, scale: str = "small", normal: int = 10) -> Report:
    """Every hostile mail of tests/helpers/hostile.py (small or full size) between normal
    mails in one Maildir, through `crmbot run --once` with a small item budget: every mail
    must be stored or quarantined, the worker must not crash."""
    started = time.monotonic()
    maildir = make_maildir(workdir / "inbox")
    count = 0
    for i in range(normal):
        deliver(
            maildir,
            make_message(
                subject=f"Question {i}",
                sender=f"Client {i} <client{i}@example.fr>",
                body=f"Bonjour, où en est ma demande {i} ?",
            ),
        )
        count += 1
    for builder, full, small in CORPUS.values():
        deliver(maildir, builder(small if scale == "small" else full))
        count += 1
    url = f"sqlite:///{workdir / 'crmbot.db'}"
    settings = workdir / "crmbot.yaml"
    import yaml

    settings.write_text(
        yaml.safe_dump(
            {
                "store": {"url": url},
                "log": {"format": "json", "level": "warning"},
                "budget": {"item_max_bytes": 8 * 1024 * 1024, "item_seconds": 20},
                "sources": {"inbox": {"type": "maildir", "path": str(maildir)}},
            }
        )
    )
    cmd = [sys.executable, "-m", "bot.cli", "run", "--once", "--settings", str(settings)]
    env = {**os.environ, "CRMBOT_SECRETS_DIR": str(workdir / "no-secrets")}
    done = subprocess.run(cmd, env=env, capture_output=True, timeout=600)
    store = open_store(url, run_migrations=False)
    try:
        stored = _count(store, requests)
        quarantined = _count(store, quarantine)
    finally:
        store.dispose()
    return Report(
        scenario=f"hostile corpus ({scale}) + {normal} normal",
        messages_in=count,
        stored=stored,
        quarantined=quarantined,
        lost=max(count - stored - quarantined, 0),
        effects_twice=0,
        seconds=time.monotonic() - started,
        notes={"exit_code": done.returncode},
    )


def _note_duplicates(fake: Any, tickets: list[str]) -> tuple[int, int]:
    """(notes, notes whose body is on the same ticket more than once)."""
    notes = twice = 0
    for tid in tickets:
        bodies = Counter(fake.notes_for_ticket(tid))
        notes += sum(bodies.values())
        twice += sum(n - 1 for n in bodies.values())
    return notes, twice


def _later_versions(store: Store) -> list[str]:
    """For a CRM ticket stored more than once: what each later version changed, of what
    crmbot reads (so that a failing run says why it stored a version again)."""
    with store.connect() as conn:
        rows = conn.execute(
            select(
                requests.c.id,
                requests.c.case_id,
                requests.c.thread_key,
                requests.c.subject,
                requests.c.body_hash,
                requests.c.headers,
                requests.c.created_at,
            ).order_by(requests.c.id)
        ).all()
        done = conn.execute(
            select(outbox.c.case_id, outbox.c.action, outbox.c.state, outbox.c.updated_at)
        ).all()
    last: dict[str, Any] = {}
    out = []
    for row in rows:
        before = last.get(row.thread_key)
        last[row.thread_key] = row
        if before is None:
            continue
        changed = [
            f"{name}: {getattr(before, name)!r} -> {getattr(row, name)!r}"
            for name in ("subject", "body_hash")
            if getattr(before, name) != getattr(row, name)
        ]
        old, new = before.headers or {}, row.headers or {}
        changed += [
            f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
            for k in ("status", "priority")
            if old.get(k) != new.get(k)
        ]
        writes = [
            f"{d.action} {d.state} {d.updated_at:%H:%M:%S.%f}"
            for d in done
            if d.case_id == before.case_id
        ]
        out.append(
            f"{row.thread_key} #{row.id} at {row.created_at:%H:%M:%S.%f} after "
            f"#{before.id} at {before.created_at:%H:%M:%S.%f}: {'; '.join(changed)} "
            f"(outbox now: {', '.join(writes[:8])})"
        )
    return out


def crm_429_and_resets(
    store_url: str,
    *,
    tickets: int,
    share_429: float = 0.3,
    reset_every: float = 0.5,
    timeout: float = 300.0,
) -> Report:
    """HubSpot tickets read and written back through the TCP fault proxy while `share_429`
    of the fake's answers are 429 with Retry-After and every open connection is reset each
    `reset_every` seconds. Every ticket must be stored, every write-back done, no note twice."""
    import threading

    from bot.app import rules_provider
    from bot.pipeline import Pipeline
    from bot.registry import build_sink, build_source
    from bot.stages import DEFAULT_STAGES
    from bot.worker import Worker
    from connectors.hubspot.client import HubSpotApi
    from connectors.hubspot.setup import ensure_properties
    from tests.fakes.hubspot import FakeHubSpot, settings_for
    from tests.helpers.runtime import make_settings

    started = time.monotonic()
    store = open_store(store_url)
    with FakeHubSpot(search_lag=0.0) as fake:
        ensure_properties(HubSpotApi("crm", settings_for(fake)))
        ids = []
        for i in range(tickets):
            contact = fake.create_contact(f"client{i}@client.example", "Claire", f"Durand{i}")
            ids.append(
                fake.create_ticket(
                    f"Mise en demeure - facture {i} contestée",
                    f"Sans correction de la facture {i} sous 8 jours, mon avocat saisira le "
                    "tribunal.",
                    contact_id=contact,
                )
            )
        port = int(fake.url.rsplit(":", 1)[1].split("/", 1)[0])
        with fault_proxy("127.0.0.1", port) as proxy:
            url = fake.url.replace(f":{port}", f":{proxy.port}", 1)
            conf = {
                "type": "hubspot",
                "base_url": url,
                "token": fake.token,
                "search_lag_seconds": 0,
                "interval_seconds": 1,
            }
            settings = make_settings(
                store_url,
                {"crm": {**conf, "write_back": "crm_out"}},
                sinks={"crm_out": conf},
                dispatch={"lease_seconds": 5.0},
            )
            worker = Worker(
                settings,
                store,
                {"crm": build_source("crm", settings.sources["crm"])},
                Pipeline(DEFAULT_STAGES),
                sinks={"crm_out": build_sink("crm_out", settings.sinks["crm_out"])[0]},
                rules=rules_provider(settings),
            )
            fake.fault_share, fake.fault_statuses = share_429, (429,)
            stop = threading.Event()

            def resets() -> None:
                while not stop.wait(reset_every):
                    proxy.drop_all()

            resetter = threading.Thread(target=resets, daemon=True)
            resetter.start()
            deadline = time.monotonic() + timeout
            failed_runs = 0
            try:
                while time.monotonic() < deadline:
                    try:
                        worker.run_once()
                    except Exception:  # a run that fails is retried, and counted
                        failed_runs += 1
                    states = _all_states(store)
                    if (
                        _count(store, requests) >= tickets
                        and states
                        and not set(states) - {"done", "dead", "skipped"}
                    ):
                        break
                    time.sleep(0.2)
            finally:
                stop.set()
                resetter.join(timeout=5)
                fake.fault_share = 0.0
            resets_done = proxy.counters.reset
        stored = _count(store, requests)
        quarantined = _count(store, quarantine)
        states = _all_states(store)
        stored_again = _later_versions(store) if stored > tickets else []
        notes, twice = _note_duplicates(fake, ids)
        written = sum(1 for tid in ids if fake.ticket(tid).get("crmbot_priority"))
        injected = dict(fake.injected_faults)
    store.dispose()
    return Report(
        scenario=f"CRM {share_429:.0%} 429 + resets every {reset_every:g}s",
        messages_in=tickets,
        stored=stored,
        quarantined=quarantined,
        lost=max(tickets - stored - quarantined, 0) + (tickets - written),
        effects_twice=twice,
        seconds=time.monotonic() - started,
        notes={
            "written_back": written,
            "notes": notes,
            "outbox": states,
            "429s": injected.get(429, 0),
            "resets": resets_done,
            "failed_runs": failed_runs,
            **({"stored_again": stored_again[:3]} if stored_again else {}),
        },
    )


def _all_states(store: Store) -> dict[str, int]:
    try:
        with store.connect() as conn:
            rows = conn.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state))
            return {state: n for state, n in rows}
    except Exception:
        return {}


def replicas_with_kills(
    workdir: Path,
    server: SmtpServer,
    pg_url: str,
    *,
    messages: int,
    replicas: int = 3,
    kill_every: float = 3.0,
    seed: int = 8,
    timeout: float = 300.0,
) -> Report:
    """`replicas` workers share one PostgreSQL store, one Maildir and one SMTP sink; every
    `kill_every` seconds one of them, at random, is SIGKILLed and started again. The source
    is polled under a lease, outbox rows are claimed with SKIP LOCKED."""
    import random

    import yaml

    rng = random.Random(seed)
    started = time.monotonic()
    maildir = fill_maildir(workdir / "inbox", messages)
    base = yaml.safe_load(
        write_settings(workdir / "base.yaml", maildir, pg_url, server.port).read_text()
    )
    env = {**os.environ, "CRMBOT_SECRETS_DIR": str(workdir / "no-secrets")}
    upgrade = [sys.executable, "-m", "bot.cli", "db", "upgrade", "--settings"]
    subprocess.run([*upgrade, str(workdir / "base.yaml")], env=env, check=True, timeout=120)
    paths = []
    for i in range(replicas):
        conf = {
            **base,
            "store": {"url": pg_url, "auto_migrate": False},
            "worker": {**base["worker"], "instance_id": f"replica-{i}", "lease_seconds": 2.0},
        }
        path = workdir / f"replica-{i}.yaml"
        path.write_text(yaml.safe_dump(conf))
        paths.append(path)
    procs = [_worker(path, workdir) for path in paths]
    store = open_store(pg_url, run_migrations=False)
    kills = 0

    def finished() -> bool:
        states = _states(store)
        return (
            _count(store, requests) >= messages
            and sum(states.values()) >= messages
            and not set(states) - {"done", "dead", "skipped"}
        )

    try:
        deadline = time.monotonic() + timeout
        # the first kill as soon as the replicas dispatch, then one every `kill_every` s
        _wait(lambda: len(server.messages) >= 1, timeout)
        first = True
        while time.monotonic() < deadline and not finished():
            if not first:
                time.sleep(kill_every)
            first = False
            if finished():
                break
            victim = rng.randrange(replicas)
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait(timeout=30)
            kills += 1
            procs[victim] = _worker(paths[victim], workdir)
        _wait(finished, max(deadline - time.monotonic(), 1.0))
        stored = _count(store, requests)
        quarantined = _count(store, quarantine)
        states = _states(store)
        missing = unacknowledged(store)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        store.dispose()
    unique, twice = _duplicates(server)
    acks = sum(states.values())
    return Report(
        scenario=f"{replicas} replicas on PostgreSQL, one SIGKILLed every {kill_every:g}s",
        messages_in=messages,
        stored=stored,
        quarantined=quarantined,
        lost=max(messages - stored - quarantined, 0) + max(acks - unique, 0) + len(missing),
        effects_twice=twice,
        seconds=time.monotonic() - started,
        notes={"kills": kills, "acks": acks, "dead": states.get("dead", 0)},
    )


def full_disk(
    workdir: Path,
    server: SmtpServer,
    *,
    messages: int,
    disk_bytes: int = 2 * 1024 * 1024,
    body_bytes: int = 4000,
    full_seconds: float = 5.0,
    timeout: float = 300.0,
) -> Report:
    """The SQLite store lives on a small tmpfs (`mount -t tmpfs -o size=...`, needs root)
    that fills up while the worker ingests; after `full_seconds` the file system is grown
    (`mount -o remount,size=...`). Nothing may be lost or sent twice, the worker must not
    exit. Raises PermissionError when tmpfs cannot be mounted here."""
    disk = workdir / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={disk_bytes}", "tmpfs", str(disk)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        raise PermissionError(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    started = time.monotonic()
    try:
        maildir = make_maildir(workdir / "inbox")
        filler = "Détail de la facture, ligne après ligne. " * (body_bytes // 40 + 1)
        for i in range(messages):
            deliver(
                maildir,
                make_message(
                    subject=f"Facture numéro {i} incorrecte",
                    sender=f"Client {i} <client{i}@example.fr>",
                    body=f"Bonjour, ma facture {i} est fausse. {filler[:body_bytes]}",
                ),
            )
        url = f"sqlite:///{disk / 'crmbot.db'}"
        settings = write_settings(workdir / "crmbot.yaml", maildir, url, server.port)
        proc = _worker(settings, workdir)
        store = None
        try:
            # wait until the disk is full: the store stops growing while mail is left
            usage = 0
            deadline = time.monotonic() + timeout
            fill_deadline = time.monotonic() + min(timeout, 60.0)  # never filled: reported
            while time.monotonic() < fill_deadline:
                time.sleep(1.0)
                now = os.statvfs(disk)
                free = now.f_bavail * now.f_frsize
                log = (workdir / "worker.log").read_text(errors="replace")
                # SQLite rolls back on SQLITE_FULL, which frees pages: look at the log too
                if free < 64 * 1024 or "disk is full" in log or proc.poll() is not None:
                    break
                usage = free
            full_at_free = usage
            time.sleep(full_seconds)
            exited_while_full = proc.poll() is not None
            subprocess.run(
                ["mount", "-o", "remount,size=256m", str(disk)], check=True, capture_output=True
            )
            if proc.poll() is not None:  # it exited: count that, then start it again
                proc = _worker(settings, workdir)
            store = open_store(url, run_migrations=False)

            def finished() -> bool:
                states = _states(store)  # type: ignore[arg-type]
                return (
                    _count(store, requests) >= messages  # type: ignore[arg-type]
                    and sum(states.values()) >= messages
                    and not set(states) - {"done", "dead", "skipped"}
                )

            _wait(finished, max(deadline - time.monotonic(), 10.0))
            stored = _count(store, requests)
            quarantined = _count(store, quarantine)
            states = _states(store)
            missing = unacknowledged(store)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=30)
            if store is not None:
                store.dispose()
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
    log = (workdir / "worker.log").read_text(errors="replace")
    unique, twice = _duplicates(server)
    acks = sum(states.values())
    return Report(
        scenario=f"full disk (tmpfs {disk_bytes // 1024} KiB, full {full_seconds:g}s)",
        messages_in=messages,
        stored=stored,
        quarantined=quarantined,
        lost=max(messages - stored - quarantined, 0) + max(acks - unique, 0) + len(missing),
        effects_twice=twice,
        seconds=time.monotonic() - started,
        notes={
            "exited_while_full": exited_while_full,
            "disk_full_logged": "full" in log.lower(),
            "acks": acks,
            "dead": states.get("dead", 0),
            "free_before_full": full_at_free,
        },
    )
