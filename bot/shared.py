"""The runtime's store as the state replicas share: API budgets and OAuth2 tokens.

`StoreSharing` implements the kit's `SharedBudgets` and `SharedTokens` over the store
(`bot/store/budget.py`, `bot/store/tokens.py`); `build_runtime` builds the connectors inside
`connectors.kit.shared.sharing(...)` so that their rate limiters and OAuth2 credentials use
it, and binds the store once it is open. Connectors never see the store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import structlog
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import SourceUnavailable
from bot.logging import register_secret
from bot.store import Store
from bot.store import budget as budget_store
from bot.store import tokens as token_store
from connectors.kit.shared import Grant, SharedState, TokenSet

log = structlog.get_logger(__name__)
STORE_RETRY_SECONDS = 5.0  # a store that cannot hand out budget: the caller comes back then


class StoreSharing:
    """API budgets and OAuth2 tokens kept in the store, shared by every replica using it."""

    def __init__(self, store: Store | None = None) -> None:
        self._store = store

    def bind(self, store: Store) -> None:
        """Use this store (opened after the connectors were built)."""
        self._store = store

    @property
    def bound(self) -> bool:
        """True once a store is bound."""
        return self._store is not None

    def state(self) -> SharedState:
        """What the kit's `sharing(...)` block takes."""
        return SharedState(budgets=self, tokens=self)

    @contextmanager
    def _transaction(self, what: str) -> Iterator[Connection]:
        if self._store is None:
            raise SourceUnavailable(f"store: not open yet, no shared {what}")
        try:
            with self._store.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise SourceUnavailable(
                f"store: the shared {what} cannot be read ({type(exc).__name__})",
                retry_after=STORE_RETRY_SECONDS,
            ) from None

    # -- budgets ----------------------------------------------------------------------------

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
        """Take up to `wanted` tokens from the shared (connector, key) bucket."""
        with self._transaction("API budget") as conn:
            granted, wait = budget_store.take_tokens(
                conn,
                connector,
                key,
                wanted=wanted,
                minimum=minimum,
                capacity=capacity,
                rate=rate,
                now=now,
            )
        return Grant(granted, wait)

    def pause(self, connector: str, key: str, *, until: float, now: float) -> None:
        """Every replica grants nothing from (connector, key) before `until`."""
        with self._transaction("API budget") as conn:
            budget_store.pause_budget(conn, connector, key, until=until, capacity=1.0, now=now)

    # -- tokens -----------------------------------------------------------------------------

    def current(self, key: str, connector: str, seed: str) -> TokenSet:
        """The stored tokens of one credential, or the configured refresh token alone."""
        with self._transaction("OAuth2 token") as conn:
            row = token_store.read_tokens(conn, key)
        if row is None:
            return TokenSet(None, seed, None, 0)
        return _known(TokenSet(**row))

    def refresh(
        self,
        key: str,
        connector: str,
        seed: str,
        usable: Callable[[TokenSet], bool],
        fetch: Callable[[str], TokenSet],
    ) -> TokenSet:
        """Under the row's lock: the stored tokens if usable, else fetched and stored ones."""
        fetched: TokenSet | None = None
        try:
            with self._transaction("OAuth2 token") as conn:
                stored = _known(TokenSet(**token_store.lock_tokens(conn, key, connector, seed)))
                if usable(stored):
                    return stored
                fetched = dataclasses.replace(
                    _known(fetch(stored.refresh_token)), version=stored.version + 1
                )
                token_store.save_tokens(
                    conn,
                    key,
                    access_token=fetched.access_token or "",
                    refresh_token=fetched.refresh_token,
                    expires_at=fetched.expires_at,
                    version=fetched.version,
                )
        except SourceUnavailable:
            if fetched is not None:  # refreshed at the vendor, not saved: keep it in memory
                log.error("oauth2_token_not_saved", connector=connector)
                return fetched
            raise
        return fetched


def _known(tokens: TokenSet) -> TokenSet:
    """Tokens read from the store or a vendor: masked in every log line from now on."""
    register_secret(tokens.access_token)
    register_secret(tokens.refresh_token)
    return tokens
