"""Build crmbot's reply to a customer: threading, loop-prevention headers, UTF-8 plain text.

Loop prevention follows RFC 3834: every reply carries `Auto-Submitted: auto-replied` (section
5, the standard signal that a message was sent automatically in reply to another), plus
Microsoft's `X-Auto-Response-Suppress: All` so Exchange and Outlook send no out-of-office back.
No `Precedence` header is set: RFC 3834 does not define it, and `bulk` or `junk` count
against deliverability at large mailbox providers.

Replies are never sent to machines (mailer daemons, no-reply and bounce addresses) nor to
crmbot's own addresses, and any header value holding a CR or LF is refused rather than
cleaned, since it can only come from a broken template or hostile input.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from typing import Any

from bot.echo import cut
from bot.errors import SkippableError

MAX_REFERENCES = 20  # keep the first id and the most recent ones, as mail clients do
MAX_ID_CHARS = 250
MAX_SUBJECT_CHARS = 200  # what a template renders is cut there (bot/echo.py cuts the echo)

# Local parts of automated mailboxes, compared with separators and accents removed.
_AUTOMATED_EXACT = frozenset(
    {"mailerdaemon", "maildaemon", "postmaster", "listserv", "majordomo", "daemon"}
)
_AUTOMATED_PREFIXES = (
    "noreply",
    "donotreply",
    "dontreply",
    "nepasrepondre",
    "nerepondezpas",
    "bounce",
    "mailerdaemon",
)
_SEPARATORS = re.compile(r"[-_.]")
_REPLY_PREFIX = re.compile(r"^(?:\s*(?:re|aw|sv|antw|r[ée]f)\s*:\s*)+", re.IGNORECASE)
_REFERENCE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,15}-\d{1,12}")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
_MSG_ID_TOKEN = re.compile(r"[\x21-\x7e]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class ReplyRefused(SkippableError):
    """This reply must not be sent; `code` names why (stable, for results and logs)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Sender:
    """Who crmbot's replies come from."""

    address: str
    name: str = ""
    reply_to: str | None = None
    reference_in_subject: bool = True


@dataclass(frozen=True, slots=True)
class Reply:
    """A composed reply: the message, its one recipient and the Message-ID it carries."""

    message: EmailMessage
    recipient: str
    message_id: str  # without angle brackets, as the store keeps message ids


def _refuse_controls(value: str, what: str) -> None:
    if "\r" in value or "\n" in value:
        raise ReplyRefused(
            "header_injection", f"refused: the {what} holds a line break (CR/LF header injection)"
        )
    if _CONTROL.search(value):
        raise ReplyRefused("header_injection", f"refused: the {what} holds control characters")


def parse_address(value: Any, what: str = "address") -> str:
    """One mailbox's addr-spec (`local@domain`) from `value`; ReplyRefused when it is not one."""
    if not isinstance(value, str) or not value.strip():
        raise ReplyRefused("invalid_address", f"refused: no {what} to send to")
    _refuse_controls(value, what)
    found = [spec for _name, spec in getaddresses([value.strip()]) if spec or _name]
    if len(found) != 1:
        raise ReplyRefused("invalid_address", f"refused: {value!r} is not one valid {what}")
    spec = found[0]
    local, at, domain = spec.rpartition("@")
    if not at or not local or "." not in domain.strip(".") or any(c.isspace() for c in spec):
        raise ReplyRefused("invalid_address", f"refused: {value!r} is not a valid {what}")
    try:
        parsed = Address(addr_spec=spec)
    except (HeaderParseError, ValueError, IndexError) as exc:
        raise ReplyRefused("invalid_address", f"refused: {value!r} is not a valid {what}") from exc
    if not parsed.username or not parsed.domain:
        raise ReplyRefused("invalid_address", f"refused: {value!r} is not a valid {what}")
    if parsed.domain.isascii():
        return parsed.addr_spec
    try:  # an internationalised domain travels as its ASCII (punycode) form
        domain = parsed.domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ReplyRefused("invalid_address", f"refused: {value!r} has an invalid domain") from exc
    return Address(username=parsed.username, domain=domain).addr_spec


def _fold(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return _SEPARATORS.sub("", plain)


def automated_reason(address: str) -> str | None:
    """Why `address` looks like a machine's mailbox (bounce, no-reply...), or None for a person."""
    local = address.rpartition("@")[0].strip('"')
    base = _fold(local.split("+", 1)[0])
    if base in _AUTOMATED_EXACT:
        return f"{local!r} is a mail system address"
    if base.startswith(_AUTOMATED_PREFIXES):
        return f"{local!r} is an automated (no-reply or bounce) address"
    return None


def message_id_for(idempotency_key: str, from_address: str) -> str:
    """The Message-ID (no brackets) of the reply for this key: the same key, the same id."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:24]
    domain = from_address.rpartition("@")[2].strip().lower() or "crmbot.invalid"
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        domain = "crmbot.invalid"
    return f"crmbot.{digest}@{domain}"


def subject_with_reference(subject: str, reference: str | None) -> str:
    """`[#CB-12]` added after any `Re:` prefix, unless the subject already names the case."""
    subject = " ".join(subject.split())
    if not reference or not _REFERENCE.fullmatch(reference):
        return subject
    present = re.compile(rf"(?:\[#?|#){re.escape(reference)}\b", re.IGNORECASE)
    if present.search(subject):
        return subject
    prefix = _REPLY_PREFIX.match(subject)
    head = prefix.group(0).strip() + " " if prefix else ""
    rest = subject[prefix.end() :] if prefix else subject
    return f"{head}[#{reference}] {rest}".strip()


def _message_ids(values: Any, what: str) -> list[str]:
    """Message ids as bare `id@domain` tokens; CR/LF refused, malformed ids dropped."""
    if values is None:
        return []
    items = [values] if isinstance(values, str) else list(values)
    ids: list[str] = []
    for item in items:
        if not isinstance(item, str):
            continue
        _refuse_controls(item, what)
        for token in item.replace(",", " ").split():
            bare = token.strip().strip("<>")
            if (
                bare
                and len(bare) <= MAX_ID_CHARS
                and "@" in bare
                and _MSG_ID_TOKEN.fullmatch(bare)
                and "<" not in bare
                and ">" not in bare
            ):
                ids.append(bare)
    return list(dict.fromkeys(ids))


def thread_headers(in_reply_to: Any, references: Any) -> tuple[str | None, list[str]]:
    """The In-Reply-To id and the References chain (ending with it) for a reply."""
    parent_ids = _message_ids(in_reply_to, "In-Reply-To")
    parent = parent_ids[0] if parent_ids else None
    chain = [i for i in _message_ids(references, "References") if i != parent]
    if parent:
        chain.append(parent)
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return parent, chain


def compose_reply(
    payload: dict[str, Any],
    *,
    sender: Sender,
    idempotency_key: str,
    case_reference: str | None,
    now: float,
) -> Reply:
    """The reply an action's payload describes; ReplyRefused when it must not be sent."""
    recipient = parse_address(payload.get("to"), "recipient address")
    own = {sender.address.lower(), *([sender.reply_to.lower()] if sender.reply_to else [])}
    if recipient.lower() in own:
        raise ReplyRefused("own_address", f"refused: {recipient} is crmbot's own address (loop)")
    machine = automated_reason(recipient)
    if machine:
        raise ReplyRefused("automated_recipient", f"refused: {machine}; it would not be read")
    subject = payload.get("subject") or ""
    body = payload.get("body")
    if not isinstance(subject, str):
        raise ReplyRefused("invalid_payload", "refused: the subject is not text")
    _refuse_controls(subject, "subject")
    if not isinstance(body, str) or not body.strip():
        raise ReplyRefused("invalid_payload", "refused: the reply has no body")
    if "\x00" in body:
        raise ReplyRefused("invalid_payload", "refused: the body holds a NUL character")
    parent, chain = thread_headers(payload.get("in_reply_to"), payload.get("references"))
    message_id = message_id_for(idempotency_key, sender.address)

    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = Address(display_name=sender.name, addr_spec=sender.address)
    msg["To"] = Address(addr_spec=recipient)
    if sender.reply_to:
        msg["Reply-To"] = Address(addr_spec=sender.reply_to)
    reference = case_reference if sender.reference_in_subject else None
    msg["Subject"] = subject_with_reference(cut(subject, MAX_SUBJECT_CHARS), reference)
    msg["Date"] = format_datetime(datetime.fromtimestamp(now, UTC))
    msg["Message-ID"] = f"<{message_id}>"
    if parent:
        msg["In-Reply-To"] = f"<{parent}>"
    if chain:
        msg["References"] = " ".join(f"<{i}>" for i in chain)
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(body, charset="utf-8", cte="quoted-printable")
    language = payload.get("language")  # after set_content, which clears Content-* headers
    if isinstance(language, str) and _LANGUAGE.fullmatch(language):
        msg["Content-Language"] = language
    return Reply(message=msg, recipient=recipient, message_id=message_id)
