"""The IMAP connection a source reads on: connect, secure, log in, and what a failure means.

A transport or protocol failure becomes SourceUnavailable (the runtime retries later and
the connection is dropped), refused credentials an AuthError, a missing folder or a server
without the STARTTLS asked for a ConfigError; no message carries the password.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from imapclient import IMAPClient
from imapclient.exceptions import (
    CapabilityError,
    IMAPClientAbortError,
    IMAPClientError,
    LoginError,
)

from bot.errors import AuthError, ConfigError, CrmbotError, SourceUnavailable
from connectors.imap.settings import ImapSettings

log = structlog.get_logger(__name__)

# What a dead, unreachable or misbehaving server raises (socket errors, timeouts, TLS, BYE).
_TRANSPORT_ERRORS = (OSError, IMAPClientAbortError)


class ImapConnection:
    """One logged-in connection to the source's server, opened on demand, reopened if dead."""

    def __init__(self, name: str, settings: ImapSettings) -> None:
        self.name = name
        self.settings = settings
        self.client: IMAPClient | None = None

    def connected(self) -> IMAPClient:
        """Return a live, logged-in client, reconnecting when the last one died."""
        if self.client is not None:
            try:
                self.client.noop()
                return self.client
            except (*_TRANSPORT_ERRORS, IMAPClientError) as exc:
                log.info("imap_connection_lost", source=self.name, error=self.describe(exc))
                self.drop()
        s = self.settings
        tls_context = ssl.create_default_context() if s.security != "plain" else None
        client = IMAPClient(
            s.host,
            port=s.resolved_port,
            ssl=s.security == "tls",
            ssl_context=tls_context if s.security == "tls" else None,
            timeout=s.timeout_seconds,
        )
        client.normalise_times = False  # keep INTERNALDATE's zone: we convert to UTC ourselves
        try:
            if s.security == "starttls":
                client.starttls(tls_context)
            client.login(s.username, s.password.get_secret_value())
        except CapabilityError:
            _shutdown(client)
            raise ConfigError(
                f"IMAP server {self.where} does not offer STARTTLS but security is 'starttls'; "
                "use security 'tls' (port 993)"
            ) from None
        except LoginError as exc:
            _shutdown(client)
            raise AuthError(
                f"IMAP server {self.where} refused the login of user {s.username!r}: "
                f"{self.describe(exc)}"
            ) from None
        except BaseException:
            _shutdown(client)
            raise
        self.client = client
        log.info(
            "imap_connected",
            source=self.name,
            host=s.host,
            port=s.resolved_port,
            security=s.security,
            username=s.username,
        )
        return client

    def drop(self) -> None:
        """Forget the connection without talking to the server (it may be dead)."""
        client, self.client = self.client, None
        if client is not None:
            _shutdown(client)

    @contextmanager
    def guard(self, action: str) -> Iterator[None]:
        """Turn transport and protocol failures into SourceUnavailable; drop the connection."""
        try:
            yield
        except CrmbotError:
            raise
        except (*_TRANSPORT_ERRORS, IMAPClientError) as exc:
            self.drop()
            raise SourceUnavailable(
                f"IMAP server {self.where} failed while {action}: {self.describe(exc)}"
            ) from exc

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.resolved_port}"

    def describe(self, exc: BaseException) -> str:
        """`exc` as text for a message or a log line, with the password masked just in case."""
        text = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and not isinstance(exc, TimeoutError):
            text = f"{type(exc).__name__}: {text}"
        secret = self.settings.password.get_secret_value()
        return text.replace(secret, "***") if secret else text

    def select(self, client: IMAPClient, *, readonly: bool) -> dict[bytes, Any]:
        folder = self.settings.folder
        try:
            return client.select_folder(folder, readonly=readonly)
        except IMAPClientAbortError:
            raise
        except IMAPClientError:
            if not client.folder_exists(folder):
                raise self.missing_folder(folder, "folder") from None
            raise

    def missing_folder(self, folder: str, setting: str) -> ConfigError:
        return ConfigError(
            f"IMAP folder {folder!r} (setting {setting}) does not exist for user "
            f"{self.settings.username!r} on {self.where}"
        )

    def close(self) -> None:
        """Log out quietly; the next call connects again."""
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:
            _shutdown(client)
        log.debug("imap_closed", source=self.name)


def _shutdown(client: IMAPClient) -> None:
    """Close a client's socket, ignoring whatever state it is in."""
    try:
        client.shutdown()
    except Exception:
        log.debug("imap_shutdown_failed")
