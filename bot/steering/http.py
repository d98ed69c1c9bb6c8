"""The worker's HTTP endpoint: /healthz, /readyz, /metrics and the status page at /.

Standard library `http.server` in a daemon thread; every answer is read-only, except the
signed CRM webhooks POSTed under /webhooks/, which only wake a source (bot/webhooks.py). It
listens on 127.0.0.1 unless `http.host` says otherwise.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.errors import ConfigError
from bot.steering.cache import SingleFlight
from bot.steering.metrics import StoreCollector, build_registry
from bot.store import Store
from bot.store import kpi as kpi_store

log = structlog.get_logger(__name__)
SUMMARY_SECONDS = 5.0


@dataclass(slots=True)
class Steering:
    """What the endpoint serves from: the store, rules, the sources' intervals, settings."""

    store: Store
    rules: Callable[[], Any] | None
    intervals: dict[str, float]  # source name -> poll interval in seconds
    settings: Any  # bot.settings.Settings
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    collector: StoreCollector | None = None
    # the open backlog summed, shared by the page and /metrics (one read per few seconds)
    summary_cache: SingleFlight[dict[str, Any]] = field(
        default_factory=lambda: SingleFlight(SUMMARY_SECONDS)
    )

    def summary(self) -> dict[str, Any]:
        """The open cases summed (kpi_store.open_summary) at the clock's time, read from the
        store at most every SUMMARY_SECONDS; concurrent callers share one read."""

        def read() -> dict[str, Any]:
            from bot.steering.page import start_of_day

            now = self.clock()
            at_risk = timedelta(hours=self.settings.steering.at_risk_hours)
            with self.store.connect() as conn:
                return kpi_store.open_summary(conn, now, at_risk, start_of_day(self, now))

        return self.summary_cache.get(read)

    webhooks: Any = None  # bot.webhooks.WebhookReceiver: POST /webhooks/<vendor>/<source>

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """(ready, details): store reachable, rules loaded, each source polled in time."""
        now = self.clock()
        details: dict[str, Any] = {"store": "ok", "rules": "ok", "sources": {}}
        ready = True
        states: dict[str, dict[str, Any]] = {}
        try:
            with self.store.connect() as conn:
                kpi_store.ping(conn)
                states = {s["source"]: s for s in kpi_store.source_health(conn)}
        except Exception as exc:  # any store failure means not ready
            details["store"] = f"unreachable: {type(exc).__name__}"
            ready = False
        try:
            if self.rules is None or self.rules() is None:
                raise LookupError("no rules")
        except Exception as exc:
            details["rules"] = f"not loaded: {type(exc).__name__}"
            ready = False
        for name, interval in sorted(self.intervals.items()):
            limit = timedelta(seconds=3 * interval)
            polled = (states.get(name) or {}).get("polled_at")
            if polled is not None and now - polled <= limit:
                details["sources"][name] = "ok"
            else:
                details["sources"][name] = "late" if polled else "never polled"
                ready = False
        return ready, details


def _handler(steering: Steering, registry: Any) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "crmbot"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http_request", path=self.path.split("?")[0], status=args[1] if args else "")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, data: Any) -> None:
            self._send(status, json.dumps(data).encode(), "application/json")

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_POST(self) -> None:
            self._webhook()

        def _webhook(self) -> None:
            path = urlsplit(self.path).path
            if steering.webhooks is None or not steering.webhooks.handles(path):
                self._json(404 if self.command == "POST" else 405, {"error": "not found"})
                return
            scheme = self.headers.get("X-Forwarded-Proto") or "http"
            url = f"{scheme}://{self.headers.get('Host') or 'localhost'}{self.path}"
            status, answer = steering.webhooks.receive(
                self.command, self.path, dict(self.headers.items()), self.rfile.read, url
            )
            self._json(status, answer)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path.startswith("/webhooks/"):
                self._webhook()
                return
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            try:
                if url.path == "/healthz":
                    self._json(200, {"status": "alive"})
                elif url.path == "/readyz":
                    ready, details = steering.readiness()
                    self._json(200 if ready else 503, {"ready": ready, **details})
                elif url.path == "/metrics":
                    self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif url.path == "/":
                    from bot.steering.page import render_status_page

                    html = render_status_page(
                        steering, query.get("lang"), self.headers.get("Accept-Language")
                    )
                    self._send(200, html.encode(), "text/html; charset=utf-8")
                elif url.path == "/forecast.json":
                    from bot.steering.forecast import current_forecast

                    self._json(200, current_forecast(steering).to_dict())
                else:
                    self._json(404, {"error": "not found"})
            except Exception as exc:
                log.warning("http_request_failed", path=url.path, error=type(exc).__name__)
                self._json(500, {"error": type(exc).__name__})

    return Handler


class SteeringServer:
    """The endpoint running in a daemon thread; `stop()` shuts it down."""

    def __init__(self, steering: Steering, host: str, port: int) -> None:
        if steering.collector is None:
            steering.collector = StoreCollector(
                steering.store,
                at_risk_hours=steering.settings.steering.at_risk_hours,
                forecast=lambda: _forecast_or_none(steering),
                summary=steering.summary,
            )
        registry = build_registry(steering.collector)
        from bot.latency import register_live_metrics

        register_live_metrics(registry)
        self.registry = registry
        self.steering = steering
        self.httpd = ThreadingHTTPServer((host, port), _handler(steering, registry))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="crmbot-http", daemon=True
        )
        self.background: list[Any] = []  # e.g. the overflow loop, stopped with the server

    @property
    def url(self) -> str:
        """The base URL it listens on."""
        host, port = self.httpd.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://{name}:{port}"

    def start(self) -> SteeringServer:
        """Start serving in the background, and warm the page's data (see `warm_up`)."""
        self.thread.start()
        log.info("http_started", url=self.url)
        threading.Thread(target=self.warm_up, name="crmbot-http-warm-up", daemon=True).start()
        return self

    def warm_up(self) -> None:
        """Read once what the page and /metrics keep (reply latencies, arrival rates, the
        forecast), so that the first person to open the page does not pay for it."""
        from bot.steering.page import render_status_page

        started = time.monotonic()
        try:
            render_status_page(self.steering, None, None)
            generate_latest(self.registry)
        except Exception as exc:  # a store still down: the first request reads it then
            log.warning("steering_warm_up_failed", error=type(exc).__name__)
            return
        log.debug("steering_warmed_up", seconds=round(time.monotonic() - started, 3))

    def stop(self) -> None:
        """Stop serving and close the socket."""
        for job in self.background:
            job.stop()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def _forecast_or_none(steering: Steering) -> Any:
    try:
        from bot.steering.forecast import current_forecast

        return current_forecast(steering)
    except Exception as exc:  # the forecast must never break a scrape
        log.warning("forecast_failed", error=type(exc).__name__)
        return None


def serve(runtime: Any, wake_source: Callable[[str], bool] | None = None) -> SteeringServer | None:
    """Start the endpoint for a built runtime when `http.enabled` (the `run` command's hook).

    `wake_source(name)` polls a source at once: verified webhooks call it.
    """
    from bot.steering import registry

    settings = runtime.settings
    registry.register_runtime(
        {**{n: s for n, (s, _) in runtime.sources.items()}, **runtime.sinks}, runtime.rules
    )
    if not settings.http.enabled:
        return None
    steering = Steering(
        store=runtime.store,
        rules=runtime.rules,
        intervals={n: float(c.interval_seconds) for n, (_, c) in runtime.sources.items()},
        settings=settings,
    )
    if wake_source is not None:
        from bot.webhooks import WebhookReceiver

        steering.webhooks = WebhookReceiver.for_sources(runtime.sources, wake_source)
    try:
        server = SteeringServer(steering, settings.http.host, settings.http.port)
    except OSError as exc:
        raise ConfigError(
            f"http.host/http.port: cannot listen on {settings.http.host}:{settings.http.port}"
            f" ({exc.strerror})"
        ) from exc
    server.start()
    if settings.overflow.enabled:
        from bot.steering.overflow import OverflowLoop

        server.background.append(OverflowLoop(steering).start())
    return server
