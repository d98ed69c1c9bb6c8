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

import smtplib
import ssl
from collections.abc import Iterator
from typing import Any, Literal

import structlog

from bot.errors import FatalError, MalformedInput, RetriableError
from connectors.base import SinkAction, SinkResult
from connectors.kit.clock import SYSTEM_CLOCK, Clock
from connectors.kit.ratelimit import TokenBucket
from connectors.kit.shared import account_budget
from connectors.smtp.client import SmtpClient, reply_text
from connectors.smtp.compose import Reply, ReplyRefused, Sender, compose_reply
from connectors.smtp.settings import SmtpSettings

log = structlog.get_logger(__name__)

SINK_ACTIONS = frozenset({"send_reply"})  # declared once; the connector spec publishes it
RATE_WAIT_BUDGET = 60.0  # seconds one call may wait for the rate limit before deferring
_Outcome = Literal["skip", "retry", "lost", "fatal"]


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
        self._client = SmtpClient(name, settings, self.label, ssl_context)
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
        client = self._client.open()
        try:
            code, _ = client.noop()
        finally:
            self._client.quit(client)
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
        client = self._client.open()
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
            self._client.quit(client)

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
            text = reply_text(code, raw)
        except smtplib.SMTPSenderRefused as exc:
            stage, code, text = "mail", exc.smtp_code, reply_text(exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPResponseException as exc:  # DATA refused, or a HELO failure
            code, text = exc.smtp_code, reply_text(exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPNotSupportedError as exc:
            return self._skipped(action, "not_supported", f"the server cannot take it: {exc}")
        except (smtplib.SMTPException, OSError) as exc:
            message = (
                f"{self.label}: connection lost while sending: {self._client.clean(repr(exc))}"
            )
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
        said = self._client.clean(text)
        raise _Stop(
            f"{self.label}: the server refused the {stage.upper()} step: {said}",
            fatal=outcome == "fatal",
        )

    def _skipped(self, action: SinkAction, code: str, why: str) -> SinkResult:
        """A `skipped` result; refusals by the server are warnings, our own rules are not."""
        level = log.warning if code.startswith("smtp_") else log.info
        level("smtp_reply_skipped", sink=self.name, outbox=action.outbox_id, code=code)
        return SinkResult(action.outbox_id, "skipped", {"why": why, "code": code})
