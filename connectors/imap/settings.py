"""Settings of the IMAP source: where the mailbox is, how to log in, what to do once read."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from connectors.base import ConnectorSettings
from connectors.kit.network import is_loopback_host

Security = Literal["tls", "starttls", "plain"]
AfterProcessing = Literal["none", "flag", "move"]

IDLE_RENEW_SECONDS = 25 * 60
IDLE_RENEW_MAX_SECONDS = 29 * 60  # RFC 2177: re-issue IDLE at least every 29 minutes

# An IMAP flag: a keyword atom, or a system flag such as \Flagged (RFC 3501 flag-keyword / atom).
_FLAG = re.compile(r"\\?[^\s(){%*\"\\\]\x00-\x1f\x7f]+")


class ImapSettings(ConnectorSettings):
    """One IMAP folder to poll for new mail."""

    type: Literal["imap"]
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Security = "tls"
    username: str = Field(min_length=1)
    password: SecretStr
    folder: str = Field(default="INBOX", min_length=1)
    max_message_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    timeout_seconds: float = Field(default=30, gt=0)
    after_processing: AfterProcessing = "none"
    processed_flag: str = "$CrmbotProcessed"
    move_to: str | None = None
    # IMAP IDLE (RFC 2177) where the server announces it: new mail is read as soon as the
    # server signals it; the poll every `interval_seconds` stays as the safety net.
    idle: bool = True
    # Leave and re-enter IDLE this often: RFC 2177 servers may drop an IDLE after 30 minutes.
    idle_renew_seconds: float = Field(default=IDLE_RENEW_SECONDS, gt=0, le=IDLE_RENEW_MAX_SECONDS)

    @field_validator("security")
    @classmethod
    def _plain_only_on_loopback(cls, security: Security, info: ValidationInfo) -> Security:
        host = info.data.get("host")
        if security == "plain" and host is not None and not is_loopback_host(host):
            raise ValueError(
                f"security 'plain' would send the password unencrypted to {host!r}; it is "
                "only allowed for a loopback host (localhost, 127.0.0.1, ::1). "
                "Use security 'tls' (port 993) or 'starttls' (port 143)"
            )
        return security

    @field_validator("processed_flag")
    @classmethod
    def _flag_is_an_imap_flag(cls, flag: str) -> str:
        if not _FLAG.fullmatch(flag):
            raise ValueError(
                f"processed_flag {flag!r} is not a valid IMAP flag: use one word without "
                'spaces or any of ( ) { % * " ] \\ (e.g. "$CrmbotProcessed")'
            )
        return flag

    @model_validator(mode="after")
    def _move_needs_a_target(self) -> ImapSettings:
        if self.after_processing == "move":
            if not self.move_to:
                raise ValueError("move_to is required when after_processing is 'move'")
            if self.move_to == self.folder:
                raise ValueError(
                    f"move_to must differ from folder (both are {self.folder!r}) "
                    "when after_processing is 'move'"
                )
        return self

    @property
    def resolved_port(self) -> int:
        """The port to connect to: `port`, or 993 for tls and 143 otherwise."""
        if self.port is not None:
            return self.port
        return 993 if self.security == "tls" else 143
