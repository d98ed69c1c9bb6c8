"""Webhook sink: a rule's `webhook` action as a signed JSON request to an allow-listed host.

Each request:
- goes only to https:// on a host listed in `allowed_hosts` (the rules pack has its own
  `webhook_allowed_hosts`, checked at load; both must allow it), with no user in the URL;
- is refused if the host resolves to a private, loopback, link-local, multicast or reserved
  address, unless `allow_private_addresses` (SSRF guard; a name that changes its address
  between this check and the connection is not caught);
- carries `X-Crmbot-Timestamp` (Unix seconds), `X-Crmbot-Signature: sha256=<hex HMAC-SHA256
  of "<timestamp>.<body>" with the secret>` and `Idempotency-Key` (the outbox key, the same
  on every retry, so the receiver can drop a repeat);
- is retried with backoff by the kit's HTTP client (connection errors, 408, 429, 5xx); when
  retries run out the whole call raises and the dispatcher tries again later. A 4xx answer is
  the receiver's refusal: that action is skipped with its reason. Redirects are not followed.
The secret is never logged (it is registered for redaction like every SecretStr setting).
"""

from __future__ import annotations

import ipaddress
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from bot.actions import Webhook
from bot.errors import MalformedInput
from connectors.base import SinkAction, SinkResult
from connectors.kit.clock import SYSTEM_CLOCK, Clock
from connectors.kit.http import HttpClient, HttpRejected, RetryPolicy
from connectors.kit.network import is_loopback_host
from connectors.webhook.settings import WebhookSettings
from connectors.webhook.sign import signature

log = structlog.get_logger(__name__)

SINK_ACTIONS = frozenset({"webhook"})  # declared once; the connector spec publishes it


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (MalformedInput when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise MalformedInput(f"webhook host {host!r} does not resolve ({exc})") from None
    return sorted({str(info[4][0]) for info in infos})


class WebhookSink:
    """Sends each webhook action as one signed request."""

    performs = SINK_ACTIONS

    def __init__(
        self,
        name: str,
        settings: WebhookSettings,
        *,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self._clock = clock or SYSTEM_CLOCK
        self._transport = transport
        self._clients: dict[str, HttpClient] = {}

    def close(self) -> None:
        """Release connections."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def check_url(self, url: str) -> tuple[str, str]:
        """(origin, path and query) of an allowed URL; MalformedInput says why one is not."""
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        if parts.username or parts.password:
            raise MalformedInput("webhook URL must not carry credentials")
        if not host:
            raise MalformedInput(f"webhook URL {url!r} has no host")
        if host not in self.settings.allowed_hosts:
            raise MalformedInput(f"webhook host {host!r} is not in this sink's allowed_hosts")
        plain_ok = self.settings.allow_http_on_loopback and is_loopback_host(host)
        if parts.scheme != "https" and not (parts.scheme == "http" and plain_ok):
            raise MalformedInput(f"webhook URL must use https, not {parts.scheme!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if not self.settings.allow_private_addresses:
            bad = [a for a in resolve(host, port) if _forbidden(a)]
            if bad:
                raise MalformedInput(
                    f"webhook host {host!r} resolves to a private or loopback address "
                    f"({', '.join(bad)}); refused (allow_private_addresses is off)"
                )
        origin = f"{parts.scheme}://{parts.netloc}"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return origin, path

    def _client(self, origin: str) -> HttpClient:
        client = self._clients.get(origin)
        if client is None:
            client = HttpClient(
                f"webhook ({self.name})",
                origin,
                retry=RetryPolicy(max_total_wait=self.settings.max_total_retry_wait),
                clock=self._clock,
                timeout=self.settings.timeout_seconds,
                transport=self._transport,
            )
            self._clients[origin] = client
        return client

    def _headers(self, action: SinkAction, body: bytes) -> dict[str, str]:
        stamp = int(self._clock.time())
        secret = self.settings.secret.get_secret_value()
        return {
            "Content-Type": "application/json",
            self.settings.timestamp_header: str(stamp),
            self.settings.signature_header: signature(secret, stamp, body),
            self.settings.idempotency_header: action.idempotency_key,
        }

    def perform(self, actions: list[SinkAction]) -> list[SinkResult]:
        """Send one request per action; results in order (see the module docstring)."""
        results = []
        for action in actions:
            try:
                spec = action.typed()
                if not isinstance(spec, Webhook):
                    raise MalformedInput(f"the webhook sink does not perform {action.action!r}")
                origin, path = self.check_url(spec.url)
                body = _body(spec.payload_)
                response = self._client(origin).request(
                    spec.method, path, headers=self._headers(action, body), content=body
                )
            except HttpRejected as exc:
                results.append(_skip(action, f"the receiver refused it: {exc.vendor_message}"))
                continue
            except MalformedInput as exc:
                log.warning(
                    "webhook_refused", sink=self.name, outbox=action.outbox_id, why=str(exc)
                )
                results.append(_skip(action, str(exc)))
                continue
            log.info(
                "webhook_sent", sink=self.name, outbox=action.outbox_id, status=response.status_code
            )
            detail = {"status": response.status_code, "host": urlsplit(origin).hostname}
            results.append(SinkResult(action.outbox_id, "done", detail))
        return results


def _body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def _skip(action: SinkAction, reason: str) -> SinkResult:
    return SinkResult(action.outbox_id, "skipped", {"reason": reason})
