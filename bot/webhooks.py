"""The webhook receiver: POST /webhooks/<vendor>/<source name>, checked, then a wake-up.

A webhook is a hint, never data: a verified one wakes its source's poll at once (the
supervisor's `wake_source`), and the cursor poll stays the source of truth, so a lost, forged
or replayed webhook can neither lose nor inject anything. Each connector checks its vendor's
signature (`ConnectorSpec.webhook`: connectors/<vendor>/webhook.py); this module routes,
limits the body, refuses replays within the signature window, and answers:
200 accepted · 400 malformed · 401 forged or expired · 404 no such webhook · 405 not a POST ·
409 replayed · 411 no length · 413 too large.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from prometheus_client import Counter

from bot.errors import WebhookRefused
from connectors.kit.webhooks import ReplayGuard, WebhookRequest, WebhookVerifier

log = structlog.get_logger(__name__)
PREFIX = "/webhooks/"
MAX_BODY_BYTES = 1024 * 1024  # HubSpot sends at most 100 events a request: far below this
WEBHOOKS = Counter(
    "crmbot_webhooks",
    "Webhook requests, by source and outcome (accepted, or the reason refused).",
    ["source", "outcome"],
    registry=None,
)


class WebhookReceiver:
    """Routes signed webhooks to their connector's check and wakes the source they name."""

    def __init__(
        self,
        routes: dict[tuple[str, str], WebhookVerifier],
        wake: Callable[[str], bool],
        *,
        max_body: int = MAX_BODY_BYTES,
        clock: Callable[[], float] = time.time,
        guard: ReplayGuard | None = None,
    ) -> None:
        self.routes = routes
        self.wake = wake
        self.max_body = max_body
        self.clock = clock
        self.guard = guard or ReplayGuard()

    @classmethod
    def for_sources(
        cls, sources: Mapping[str, tuple[Any, Any]], wake: Callable[[str], bool]
    ) -> WebhookReceiver:
        """A receiver with a route for each configured source whose connector checks webhooks."""
        from bot.registry import get_connector

        routes: dict[tuple[str, str], WebhookVerifier] = {}
        for name, (_source, settings) in sources.items():
            spec = get_connector(settings.type)
            verifier = spec.webhook(name, settings) if spec.webhook is not None else None
            if verifier is not None:
                routes[(spec.name, name)] = verifier
        if routes:
            log.info("webhooks_listening", routes=sorted(f"{v}/{s}" for v, s in routes))
        return cls(routes, wake)

    @staticmethod
    def handles(path: str) -> bool:
        """True for a path under /webhooks/."""
        return path.startswith(PREFIX)

    def receive(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        read: Callable[[int], bytes],
        url: str,
    ) -> tuple[int, dict[str, Any]]:
        """Check one request and wake its source; (HTTP status, JSON answer)."""
        parts = path[len(PREFIX) :].split("?", 1)[0].strip("/").split("/")
        source = parts[1] if len(parts) == 2 else "-"
        try:
            return self._receive(method, parts, source, headers, read, url)
        except WebhookRefused as refused:
            WEBHOOKS.labels(source, refused.reason).inc()
            log.warning(
                "webhook_refused", source=source, reason=refused.reason, status=refused.status
            )
            return refused.status, {"error": refused.reason}

    def _receive(
        self,
        method: str,
        parts: list[str],
        source: str,
        headers: Mapping[str, str],
        read: Callable[[int], bytes],
        url: str,
    ) -> tuple[int, dict[str, Any]]:
        if len(parts) != 2 or tuple(parts) not in self.routes:
            raise WebhookRefused(404, "no_such_webhook")
        if method != "POST":
            raise WebhookRefused(405, "method_not_allowed")
        lowered = {k.lower(): v for k, v in headers.items()}
        if "transfer-encoding" in lowered:
            raise WebhookRefused(411, "length_required")
        try:
            length = int(lowered.get("content-length", ""))
        except ValueError:
            raise WebhookRefused(411, "length_required") from None
        if length < 0:
            raise WebhookRefused(400, "bad_length")
        if length > self.max_body:
            raise WebhookRefused(413, "body_too_large")
        body = read(length)
        if len(body) != length:
            raise WebhookRefused(400, "body_truncated")
        now = self.clock()
        request = WebhookRequest(method, url, lowered, body, now)
        verified = self.routes[(parts[0], parts[1])].verify(request)
        if not self.guard.admit(verified.replay_keys, now):
            raise WebhookRefused(409, "replayed")
        WEBHOOKS.labels(source, "accepted").inc()
        log.info(
            "webhook_received",
            source=source,
            vendor=parts[0],
            events=verified.events,
            kinds=list(verified.kinds),
        )
        woken = self.wake(source)
        log.info("source_woken", source=source, woken=woken, by="webhook")
        return 200, {"status": "accepted", "woken": woken}
