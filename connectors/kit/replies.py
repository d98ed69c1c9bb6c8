"""The last public agent reply on a ticket: what a connector hands back, and the capability.

A connector that can read it declares the capability `last_public_reply` and its sink has
`last_public_reply(ticket_id) -> PublicReply | None`. The connector only fetches and maps
(vendor rules for "public" and "agent" stay in its own replies.py); the runtime decides when
to ask, bounds the wait and words the excerpt (bot/public_reply.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

CAPABILITY = "last_public_reply"
MAX_ITEMS = 500  # comments/transactions/e-mails read at most for one ticket


@dataclass(frozen=True, slots=True)
class PublicReply:
    """An agent's reply the customer saw: when it was made and its text as the CRM has it."""

    at: datetime
    text: str
    author: str | None = None


@runtime_checkable
class PublicReplies(Protocol):
    """A sink that can read a ticket's last public agent reply."""

    def last_public_reply(self, ticket_id: str) -> PublicReply | None:
        """The ticket's newest public reply written by an agent, or None if it has none."""
        ...
