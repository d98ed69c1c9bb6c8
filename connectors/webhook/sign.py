"""The webhook signature: HMAC-SHA256 over "<timestamp>.<body>", as hex."""

from __future__ import annotations

import hashlib
import hmac


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The value of the signature header: "sha256=" and the hex HMAC of timestamp + body."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: int, body: bytes, header: str) -> bool:
    """True when `header` is the signature of this timestamp and body (constant time)."""
    return hmac.compare_digest(signature(secret, timestamp, body), header)
