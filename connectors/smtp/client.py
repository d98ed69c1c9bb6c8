"""The SMTP connection the sink sends on: connect, secure, sign in, and what a failure means.

Each failure while connecting becomes the error from bot/errors.py the runtime acts on: a
timeout, a refused connection or a 4xx greeting is retriable, refused credentials are an
AuthError, a setting the server cannot honour (no STARTTLS, no AUTH, an untrusted
certificate, a 5xx greeting) is fatal. No message carries the password, in clear or base64.
"""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
from typing import Any

import structlog

from bot.errors import AuthError, ConfigError, FatalError, RetriableError
from connectors.smtp.settings import SmtpSettings

log = structlog.get_logger(__name__)


def reply_text(code: int, raw: Any) -> str:
    """An SMTP reply as one line: its code and its text."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")
    return f"{code} {' '.join(text.split())}".strip()


class SmtpClient:
    """Opens authenticated connections to one submission server; each send opens its own."""

    def __init__(
        self, name: str, settings: SmtpSettings, label: str, ssl_context: ssl.SSLContext | None
    ) -> None:
        self.name = name
        self.settings = settings
        self.label = label
        self._ssl_context = ssl_context
        self._helo_name = socket.getfqdn()

    def _tls(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()

    def open(self) -> smtplib.SMTP:
        """A connected, secured and authenticated client, or the error the caller should see."""
        s = self.settings
        timeout = s.timeout_seconds
        try:
            if s.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host,
                    s.effective_port,
                    local_hostname=self._helo_name,
                    timeout=timeout,
                    context=self._tls(),
                )
            else:
                client = smtplib.SMTP(
                    s.host, s.effective_port, local_hostname=self._helo_name, timeout=timeout
                )
        except Exception as exc:
            raise self._connect_error(exc) from None
        try:
            self._greet(client)
        except Exception as exc:
            self.quit(client)
            raise self._connect_error(exc) from None
        return client

    def _greet(self, client: smtplib.SMTP) -> None:
        s = self.settings
        client.ehlo()
        if s.security == "starttls":
            if not client.has_extn("starttls"):
                raise ConfigError(
                    f"{self.label} does not offer STARTTLS; use security 'tls' (port 465) "
                    "or check the host and port"
                )
            client.starttls(context=self._tls())
            client.ehlo()
        if s.username is not None and s.password is not None:
            if not client.has_extn("auth"):
                raise ConfigError(
                    f"{self.label} does not offer SMTP AUTH on this connection; check security "
                    "and port, or remove username and password"
                )
            client.login(s.username, s.password.get_secret_value())
            log.debug("smtp_logged_in", sink=self.name)

    def _connect_error(self, exc: BaseException) -> Exception:
        """The crmbot error for a failure while connecting, securing or logging in."""
        if isinstance(exc, FatalError | RetriableError):
            return exc
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            text = self.clean(reply_text(exc.smtp_code, exc.smtp_error))
            if 400 <= exc.smtp_code < 500:
                return RetriableError(f"{self.label}: login failed for now: {text}")
            return AuthError(
                f"{self.label}: the server refused the credentials of {self.settings.username!r}:"
                f" {text}"
            )
        if isinstance(exc, ssl.SSLCertVerificationError):
            return FatalError(
                f"{self.label}: the server's TLS certificate is not trusted: "
                f"{exc.verify_message or exc}"
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            text = self.clean(reply_text(exc.smtp_code, exc.smtp_error))
            if exc.smtp_code >= 500:
                return FatalError(f"{self.label} refused the session: {text}")
            return RetriableError(f"{self.label} is not available: {text}")
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return ConfigError(f"{self.label}: {exc}")
        if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
            return RetriableError(
                f"{self.label} did not answer within {self.settings.timeout_seconds:g} s"
            )
        return RetriableError(f"{self.label} cannot be reached: {self.clean(repr(exc))}")

    def clean(self, text: str) -> str:
        """`text` without the password, in clear or in the base64 forms AUTH sends."""
        password = self.settings.password
        if password is None or not password.get_secret_value():
            return text
        secret = password.get_secret_value()
        user = self.settings.username or ""
        forms = {
            secret,
            base64.b64encode(secret.encode()).decode(),
            base64.b64encode(f"\0{user}\0{secret}".encode()).decode(),
        }
        for form in forms:
            text = text.replace(form, "***")
        return text

    @staticmethod
    def quit(client: smtplib.SMTP) -> None:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()
