"""A real SMTP server for tests: aiosmtpd on a free loopback port, recording what it receives.

It offers AUTH (PLAIN, LOGIN) on the plain loopback connection, or STARTTLS / implicit TLS
with a certificate made by `make_certificate`, and can be told to refuse: a recipient (RCPT),
every sender (MAIL FROM), or every DATA after the first `n` accepted messages.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.servers.dovecot import free_port

USERNAME = "crmbot@example.test"
PASSWORD = "s3cret-Pa55-do-not-log"


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the server took it: envelope and raw bytes."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: str | None

    def message(self) -> EmailMessage:
        """The message parsed with the modern email policy."""
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Handler:
    """aiosmtpd hooks: apply the server's refusal switches, record accepted messages."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.server.mail_reply:
            return self.server.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        refusal = self.server.refused_recipients.get(address.lower())
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.server.lock:
            if self.server.data_reply and len(self.server.messages) >= self.server.data_after:
                return self.server.data_reply
            auth = session.auth_data
            login = auth.login.decode() if isinstance(auth, LoginPassword) else None
            self.server.messages.append(
                ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, login)
            )
        return "250 2.0.0 Message accepted for delivery"


class _QuietController(Controller):
    """A Controller whose SMTP sessions do not warn about AUTH without TLS (loopback only)."""

    def factory(self) -> Any:
        """The SMTP session, built with that one warning silenced."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return super().factory()


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1; `messages` lists what it accepted, oldest first."""

    def __init__(
        self,
        *,
        auth: bool = True,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.messages: list[ReceivedMail] = []
        self.lock = threading.Lock()
        self.refused_recipients: dict[str, str] = {}
        self.mail_reply: str | None = None
        self.data_reply: str | None = None
        self.data_after = 0
        kwargs: dict[str, Any] = {}
        if auth:
            kwargs |= {"authenticator": self._authenticate, "auth_required": True}
            # aiosmtpd offers no AUTH on implicit TLS when it requires TLS for AUTH (it only
            # counts STARTTLS), so that mode relaxes the check: the connection is TLS anyway.
            kwargs["auth_require_tls"] = tls_context is not None and not implicit_tls
        if tls_context is not None and implicit_tls:
            kwargs["ssl_context"] = tls_context
        elif tls_context is not None:
            kwargs |= {"tls_context": tls_context, "require_starttls": True}
        self._controller = _QuietController(
            _Handler(self), hostname=self.host, port=self.port, ready_timeout=5, **kwargs
        )

    @staticmethod
    def _authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == USERNAME.encode()
            and auth_data.password == PASSWORD.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def start(self) -> None:
        """Start listening (in a thread of its own)."""
        self._controller.start()

    def stop(self) -> None:
        """Stop listening."""
        self._controller.stop()

    def refuse_recipient(self, address: str, reply: str = "550 5.1.1 No such user") -> None:
        """Answer `reply` to RCPT TO for `address`."""
        self.refused_recipients[address.lower()] = reply

    def refuse_mail(self, reply: str) -> None:
        """Answer `reply` to every MAIL FROM."""
        self.mail_reply = reply

    def refuse_data(self, reply: str, *, after: int = 0) -> None:
        """Accept `after` messages in all, then answer `reply` to every DATA."""
        self.data_reply, self.data_after = reply, after


@contextlib.contextmanager
def running_smtp(**options: Any) -> Iterator[SmtpServer]:
    """A started SmtpServer, stopped afterwards."""
    server = SmtpServer(**options)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (for timeouts)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 and localhost, made with openssl."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """The server side's TLS context for a certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
