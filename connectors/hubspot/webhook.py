"""HubSpot webhook subscriptions: the v3 request signature, and the events a request carries.

`X-HubSpot-Signature-v3` is base64(HMAC-SHA256(client secret, method + URI + body +
timestamp)), the timestamp being `X-HubSpot-Request-Timestamp` (epoch milliseconds, refused
when older than 5 minutes). The URI is the full URL HubSpot called, with the URL-encoded
characters HubSpot lists decoded. The body is a JSON array of events (`eventId`,
`subscriptionType` such as `ticket.creation`, `objectId`, `occurredAt`, …).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from bot.errors import WebhookRefused
from connectors.kit.webhooks import Verified, WebhookRequest, check_age, hmac_b64, same_signature

SIGNATURE = "X-HubSpot-Signature-v3"
TIMESTAMP = "X-HubSpot-Request-Timestamp"
# HubSpot's "Validating requests" v3: these encoded characters are decoded in the URI.
_DECODED = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip
# What `crmbot setup hubspot` subscribes to (object creation and property changes).
SUBSCRIPTIONS: dict[str, list[tuple[str, str | None]]] = {
    "tickets": [
        ("ticket.creation", None),
        ("ticket.propertyChange", "subject"),
        ("ticket.propertyChange", "content"),
        ("ticket.propertyChange", "hs_pipeline_stage"),
    ],
    "contacts": [
        ("contact.creation", None),
        ("contact.propertyChange", "email"),
    ],
}


def decode_uri(uri: str) -> str:
    """The URI as HubSpot signs it: the listed percent-encodings decoded (case-insensitive)."""
    out, i = [], 0
    while i < len(uri):
        chunk = uri[i : i + 3].upper()
        if uri[i] == "%" and chunk in _DECODED:
            out.append(_DECODED[chunk])
            i += 3
        else:
            out.append(uri[i])
            i += 1
    return "".join(out)


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """The X-HubSpot-Signature-v3 value for one request."""
    message = method.upper().encode() + decode_uri(uri).encode() + body + timestamp.encode()
    return hmac_b64(secret.encode(), message)


class HubSpotWebhook:
    """Checks HubSpot's signed webhook requests for one source."""

    vendor = "hubspot"

    def __init__(
        self,
        secret: str,
        public_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self.public_url = public_url
        self.clock = clock

    def _uri(self, request: WebhookRequest) -> str:
        if not self.public_url:
            return request.url
        query = urlsplit(request.url).query
        return self.public_url + (f"?{query}" if query else "")

    def verify(self, request: WebhookRequest) -> Verified:
        """The verified request (events counted), or WebhookRefused with the reason."""
        given = request.header(SIGNATURE)
        if not given:
            raise WebhookRefused(401, "signature_missing")
        stamp = request.header(TIMESTAMP) or ""
        check_age(stamp, self.clock())
        expected = signature_v3(
            self._secret, request.method, self._uri(request), request.body, stamp
        )
        if not same_signature(expected, given.strip()):
            raise WebhookRefused(401, "signature_mismatch")
        events = _events(request.body)
        ids = tuple(f"hubspot:event:{e['eventId']}" for e in events if "eventId" in e)
        kinds = tuple(sorted({str(e.get("subscriptionType", "")) for e in events}))
        return Verified((f"hubspot:sig:{given.strip()}", *ids), len(events), kinds)


def _events(body: bytes) -> list[dict[str, Any]]:
    try:
        data = json.loads(body)
    except ValueError:
        raise WebhookRefused(400, "body_not_json") from None
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise WebhookRefused(400, "body_not_event_list")
    return data


def make_webhook(name: str, settings: Any) -> HubSpotWebhook | None:
    """The verifier for a HubSpot source, or None when it has no webhook secret."""
    secret = settings.webhook_secret or settings.oauth_client_secret
    if secret is None:
        return None
    return HubSpotWebhook(secret.get_secret_value(), settings.webhook_url)
