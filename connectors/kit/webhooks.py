"""What a connector's webhook receiver shares: the request, the verdict, HMAC, age, replays.

A webhook is only a hint: a verified one wakes its source's poll, and the cursor poll stays
the source of truth. A vendor's module (connectors/<vendor>/webhook.py) checks its signature
with these helpers; the runtime (bot/webhooks.py) routes, limits and answers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.errors import MalformedInput, WebhookRefused
from connectors.kit.mapping import parse_timestamp

MAX_AGE_SECONDS = 300.0  # both vendors: a signed timestamp older than 5 minutes is refused


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One POST as received: the URL the sender used, lower-cased headers, the raw body."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    received_at: float  # epoch seconds

    def header(self, name: str) -> str | None:
        """A header's value (names are matched case-insensitively), or None."""
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class Verified:
    """A request that passed the signature and age checks."""

    replay_keys: tuple[str, ...]  # seen again within the window: a replay
    events: int = 1
    kinds: tuple[str, ...] = field(default_factory=tuple)  # e.g. ticket.creation


class WebhookVerifier(Protocol):
    """A connector's check of its vendor's signed webhooks for one configured source."""

    vendor: str

    def verify(self, request: WebhookRequest) -> Verified:
        """The verified request, or WebhookRefused (401 forged/expired, 400 malformed)."""
        ...


def hmac_b64(secret: bytes, message: bytes) -> str:
    """base64 of HMAC-SHA256(secret, message): the form both HubSpot v3 and Zendesk use."""
    return base64.b64encode(hmac.new(secret, message, hashlib.sha256).digest()).decode()


def same_signature(expected: str, given: str) -> bool:
    """Constant-time comparison of two signatures."""
    return hmac.compare_digest(expected.encode(), given.encode())


def check_age(stamp: str | None, now: float, max_age: float = MAX_AGE_SECONDS) -> datetime:
    """The signed timestamp, refused when missing, malformed, or further than `max_age` away."""
    if not stamp:
        raise WebhookRefused(401, "timestamp_missing")
    try:
        moment = parse_timestamp(stamp.strip())
    except MalformedInput:
        raise WebhookRefused(400, "timestamp_malformed") from None
    if abs(now - moment.timestamp()) > max_age:
        raise WebhookRefused(401, "timestamp_expired")
    return moment


class ReplayGuard:
    """Keys seen within the window (signatures, event ids), bounded; a repeat is a replay."""

    def __init__(self, window: float = MAX_AGE_SECONDS, capacity: int = 100_000) -> None:
        self.window = window
        self.capacity = capacity
        self._seen: OrderedDict[str, float] = OrderedDict()  # key -> first seen (epoch)
        self._lock = threading.Lock()

    def admit(self, keys: tuple[str, ...], now: float) -> bool:
        """Remember the keys; False (and nothing remembered) if one was seen in the window."""
        with self._lock:
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if now - at <= self.window and len(self._seen) < self.capacity:
                    break
                del self._seen[oldest]
            if any(key in self._seen for key in keys):
                return False
            for key in keys:
                self._seen[key] = now
            return True

    def __len__(self) -> int:
        return len(self._seen)
