"""The last public agent reply, quoted in a status answer when the case lives in a CRM.

When a status answer is planned (a chase or a duplicate from the case's verified contact),
the case's CRM ticket (the newest ticket key among its requests) is asked for its last public
agent reply through the write-back sink of the ticket's source, if that sink declares the
capability (connectors/kit/replies.py). The wait is bounded: a CRM that is down, slow or
failing never blocks nor fails the answer, which then goes without the reply; after a
failure the sink is not asked again for a while. The rules see `case.last_public_reply`
(date and a short, cleaned excerpt, in the customer's language) and
`case.last_public_reply_at`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from typing import Any

import structlog

from bot.customer_text import customer_date, language
from bot.entities import ThreadKey
from bot.mail.text import html_to_text, strip_quotes_and_signature
from bot.store.case_tickets import ticket_key_of_case
from connectors.kit.replies import PublicReplies, PublicReply
from connectors.kit.writeback import WriteBackSettings

log = structlog.get_logger(__name__)

WAIT_SECONDS = 3.0  # the longest a status answer waits for the CRM
PAUSE_SECONDS = 60.0  # after a failure, the sink is left alone this long
EXCERPT_CHARS = 280
_GREETING = re.compile(
    r"^(?:bonjour|bonsoir|hello|hi|dear|madame|monsieur|cher|ch[èe]re)\b[^\n]{0,60}[,!]?\s*$",
    re.I,
)
_paused: dict[str, float] = {}
_in_flight: set[str] = set()
_lock = threading.Lock()


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """A reply as quoted to the customer: no quotes, signature or greeting; one paragraph, short."""
    if "<" in text and re.search(r"</?(?:p|div|br|html|body)\b", text, re.I):
        text = html_to_text(text)
    text = strip_quotes_and_signature(text) or text
    lines = [line.strip() for line in text.split("\n")]
    while lines and (not lines[0] or _GREETING.match(lines[0])):
        lines.pop(0)
    flat = " ".join(" ".join(lines).split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0].rstrip(",;:.-–")
    return f"{cut}…"


def wording(reply: PublicReply, lang: Any, tz: str | None) -> str:
    """The reply as the answer quotes it: its date and the excerpt, in `lang`."""
    when = customer_date(reply.at, lang, tz)
    quoted = excerpt(reply.text)
    if language(lang) == "fr":
        return f"Le {when} : « {quoted} »"
    return f"On {when}: “{quoted}”"


def reader_for(
    routes: WriteBackSettings | Any, sinks: Mapping[str, Any], ticket_key: str
) -> tuple[Any, str] | None:
    """The sink that can read the ticket's replies, and the ticket id, or None.

    `routes`: the typed write-back (or settings, whose sources' `write_back` is read).
    """
    if not isinstance(routes, WriteBackSettings):
        routes = WriteBackSettings.of(routes.sources)
    key = ThreadKey.parse(ticket_key)
    source, ticket_id = key.source, key.ticket_id
    target = routes.sink_for(source)
    sink = sinks.get(target) if target else None
    if not ticket_id or not isinstance(sink, PublicReplies):
        return None
    return sink, ticket_id


class _Call:
    """One read of a sink's replies on a daemon thread: the caller waits only so long."""

    def __init__(self, sink: Any, name: str, ticket_id: str) -> None:
        self.sink, self.name, self.ticket_id = sink, name, ticket_id
        self.done = threading.Event()
        self.reply: PublicReply | None = None
        self.error: str | None = None

    def run(self) -> None:
        try:
            self.reply = self.sink.last_public_reply(self.ticket_id)
        except Exception as exc:
            self.error = type(exc).__name__
        finally:
            with _lock:
                _in_flight.discard(self.name)
                if self.error is not None:
                    _paused[self.name] = time.monotonic() + PAUSE_SECONDS
            self.done.set()


def fetch(sink: Any, ticket_id: str, wait: float = WAIT_SECONDS) -> PublicReply | None:
    """The sink's answer within `wait` seconds; None when it fails, is slow or is paused.

    The read runs on a daemon thread: a CRM that keeps retrying never holds the pipeline
    (nor the process's exit), and one sink has at most one read in flight.
    """
    name = str(getattr(sink, "name", id(sink)))
    with _lock:
        if _paused.get(name, 0.0) > time.monotonic() or name in _in_flight:
            return None
        _in_flight.add(name)
    call = _Call(sink, name, ticket_id)
    threading.Thread(target=call.run, name=f"public-reply-{name}", daemon=True).start()
    if not call.done.wait(wait):
        with _lock:
            _paused[name] = time.monotonic() + PAUSE_SECONDS
        log.warning("public_reply_unavailable", sink=name, ticket=ticket_id, reason="timeout")
        return None
    if call.error is not None:
        log.warning("public_reply_unavailable", sink=name, ticket=ticket_id, reason=call.error)
        return None
    return call.reply


def planned(facts: dict[str, Any]) -> bool:
    """Whether the facts call for a status answer: a chase or duplicate by the verified contact."""
    request = facts.get("request") or {}
    return bool(
        request.get("relation") in ("follow_up", "duplicate")
        and request.get("sender_verified")
        and not request.get("auto_reply")
    )


def add_last_public_reply(ctx: Any, work: Any, facts: dict[str, Any]) -> None:
    """Fill `case.last_public_reply` (and `_at`) when a status answer is planned and the CRM
    has a public agent reply on the case's ticket; leave them out otherwise."""
    case = work.case
    if case is None or not planned(facts):
        return
    key = ticket_key_of_case(ctx.conn, case.id)
    found = reader_for(ctx.write_back(), ctx.sinks, key) if key else None
    if found is None:
        return
    reply = fetch(*found)
    if reply is None:
        return
    tz = None
    if ctx.rules is not None and hasattr(ctx.rules, "calendar"):
        tz = ctx.rules.calendar().spec.timezone
    lang = facts["case"].get("language") or getattr(work.request, "language", None)
    facts["case"]["last_public_reply"] = wording(reply, lang, tz)
    facts["case"]["last_public_reply_at"] = reply.at.isoformat()
    ctx.log.info("public_reply_quoted", case=case.reference, ticket=key)


def reset() -> None:
    """Forget paused sinks (tests, and a runtime that rebuilt its sinks)."""
    with _lock:
        _paused.clear()
        _in_flight.clear()
