"""State that replicas share through the runtime: API rate-limit budgets and OAuth2 tokens.

A connector never sees this module. The runtime opens `sharing(state)` while it builds the
connectors; every rate limiter (`TokenBucket.per_window` with a name) and OAuth2 credential
made inside takes its budget and its tokens from `state` (the runtime's store, see
`bot/shared.py`) instead of keeping them in memory. Built outside, they stay local, as before.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Grant:
    """What a shared budget answered: `granted` whole tokens, or none and how long to wait."""

    granted: int
    wait: float = 0.0


class SharedBudgets(Protocol):
    """Token buckets kept where every replica takes from the same one."""

    def take(
        self,
        connector: str,
        key: str,
        *,
        wanted: int,
        minimum: int,
        capacity: float,
        rate: float,
        now: float,
    ) -> Grant:
        """Take up to `wanted` tokens (none unless `minimum`) from one bucket at wall time `now`."""
        ...

    def pause(self, connector: str, key: str, *, until: float, now: float) -> None:
        """Grant nothing from the (connector, key) bucket before wall time `until`."""
        ...


@dataclass(frozen=True, slots=True)
class TokenSet:
    """An OAuth2 access token, its expiry (epoch seconds) and the current refresh token."""

    access_token: str | None = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float | None
    version: int = 0


class SharedTokens(Protocol):
    """OAuth2 tokens kept where every replica reads the newest ones.

    `key` names one credential (token endpoint, client, configured refresh token `seed`);
    `connector` only labels it for operators.
    """

    def declare(self, key: str, connector: str) -> None:
        """A credential built in the sharing block will keep its tokens here (called once,
        when it is built, so that the runtime can check at start how they are kept)."""
        ...

    def current(self, key: str, connector: str, seed: str) -> TokenSet:
        """The stored tokens (the configured refresh token `seed` when none are stored)."""
        ...

    def refresh(
        self,
        key: str,
        connector: str,
        seed: str,
        usable: Callable[[TokenSet], bool],
        fetch: Callable[[str], TokenSet],
    ) -> TokenSet:
        """Under a lock shared by replicas: the stored tokens if `usable`, else `fetch`ed ones.

        `fetch` is called with the stored refresh token, at most once, while the lock is held;
        what it returns is stored before the lock is released.
        """
        ...


@dataclass(frozen=True, slots=True)
class SharedState:
    """What the runtime shares; either part may be None (kept local)."""

    budgets: SharedBudgets | None = None
    tokens: SharedTokens | None = None


def account_budget(vendor: str, *identity: str | None) -> str:
    """The budget name of one vendor account, for `TokenBucket.per_window(name=...)` as
    `f"{account_budget(...)}:{limit}"`.

    A vendor's rate limit belongs to the account the calls are made on, not to crmbot's name
    for a source or sink: each connector declares what identifies that account (its base URL,
    an account id, the credential a vendor counts calls by), and every source and sink that
    declares the same identity takes from one budget, whatever it is called. The parts are
    normalised (trimmed, lower case, no trailing '/') and hashed: `vendor@<16 hex>`, so that a
    credential used as identity never reaches the store.
    """
    parts = [(part or "").strip().rstrip("/").lower() for part in identity]
    digest = hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:16]
    return f"{vendor}@{digest}"


_building = threading.local()


@contextmanager
def sharing(state: SharedState | None) -> Iterator[None]:
    """Rate limiters and OAuth2 credentials built in this block (this thread) use `state`."""
    previous = getattr(_building, "state", None)
    _building.state = state
    try:
        yield
    finally:
        _building.state = previous


def current() -> SharedState | None:
    """The shared state of the `sharing` block this thread is in, if any."""
    return getattr(_building, "state", None)
