"""Settings of the SMTP sink: the submission server, how to sign in, who replies come from."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.base import ConnectorSettings
from connectors.kit.network import is_loopback_host
from connectors.smtp.compose import ReplyRefused, parse_address

Security = Literal["tls", "starttls", "plain"]
DEFAULT_PORTS: dict[str, int] = {"tls": 465, "starttls": 587, "plain": 25}


class SmtpSettings(ConnectorSettings):
    """Where crmbot's replies are submitted, and who they come from."""

    type: Literal["smtp"]
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Security = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_address: str
    from_name: str = "Service client"
    reply_to: str | None = None
    timeout_seconds: float = Field(default=30, gt=0)
    max_per_minute: int = Field(default=60, ge=1)
    subject_prefix_with_reference: bool = True

    @field_validator("from_address", "reply_to")
    @classmethod
    def _one_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return parse_address(value, "address")
        except ReplyRefused as exc:
            raise ValueError(
                f"{value!r} is not a valid email address (expected local@domain.tld)"
            ) from exc

    @field_validator("from_name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(c in value for c in "\r\n\x00"):
            raise ValueError("from_name must be one line of text")
        return value.strip()

    @model_validator(mode="after")
    def _coherent(self) -> SmtpSettings:
        if self.security == "plain" and not is_loopback_host(self.host):
            raise ValueError(
                f"security 'plain' would send mail and password unencrypted to {self.host!r}; "
                "it is only allowed for a loopback host (localhost, 127.0.0.1, ::1). Use "
                "security 'starttls' (port 587) or 'tls' (port 465)"
            )
        if (self.username is None) != (self.password is None):
            raise ValueError("set both username and password, or neither (no SMTP AUTH)")
        return self

    @property
    def effective_port(self) -> int:
        """The configured port, or the usual one for the security mode (465, 587, 25)."""
        return self.port or DEFAULT_PORTS[self.security]
