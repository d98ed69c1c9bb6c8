"""Latency end to end (issue 15.4): figures, never assertions.

From the moment a request arrives (a mail APPENDed to Dovecot, or a ticket created in the
HubSpot fake, which can call the webhook) to the moment crmbot has stored it, and to the
moment its enrichment (crmbot_priority) is written to the CRM fake (the HubSpot fake as sink).
Requests are delivered at a steady rate, then in one burst. Also: webhook signature checks
per second (HubSpot v3, Zendesk), and what a lost webhook costs (one poll interval).

Usage:
  python3 bench/bench_latency.py --mode imap [--idle] [--requests 1000] [--rate 10]
  python3 bench/bench_latency.py --mode hubspot [--webhooks | --no-webhooks] [--interval 5]
  python3 bench/bench_latency.py --signatures-only
`--idle` passes `idle: true` to the IMAP source (the IMAP IDLE setting); without it the
mailbox is polled every --interval seconds. With --webhooks the HubSpot source is polled
every 300 s and woken by each verified webhook.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
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

from bot.app import rules_provider  # noqa: E402
from bot.pipeline import Pipeline  # noqa: E402
from bot.registry import build_sink, build_source  # noqa: E402
from bot.stages import DEFAULT_STAGES  # noqa: E402
from bot.steering.http import Steering, SteeringServer  # noqa: E402
from bot.store import open_store  # noqa: E402
from bot.webhooks import WebhookReceiver  # noqa: E402
from bot.worker import Worker  # noqa: E402
from connectors.base import Batch  # noqa: E402
from tests.fakes.hubspot import FakeHubSpot  # noqa: E402
from tests.helpers.runtime import make_settings  # noqa: E402

SECRET = "bench-client-secret"
TOKEN = re.compile(rb"bench-(\d+)-(\d+)")
TOPICS = [
    ("Compteur bloqué", "Mon compteur ne tourne plus depuis hier soir."),
    ("Invoice charged twice", "I was charged twice for the November invoice."),
    ("Changement d'adresse", "Je déménage le 3, merci de mettre à jour mon adresse."),
    ("Power cut at the warehouse", "No electricity since this morning, production is down."),
    ("Résiliation du contrat", "Je souhaite résilier mon contrat au 31 décembre."),
]


class Clocks:
    """Arrival, stored and written times (epoch seconds) per request token."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrived: dict[str, float] = {}
        self.stored: dict[str, float] = {}
        self.written: dict[str, float] = {}

    def mark(self, table: dict[str, float], token: str, at: float) -> None:
        with self.lock:
            table.setdefault(token, at)


def _token(text: bytes | str | None) -> str | None:
    if text is None:
        return None
    raw = text.encode() if isinstance(text, str) else text
    found = TOKEN.search(raw)
    return found.group(0).decode() if found else None


class SinkHubSpot(FakeHubSpot):
    """The HubSpot fake, noting when a bench ticket first shows crmbot's enrichment."""

    clocks: Clocks

    def _seen(self, props: dict[str, Any]) -> None:
        if props.get("crmbot_priority"):
            token = _token(props.get("subject"))
            if token:
                self.clocks.mark(self.clocks.written, token, time.time())

    def _put(self, otype: str, props: dict[str, Any], *args: Any, **kw: Any) -> Any:
        obj = super()._put(otype, props, *args, **kw)
        if otype == "tickets":
            self._seen(obj.properties)
        return obj

    def _touch(self, obj: Any, changes: dict[str, Any]) -> None:
        super()._touch(obj, changes)
        self._seen(obj.properties)


def _record_stored(worker: Worker, clocks: Clocks) -> None:
    """Note the commit time of every record of every batch the worker stores."""
    inner = worker.process_batch

    def process_batch(name: str, batch: Batch) -> int:
        stored = inner(name, batch)
        now = time.time()
        for record in batch.records:
            token = _token(record.raw) or _token(str(record.fields.get("subject") or ""))
            if token:
                clocks.mark(clocks.stored, token, now)
        return stored

    worker.process_batch = process_batch  # type: ignore[method-assign]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _report(label: str, clocks: Clocks, tokens: list[str]) -> None:
    stored = [clocks.stored[t] - clocks.arrived[t] for t in tokens if t in clocks.stored]
    written = [clocks.written[t] - clocks.arrived[t] for t in tokens if t in clocks.written]
    print(
        f"{label}: arrival→stored p50 {_pct(stored, 0.5):.2f} s p95 {_pct(stored, 0.95):.2f} s "
        f"({len(stored)}/{len(tokens)}) · arrival→CRM written p50 {_pct(written, 0.5):.2f} s "
        f"p95 {_pct(written, 0.95):.2f} s ({len(written)}/{len(tokens)})",
        flush=True,
    )


def _report_calls(crm: FakeHubSpot) -> None:
    """The CRM calls so far, by route (what the write-back costs in HubSpot's rate limit)."""
    with crm._lock:
        counts = {k: n for k, n in crm.requests.items() if n}
    total = sum(counts.values())
    parts = ", ".join(f"{k.split(' ', 1)[1]} {n}" for k, n in sorted(counts.items()))
    print(f"  CRM calls so far: {total} ({parts})", flush=True)


def _until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _message(run: int, n: int) -> bytes:
    subject, body = TOPICS[n % len(TOPICS)]
    token = f"bench-{run}-{n}"
    return (
        f"From: Client {n} <client{run}x{n}@example.fr>\r\nTo: support@acme.example\r\n"
        f"Subject: {subject} {token}\r\nMessage-ID: <{token}@bench.example>\r\n"
        f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def _deliver(count: int, rate: float | None, send: Callable[[int], None]) -> None:
    """Call send(n) for n in range(count): at `rate` per second, or all at once (None)."""
    start = time.monotonic()
    for n in range(count):
        if rate:
            time.sleep(max(0.0, start + n / rate - time.monotonic()))
        send(n)


def run(args: argparse.Namespace) -> None:
    """One mode: a steady run, then a burst; prints p50/p95 of both latencies."""
    clocks = Clocks()
    with tempfile.TemporaryDirectory() as root, ExitStack() as stack:
        tmp = Path(root)
        url = f"sqlite:///{tmp / 'crmbot.db'}"
        if args.store == "postgres":
            from tests.helpers.stores import postgres_schema_url

            url = stack.enter_context(postgres_schema_url())
        store = open_store(url)
        SinkHubSpot.clocks = clocks
        crm = stack.enter_context(SinkHubSpot(search_lag=0.0, enforce_rate_limits=False))
        from connectors.hubspot.client import HubSpotApi
        from connectors.hubspot.setup import ensure_properties
        from tests.fakes.hubspot import settings_for

        ensure_properties(HubSpotApi("crm", settings_for(crm)))
        crm_conf = {
            "type": "hubspot",
            "base_url": crm.url,
            "token": crm.token,
            "search_lag_seconds": 0,
            "requests_per_10s": args.crm_per_10s,
        }
        if args.mode == "imap":
            dovecot = _dovecot(stack)
            source: dict[str, Any] = {
                "type": "imap",
                "host": "127.0.0.1",
                "port": dovecot.port,
                "security": "plain",
                "username": dovecot.username,
                "password": dovecot.password,
                "interval_seconds": args.interval,
                "write_back": "crm_out",
            }
            if args.idle:
                source["idle"] = True
            name = "mail"
        else:
            interval = 300 if args.webhooks else args.interval
            source = {**crm_conf, "interval_seconds": interval, "write_back": "crm_out"}
            if args.webhooks:
                source["webhook_secret"] = SECRET
            name = "crm"
        settings = make_settings(url, {name: source}, sinks={"crm_out": crm_conf})
        worker = Worker(
            settings,
            store,
            {name: build_source(name, settings.sources[name])},
            Pipeline(DEFAULT_STAGES),
            sinks={"crm_out": build_sink("crm_out", settings.sinks["crm_out"])[0]},
            rules=rules_provider(settings),
        )
        _record_stored(worker, clocks)
        sources = {n: (c.source, c.settings) for n, c in worker.sources.items()}
        receiver = WebhookReceiver.for_sources(sources, lambda n: worker.wake_source(n))
        http = SteeringServer(
            Steering(store, None, {}, settings, webhooks=receiver), "127.0.0.1", 0
        ).start()
        stack.callback(http.stop)
        if args.mode == "hubspot" and args.webhooks:
            sender = crm.send_webhooks(http.url + "/webhooks/hubspot/crm", SECRET)
            stack.callback(sender.close)
        thread = threading.Thread(target=worker.run_forever, daemon=True)
        thread.start()
        _until(lambda: worker.sources[name].health.polls >= 1, 60)

        def send(run_id: int) -> Callable[[int], None]:
            def one(n: int) -> None:
                token = f"bench-{run_id}-{n}"
                if args.mode == "imap":
                    raw = _message(run_id, n)
                    dovecot.append("INBOX", raw)
                else:
                    subject, body = TOPICS[n % len(TOPICS)]
                    crm.create_ticket(f"{subject} {token}", body)
                clocks.mark(clocks.arrived, token, time.time())

            return one

        label = args.mode + (
            (" idle" if args.idle else f" polling every {args.interval:g} s")
            if args.mode == "imap"
            else (" webhooks" if args.webhooks else f" polling every {args.interval:g} s")
        )
        for run_id, (pattern, rate) in enumerate((("steady", args.rate), ("burst", None)), 1):
            tokens = [f"bench-{run_id}-{n}" for n in range(args.requests)]
            _deliver(args.requests, rate, send(run_id))
            _until(lambda t=tokens: all(x in clocks.written for x in t), args.timeout)
            _report(f"{label}, {args.requests} {pattern}", clocks, tokens)
            _report_calls(crm)
        worker.stop_event.set()
        thread.join(timeout=120)
        store.dispose()


def _dovecot(stack: ExitStack) -> Any:
    from tests.servers.dovecot import DovecotServer, find_dovecot, free_port

    binary = find_dovecot()
    if binary is None:
        raise SystemExit("dovecot is not installed")
    root = Path(tempfile.mkdtemp(prefix="crmbot-bench-dovecot-"))
    root.chmod(0o755)
    server = DovecotServer(root, free_port(), binary=binary)
    server.start()
    stack.callback(server.stop)
    return server


def signature_checks(seconds: float = 2.0) -> None:
    """Webhook signature checks per second (one thread), HubSpot v3 and Zendesk."""
    from connectors.hubspot.webhook import HubSpotWebhook, signature_v3
    from connectors.kit.webhooks import WebhookRequest
    from connectors.zendesk.webhook import ZendeskWebhook, signature

    events = [
        {"eventId": i, "subscriptionType": "ticket.creation", "objectId": 1000 + i}
        for i in range(10)
    ]
    body = json.dumps(events).encode()
    url = "https://crm.example/webhooks/hubspot/crm"
    stamp_ms = str(int(time.time() * 1000))
    stamp_iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    checks: list[tuple[str, Any, WebhookRequest]] = [
        (
            "hubspot v3",
            HubSpotWebhook(SECRET),
            WebhookRequest(
                "POST",
                url,
                {
                    "x-hubspot-signature-v3": signature_v3(SECRET, "POST", url, body, stamp_ms),
                    "x-hubspot-request-timestamp": stamp_ms,
                },
                body,
                time.time(),
            ),
        ),
        (
            "zendesk",
            ZendeskWebhook(SECRET),
            WebhookRequest(
                "POST",
                url,
                {
                    "x-zendesk-webhook-signature": signature(SECRET, stamp_iso, body),
                    "x-zendesk-webhook-signature-timestamp": stamp_iso,
                },
                body,
                time.time(),
            ),
        ),
    ]
    for label, checker, request in checks:
        rounds = []
        for _ in range(5):
            n, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds / 5:
                checker.verify(request)
                n += 1
            rounds.append(n / (time.perf_counter() - start))
        print(f"signature checks ({label}, {len(body)} B body): "
              f"{statistics.median(rounds):,.0f} per second (median of 5)", flush=True)  # fmt: skip


def main() -> None:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["imap", "hubspot"], default="hubspot")
    parser.add_argument("--idle", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--webhooks", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=10.0, help="steady requests per second")
    parser.add_argument("--interval", type=float, default=5.0, help="poll interval (seconds)")
    parser.add_argument("--crm-per-10s", type=int, default=190, help="HubSpot's pro limit")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--signatures-only", action="store_true")
    args = parser.parse_args()
    signature_checks()
    if args.signatures_only:
        return
    if args.mode == "hubspot" and not args.webhooks:
        print(f"a lost webhook costs one poll interval: up to {args.interval:g} s here, "
              "300 s with the webhook settings", flush=True)  # fmt: skip
    run(args)


if __name__ == "__main__":
    main()
