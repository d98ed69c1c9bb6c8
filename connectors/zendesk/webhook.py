"""Zendesk webhooks: `X-Zendesk-Webhook-Signature` = base64(HMAC-SHA256(signing secret,
timestamp + body)), the timestamp being `X-Zendesk-Webhook-Signature-Timestamp` (refused when
older than 5 minutes). What the body says is not trusted: a verified request only wakes the
source's incremental export.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.errors import WebhookRefused
from connectors.kit.webhooks import Verified, WebhookRequest, check_age, hmac_b64, same_signature

SIGNATURE = "X-Zendesk-Webhook-Signature"
TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Zendesk-Webhook-Signature value for one request."""
    return hmac_b64(secret.encode(), timestamp.encode() + body)


class ZendeskWebhook:
    """Checks Zendesk's signed webhook requests for one source."""

    vendor = "zendesk"

    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self.clock = clock

    def verify(self, request: WebhookRequest) -> Verified:
        """The verified request, or WebhookRefused with the reason."""
        given = request.header(SIGNATURE)
        if not given:
            raise WebhookRefused(401, "signature_missing")
        stamp = request.header(TIMESTAMP) or ""
        check_age(stamp, self.clock())
        if not same_signature(signature(self._secret, stamp, request.body), given.strip()):
            raise WebhookRefused(401, "signature_mismatch")
        return Verified((f"zendesk:sig:{given.strip()}",))


def make_webhook(name: str, settings: Any) -> ZendeskWebhook | None:
    """The verifier for a Zendesk source, or None when it has no signing secret."""
    if settings.webhook_secret is None:
        return None
    return ZendeskWebhook(settings.webhook_secret.get_secret_value())
