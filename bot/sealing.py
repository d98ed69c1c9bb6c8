"""Secrets kept in the store (OAuth2 access and refresh tokens), sealed with `secrets_key`.

A sealed value reads `fernet:1:<Fernet token>` (AES-128-CBC with HMAC-SHA256, from the
`cryptography` package). A value without that prefix was stored in clear (before a key was
set, or on a local SQLite store without one): it is read as it is and sealed when it is next
written; at start the runtime seals every such value at once (`bot/shared.py`).

`secrets_key` holds one or more Fernet keys separated by commas, the newest first: values are
sealed with the first and opened with any of them (MultiFernet). To rotate, put a new key in
front and restart (the values are sealed again with it at start), then drop the old one.
A new key: `crmbot secrets new-key` (cryptography's `Fernet.generate_key()`).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.errors import ConfigError
from bot.logging import register_secret

PREFIX = "fernet:1:"
KEY_HINT = (
    "secrets_key (environment CRMBOT_SECRETS_KEY, or the secret file crmbot_secrets_key): "
    "one or more Fernet keys (44 url-safe base64 characters), separated by commas, newest "
    "first"
)


class SecretsKeyError(ConfigError):
    """`secrets_key` is malformed, or cannot open a value sealed in the store."""


def is_sealed(value: str | None) -> bool:
    """True when a stored value was sealed (not kept in clear)."""
    return value is not None and value.startswith(PREFIX)


class Sealer:
    """Seals values with the newest key, opens them with any of the configured keys."""

    def __init__(self, keys: Sequence[str]) -> None:
        cleaned = [k.strip() for k in keys if k.strip()]
        if not cleaned:
            raise SecretsKeyError(f"secrets_key is empty; expected {KEY_HINT}")
        fernets = []
        for number, key in enumerate(cleaned, 1):
            register_secret(key)
            try:
                fernets.append(Fernet(key.encode("ascii")))
            except (ValueError, UnicodeError):
                raise SecretsKeyError(
                    f"secrets_key: key {number} of {len(cleaned)} is not a Fernet key; "
                    f"expected {KEY_HINT}"
                ) from None
        self._newest = fernets[0]
        self._all = MultiFernet(fernets)

    @classmethod
    def from_setting(cls, value: str) -> Sealer:
        """The sealer of a `secrets_key` setting (keys separated by commas, newest first)."""
        return cls(value.split(","))

    def seal(self, value: str) -> str:
        """The value sealed with the newest key, prefixed with the format's version."""
        return PREFIX + self._all.encrypt(value.encode("utf-8")).decode("ascii")

    def open(self, value: str, what: str) -> str:
        """A stored value in clear: opened if sealed, as it is if it was kept in clear.

        Raises SecretsKeyError when no configured key opens it (`what` names it).
        """
        if not is_sealed(value):
            return value
        try:
            return self._all.decrypt(value[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretsKeyError(
                f"{what} in the store cannot be decrypted with secrets_key: a wrong key, or "
                "the key it was sealed with is no longer listed (keep the old key after the "
                "new one until a restart has sealed every value again)"
            ) from None

    def up_to_date(self, value: str | None) -> bool:
        """True when the value is absent or sealed with the newest key."""
        if value is None:
            return True
        if not is_sealed(value):
            return False
        try:
            self._newest.decrypt(value[len(PREFIX) :].encode("ascii"))
        except InvalidToken:
            return False
        return True
