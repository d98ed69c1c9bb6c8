"""The runtime's store as the state replicas share: API budgets and OAuth2 tokens.

`StoreSharing` implements the kit's `SharedBudgets` and `SharedTokens` over the store
(`bot/store/budget.py`, `bot/store/tokens.py`); `build_runtime` builds the connectors inside
`connectors.kit.shared.sharing(...)` so that their rate limiters and OAuth2 credentials use
it, and binds the store once it is open. Connectors never see the store.

OAuth2 tokens are sealed with the settings' `secrets_key` (bot/sealing.py) before they reach
the store. Without a key, tokens are kept in clear only in a local SQLite store (a warning,
once); a shared store (PostgreSQL) refuses them: `check_at_rest`, called at start, says so
as a fatal error, and seals again every value kept in clear or with an older key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import ConfigError, SourceUnavailable
from bot.logging import register_secret
from bot.sealing import KEY_HINT, Sealer, SecretsKeyError, is_sealed
from bot.settings import Settings
from bot.store import Store
from bot.store import budget as budget_store
from bot.store import tokens as token_store
from connectors.kit.shared import Grant, SharedState, TokenSet

log = structlog.get_logger(__name__)
STORE_RETRY_SECONDS = 5.0
_NO_KEY = (
    "the OAuth2 tokens of {connector!r} in the store are sealed, and no secrets_key is set: "
    "set the key they were sealed with"
)  # a store that cannot hand out budget: the caller comes back then


def sealer_from_settings(settings: Settings) -> Sealer | None:
    """The sealer of the settings' `secrets_key`, or None when no key is set."""
    key = settings.secrets_key
    if key is None or not key.get_secret_value().strip():
        return None
    return Sealer.from_setting(key.get_secret_value())


class StoreSharing:
    """API budgets and OAuth2 tokens kept in the store, shared by every replica using it."""

    def __init__(self, store: Store | None = None, *, sealer: Sealer | None = None) -> None:
        self._store = store
        self._sealer = sealer
        self._declared: dict[str, str] = {}  # credential key -> connector
        self._warned_clear = False

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

    def declare(self, key: str, connector: str) -> None:
        """Remember a credential that keeps its tokens here (checked by `check_at_rest`)."""
        self._declared[key] = connector

    def check_at_rest(self) -> str:
        """At start: refuse clear tokens in a shared store; seal again what needs it; says how
        the tokens are kept.

        Without `secrets_key`, a credential declared on a shared store is a ConfigError (a
        local SQLite store keeps them in clear, with a warning). With it, every stored value
        kept in clear or sealed with an older key is sealed with the newest, and a value no
        key opens is a SecretsKeyError.
        """
        if self._store is None:
            return "no store"
        if self._sealer is None:
            with self._store.connect() as conn:
                for row in token_store.lock_all_tokens(conn, lock=False):
                    if is_sealed(row["access_token"]) or is_sealed(row["refresh_token"]):
                        raise SecretsKeyError(_NO_KEY.format(connector=row["connector"]))
            if not self._declared:
                return "no OAuth2 credential"
            self._clear_allowed(sorted(set(self._declared.values())))
            return "in clear (no secrets_key; a local SQLite store)"
        with self._store.begin() as conn:
            for row in token_store.lock_all_tokens(conn):
                what = f"the OAuth2 tokens of {row['connector']!r}"
                access = row["access_token"]
                opened_access = None if access is None else self._sealer.open(access, what)
                opened_refresh = self._sealer.open(row["refresh_token"], what)
                if self._sealer.up_to_date(access) and self._sealer.up_to_date(
                    row["refresh_token"]
                ):
                    continue
                token_store.rewrite_values(
                    conn,
                    row["key"],
                    access_token=None
                    if opened_access is None
                    else self._sealer.seal(opened_access),
                    refresh_token=self._sealer.seal(opened_refresh),
                )
                register_secret(opened_access)
                register_secret(opened_refresh)
                log.info("oauth2_tokens_sealed", connector=row["connector"])
        return "sealed with secrets_key"

    def _clear_allowed(self, connectors: list[str]) -> None:
        """Clear tokens: a warning once on a local SQLite store, a ConfigError on a shared one."""
        assert self._store is not None
        if self._store.is_postgres:
            raise ConfigError(
                f"OAuth2 tokens of {', '.join(connectors)} would be kept in clear in a store "
                f"every replica shares; set {KEY_HINT}"
            )
        if not self._warned_clear:
            self._warned_clear = True
            log.warning(
                "oauth2_tokens_in_clear",
                connectors=connectors,
                why="no secrets_key: tokens are kept in clear in the local SQLite store",
            )

    def _seal(self, value: str, connector: str) -> str:
        if self._sealer is None:
            self._clear_allowed([connector])
            return value
        return self._sealer.seal(value)

    def _open(self, row: dict[str, Any], connector: str) -> TokenSet:
        if self._sealer is None:
            if is_sealed(row["access_token"]) or is_sealed(row["refresh_token"]):
                raise SecretsKeyError(_NO_KEY.format(connector=connector))
            return TokenSet(**row)
        what = f"the OAuth2 tokens of {connector!r}"
        access = row["access_token"]
        return TokenSet(
            access_token=None if access is None else self._sealer.open(access, what),
            refresh_token=self._sealer.open(row["refresh_token"], what),
            expires_at=row["expires_at"],
            version=row["version"],
        )

    def current(self, key: str, connector: str, seed: str) -> TokenSet:
        """The stored tokens of one credential, or the configured refresh token alone."""
        with self._transaction("OAuth2 token") as conn:
            row = token_store.read_tokens(conn, key)
        if row is None:
            return TokenSet(None, seed, None, 0)
        return _known(self._open(row, connector))

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
                row = token_store.lock_tokens(conn, key, connector, self._seal(seed, connector))
                stored = _known(self._open(row, connector))
                if usable(stored):
                    return stored
                fetched = dataclasses.replace(
                    _known(fetch(stored.refresh_token)), version=stored.version + 1
                )
                token_store.save_tokens(
                    conn,
                    key,
                    access_token=self._seal(fetched.access_token or "", connector),
                    refresh_token=self._seal(fetched.refresh_token, connector),
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
