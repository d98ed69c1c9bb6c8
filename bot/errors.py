"""One exception hierarchy, grouped by what the caller should do about it."""

from __future__ import annotations


class CrmbotError(Exception):
    """Base of every error crmbot raises on purpose."""


class FatalError(CrmbotError):
    """Stop: retrying cannot help (bad credentials, invalid settings, broken rules)."""


class ConfigError(FatalError):
    """A setting or a rules file is wrong; the message names it and what is expected."""


class AuthError(FatalError):
    """The remote system refused our credentials."""


class RetriableError(CrmbotError):
    """Try again later: the remote side is down, slow, or rate-limiting us."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SourceUnavailable(RetriableError):
    """A source cannot be reached right now (connection refused, timeout, 5xx)."""


class RateLimited(RetriableError):
    """The remote API said 429; `retry_after` says when to come back."""


class SkippableError(CrmbotError):
    """This one item is bad; record why, skip it, and go on with the others."""


class MalformedInput(SkippableError):
    """An input item could not be parsed or mapped."""


class TooLarge(SkippableError):
    """An input item is over the configured size cap."""


class CursorReset(CrmbotError):
    """A source's cursor is no longer valid (IMAP UIDVALIDITY changed); re-read from the start."""


class WebhookRefused(SkippableError):
    """A webhook request failed a check; `status` is the HTTP answer, `reason` a stable code."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
