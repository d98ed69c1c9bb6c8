"""SMTP sink: crmbot's automated replies, one message per `send_reply` action.

Exactly once, in practice: SMTP has no idempotency of its own, so the dispatcher's outbox row
is the record of what was sent. `perform` is a generator that yields each result as soon as
the server took (or refused) the message, and the dispatcher marks the row done before it
asks for the next one, so a crash repeats at most the message in flight. A `done` result
carries the Message-ID it used. That id is derived from the action's idempotency key, so
should a message ever be sent twice (a crash between the server's 250 and the mark-done, or
the connection dropped after the server took the message but before it said so), both
copies carry the same Message-ID and mail clients and crmbot itself recognise the resend.

What a call yields or raises:
- nothing was accepted by the server yet and the connection fails (refused, timeout, 4xx
  greeting, dropped) -> RetriableError for the whole call; bad credentials (535) -> AuthError;
  a setting the server rejects (no STARTTLS, no AUTH, untrusted certificate, sender refused
  with 5xx) -> FatalError. The dispatcher logs the outage and retries later, using no attempt.
- once at least one message was accepted, a connection failure no longer raises: the
  accepted ones were `done`, the one in flight is `failed` (an attempt), the rest `retry`.
- one recipient or message refused for good (550 no such user, 554 content rejected) ->
  that action `skipped` with the server's reply; a temporary refusal (450 greylisting,
  452 mailbox full) -> that action `failed` (retried later, counts as an attempt); the
  others go on.
- a reply that must not be sent (automated or own address, CR/LF in a header, no body) ->
  `skipped` with the reason, before any connection is made.
- more than `max_per_minute` messages: the sink waits for the rate limit up to
  RATE_WAIT_BUDGET seconds per call, then yields the rest as `retry` with `retry_after`.

The envelope sender (MAIL FROM) is `from_address`, not the null path RFC 3834 suggests for
personal auto-responders: submission servers refuse `<>` from authenticated users, and a
bounce for a mistyped customer address is worth receiving.
"""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
from collections.abc import Iterator
from typing import Any, Literal

import structlog
from pydantic import Field, SecretStr, field_validator, model_validator

from bot.errors import AuthError, ConfigError, FatalError, MalformedInput, RetriableError
from connectors.base import ConnectorSettings, SinkAction, SinkResult
from connectors.kit.clock import SYSTEM_CLOCK, Clock
from connectors.kit.network import is_loopback_host
from connectors.kit.ratelimit import TokenBucket
from connectors.kit.shared import account_budget
from connectors.smtp.compose import Reply, ReplyRefused, Sender, compose_reply, parse_address

log = structlog.get_logger(__name__)

Security = Literal["tls", "starttls", "plain"]
DEFAULT_PORTS: dict[str, int] = {"tls": 465, "starttls": 587, "plain": 25}
SINK_ACTIONS = frozenset({"send_reply"})  # declared once; the connector spec publishes it
RATE_WAIT_BUDGET = 60.0  # seconds one call may wait for the rate limit before deferring
_Outcome = Literal["skip", "retry", "lost", "fatal"]


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


def _reply_text(code: int, raw: Any) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")
    return f"{code} {' '.join(text.split())}".strip()


def _outcome(stage: str, code: int) -> _Outcome:
    """What one SMTP reply code means for the action being sent and for the connection."""
    if code == 421 or not 400 <= code < 600:
        return "lost"  # the server closes the connection, or no reply at all
    if code < 500:
        return "retry"
    if stage in ("rcpt", "data") or code == 552:  # 552 in MAIL FROM: over the SIZE limit
        return "skip"
    return "fatal"  # the sender itself is refused: a setting, not this message


def _the_rest(
    prepared: list[tuple[SinkAction, Reply | SinkResult]], status: str, detail: dict[str, Any]
) -> Iterator[SinkResult]:
    """`status` for each reply not sent; the results known before sending, as they were."""
    for action, item in prepared:
        if isinstance(item, SinkResult):
            yield item
        else:
            yield SinkResult(action.outbox_id, status, dict(detail))


class _Stop(Exception):
    """The connection cannot be used for the rest of the batch."""

    def __init__(self, message: str, *, fatal: bool) -> None:
        super().__init__(message)
        self.fatal = fatal


class SmtpSink:
    """Sends crmbot's replies through an SMTP submission server, one message per action.

    SMTP has no idempotency: the outbox row is the record, each action is sent once per
    call, and a resend carries the same Message-ID (derived from the idempotency key).
    """

    performs = SINK_ACTIONS

    def __init__(
        self,
        name: str,
        settings: SmtpSettings,
        *,
        clock: Clock | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.label = f"smtp sink {name!r} ({settings.host}:{settings.effective_port})"
        self._clock = clock or SYSTEM_CLOCK
        self._ssl_context = ssl_context
        self._helo_name = socket.getfqdn()
        # one budget per submission account (server and login), whatever the sink is called
        account = account_budget(
            "smtp", settings.host, str(settings.effective_port), settings.username or ""
        )
        self._bucket = TokenBucket.per_window(
            settings.max_per_minute, 60.0, clock=self._clock, name=f"{account}:messages"
        )
        self._sender = Sender(
            address=settings.from_address,
            name=settings.from_name,
            reply_to=settings.reply_to,
            reference_in_subject=settings.subject_prefix_with_reference,
        )

    def close(self) -> None:
        """Nothing to release: each call opens and closes its own connection."""

    def check(self) -> str:
        """Connect, authenticate, and say what was found."""
        client = self._open()
        try:
            code, _ = client.noop()
        finally:
            self._quit(client)
        who = f"as {self.settings.username}" if self.settings.username else "without AUTH"
        return f"{self.label}: {self.settings.security}, logged in {who}, NOOP {code}"

    def perform(self, actions: list[SinkAction]) -> Iterator[SinkResult]:
        """Send one reply per action, yielding each result as soon as it is known, in order.

        The dispatcher records each result before it asks for the next message, so a crash
        repeats at most the message in flight (see the module doc for what a failure does).
        """
        prepared: list[tuple[SinkAction, Reply | SinkResult]] = []
        for action in actions:
            if action.action != "send_reply":
                why = f"the smtp sink cannot {action.action!r}"
                prepared.append((action, self._skipped(action, "unsupported_action", why)))
                continue
            try:
                spec = action.typed()
            except MalformedInput as exc:
                prepared.append((action, self._skipped(action, "invalid_payload", str(exc))))
                continue
            try:
                reply = compose_reply(
                    spec.payload(),
                    sender=self._sender,
                    idempotency_key=action.idempotency_key,
                    case_reference=action.case_reference,
                    now=self._clock.time(),
                )
            except ReplyRefused as exc:
                prepared.append((action, self._skipped(action, exc.code, str(exc))))
                continue
            prepared.append((action, reply))
        if not any(isinstance(item, Reply) for _, item in prepared):
            for _, item in prepared:
                assert isinstance(item, SinkResult)
                yield item
            return
        yield from self._deliver(prepared)

    # -- sending -------------------------------------------------------------------------

    def _deliver(
        self, prepared: list[tuple[SinkAction, Reply | SinkResult]]
    ) -> Iterator[SinkResult]:
        """Send each reply on one connection, yielding after each; see the module doc."""
        sent = 0
        waited = 0.0
        client = self._open()
        try:
            for index, (action, item) in enumerate(prepared):
                if isinstance(item, SinkResult):
                    yield item
                    continue
                wait = self._bucket.try_acquire()
                while wait > 0 and waited + wait <= RATE_WAIT_BUDGET:
                    self._clock.sleep(wait)
                    waited += wait
                    wait = self._bucket.try_acquire()
                if wait > 0:
                    why = f"rate limit of {self.settings.max_per_minute} messages per minute"
                    log.info("smtp_rate_limited", sink=self.name, deferred=len(prepared) - index)
                    detail = {"why": why, "retry_after": round(wait, 1)}
                    yield from _the_rest(prepared[index:], "retry", detail)
                    return
                try:
                    result = self._send(client, action, item)
                except _Stop as stop:
                    if sent == 0:
                        raise (FatalError if stop.fatal else RetriableError)(str(stop)) from stop
                    log.warning(
                        "smtp_connection_lost",
                        sink=self.name,
                        sent=sent,
                        deferred=len(prepared) - index,
                        error=str(stop),
                    )
                    # tried (the server may even have taken it): a real attempt; the rest wait
                    yield SinkResult(action.outbox_id, "failed", {"why": str(stop)})
                    yield from _the_rest(prepared[index + 1 :], "retry", {"why": str(stop)})
                    return
                if result.status == "done":
                    sent += 1
                yield result
        finally:
            self._quit(client)

    def _send(self, client: smtplib.SMTP, action: SinkAction, reply: Reply) -> SinkResult:
        """Send one reply: done, skipped or retry for this action; _Stop for the connection."""
        stage, code, text = "data", 0, ""
        try:
            client.send_message(
                reply.message, from_addr=self.settings.from_address, to_addrs=[reply.recipient]
            )
        except smtplib.SMTPRecipientsRefused as exc:
            stage = "rcpt"
            code, raw = next(iter(exc.recipients.values()), (0, b""))
            text = _reply_text(code, raw)
        except smtplib.SMTPSenderRefused as exc:
            stage, code, text = "mail", exc.smtp_code, _reply_text(exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPResponseException as exc:  # DATA refused, or a HELO failure
            code, text = exc.smtp_code, _reply_text(exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPNotSupportedError as exc:
            return self._skipped(action, "not_supported", f"the server cannot take it: {exc}")
        except (smtplib.SMTPException, OSError) as exc:
            message = f"{self.label}: connection lost while sending: {self._clean(repr(exc))}"
            raise _Stop(message, fatal=False) from exc
        else:
            log.info(
                "smtp_reply_sent", sink=self.name, outbox=action.outbox_id, msgid=reply.message_id
            )
            return SinkResult(
                action.outbox_id,
                "done",
                {
                    "message_id": reply.message_id,
                    "to": reply.recipient,
                    "subject": str(reply.message["Subject"]),
                },
            )
        outcome = _outcome(stage, code)
        if outcome == "skip":
            return self._skipped(action, f"smtp_{code}", f"the server refused it: {text}")
        if outcome == "retry":
            log.info("smtp_reply_deferred", sink=self.name, outbox=action.outbox_id, code=code)
            return SinkResult(action.outbox_id, "failed", {"why": f"server said: {text}"})
        raise _Stop(
            f"{self.label}: the server refused the {stage.upper()} step: {self._clean(text)}",
            fatal=outcome == "fatal",
        )

    def _skipped(self, action: SinkAction, code: str, why: str) -> SinkResult:
        """A `skipped` result; refusals by the server are warnings, our own rules are not."""
        level = log.warning if code.startswith("smtp_") else log.info
        level("smtp_reply_skipped", sink=self.name, outbox=action.outbox_id, code=code)
        return SinkResult(action.outbox_id, "skipped", {"why": why, "code": code})

    # -- connection ----------------------------------------------------------------------

    def _context(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()

    def _open(self) -> smtplib.SMTP:
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
                    context=self._context(),
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
            self._quit(client)
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
            client.starttls(context=self._context())
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
            text = self._clean(_reply_text(exc.smtp_code, exc.smtp_error))
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
            text = self._clean(_reply_text(exc.smtp_code, exc.smtp_error))
            if exc.smtp_code >= 500:
                return FatalError(f"{self.label} refused the session: {text}")
            return RetriableError(f"{self.label} is not available: {text}")
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return ConfigError(f"{self.label}: {exc}")
        if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
            return RetriableError(
                f"{self.label} did not answer within {self.settings.timeout_seconds:g} s"
            )
        return RetriableError(f"{self.label} cannot be reached: {self._clean(repr(exc))}")

    def _clean(self, text: str) -> str:
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
    def _quit(client: smtplib.SMTP) -> None:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()
