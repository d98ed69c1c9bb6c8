"""Settings of the webhook sink: which hosts, which secret, what a test may loosen."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from connectors.base import ConnectorSettings


class WebhookSettings(ConnectorSettings):
    """Signed JSON requests to allow-listed HTTPS endpoints.

    `secret` signs every request (HMAC-SHA256); give it through the environment
    (CRMBOT_SINKS__<NAME>__SECRET) or a secret file, never in the settings file.
    `allow_private_addresses` lets a host resolve to a private, loopback or link-local
    address (refused by default: a rule must not reach the internal network), and
    `allow_http_on_loopback` accepts http:// for a loopback host; both exist for tests and
    for a receiver on the same machine.
    """

    type: Literal["webhook"]
    allowed_hosts: list[str] = Field(min_length=1)
    secret: SecretStr = Field(min_length=16)
    signature_header: str = "X-Crmbot-Signature"
    timestamp_header: str = "X-Crmbot-Timestamp"
    idempotency_header: str = "Idempotency-Key"
    allow_private_addresses: bool = False
    allow_http_on_loopback: bool = False
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    max_total_retry_wait: float = Field(default=60.0, ge=0)

    @field_validator("allowed_hosts")
    @classmethod
    def _lower(cls, hosts: list[str]) -> list[str]:
        out = [h.strip().rstrip(".").lower() for h in hosts]
        if any(not h or "/" in h or "@" in h for h in out):
            raise ValueError("allowed_hosts are host names (no scheme, path or user)")
        return out
