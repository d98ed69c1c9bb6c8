"""Build test messages and Maildirs."""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

_counter = itertools.count(1)
BASE = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def make_message(
    *,
    subject: str = "Question sur ma facture",
    body: str = "Bonjour, je ne comprends pas ma facture de novembre. Merci.",
    sender: str = "Jean Dupont <jean.dupont@example.fr>",
    to: str = "support@acme-energie.fr",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    date: datetime | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """A well-formed RFC 5322 message as bytes."""
    n = next(_counter)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or BASE + timedelta(minutes=n))
    msg["Message-ID"] = f"<{message_id or f'test-{n}-{os.getpid()}@example.fr'}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        msg["References"] = " ".join(f"<{r}>" for r in references)
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    return bytes(msg)


def make_maildir(root: Path) -> Path:
    """An empty Maildir (cur/, new/, tmp/)."""
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def deliver(root: Path, raw: bytes, *, mtime: float | None = None) -> str:
    """Deliver a message into Maildir new/ (tmp/ then rename), return its key."""
    key = f"{1795400000 + next(_counter)}.M{next(_counter)}P{os.getpid()}.test"
    tmp = root / "tmp" / key
    tmp.write_bytes(raw)
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    os.rename(tmp, root / "new" / key)
    return key
