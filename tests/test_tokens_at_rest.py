"""OAuth2 tokens kept in the store are sealed with `secrets_key` (Fernet), on SQLite and on
PostgreSQL: the table never holds a token, a wrong key is a clear error, keys rotate, clear
rows from before are sealed at start; without a key a shared store refuses them at start."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.app import build_runtime
from bot.errors import ConfigError
from bot.sealing import PREFIX, Sealer, SecretsKeyError
from bot.settings import Settings
from bot.shared import StoreSharing
from bot.store import Store, open_store
from bot.store.tokens import read_tokens
from connectors.kit.shared import TokenSet
from tests.fakes.hubspot import FakeHubSpot
from tests.helpers.runtime import make_settings
from tests.helpers.stores import postgres_schema_url

KEY = "credential-key"
SEED = "refresh-seed-from-settings"


def _key() -> str:
    return Fernet.generate_key().decode()


def _refresh(sharing: StoreSharing, access: str, refresh: str) -> TokenSet:
    """Store a refreshed token set through the sharing, as a credential does."""
    sharing.declare(KEY, "hubspot")
    return sharing.refresh(
        KEY, "hubspot", SEED, lambda _: False, lambda _: TokenSet(access, refresh, 1_000.0)
    )


def _raw(store: Store) -> dict[str, object]:
    with store.connect() as conn:
        row = read_tokens(conn, KEY)
    assert row is not None
    return row


def test_the_table_holds_sealed_values_never_the_tokens(store: Store) -> None:
    sharing = StoreSharing(store, sealer=Sealer([_key()]))
    _refresh(sharing, "access-token-1", "refresh-token-1")
    raw = _raw(store)
    for column, token in (("access_token", "access-token-1"), ("refresh_token", "refresh-token-1")):
        value = str(raw[column])
        assert value.startswith(PREFIX) and token not in value
    assert sharing.current(KEY, "hubspot", SEED) == TokenSet(
        "access-token-1", "refresh-token-1", 1_000.0, 1
    )


def test_a_wrong_key_is_a_clear_error_at_start_and_on_read(store: Store) -> None:
    _refresh(StoreSharing(store, sealer=Sealer([_key()])), "access-token-1", "refresh-token-1")
    other = StoreSharing(store, sealer=Sealer([_key()]))
    with pytest.raises(SecretsKeyError, match="cannot be decrypted with secrets_key") as caught:
        other.check_at_rest()
    assert "'hubspot'" in str(caught.value) and "token-1" not in str(caught.value)
    with pytest.raises(SecretsKeyError, match="wrong key"):
        other.current(KEY, "hubspot", SEED)


def test_a_new_key_in_front_reads_the_old_values_and_seals_them_again_at_start(
    store: Store,
) -> None:
    old, new = _key(), _key()
    _refresh(StoreSharing(store, sealer=Sealer([old])), "access-token-1", "refresh-token-1")
    before = _raw(store)
    rotating = StoreSharing(store, sealer=Sealer.from_setting(f"{new}, {old}"))
    assert rotating.current(KEY, "hubspot", SEED).access_token == "access-token-1"
    assert rotating.check_at_rest() == "sealed with secrets_key"
    after = _raw(store)
    assert after["access_token"] != before["access_token"]
    only_new = StoreSharing(store, sealer=Sealer([new]))  # the old key dropped
    assert only_new.current(KEY, "hubspot", SEED).refresh_token == "refresh-token-1"
    with pytest.raises(SecretsKeyError):
        StoreSharing(store, sealer=Sealer([old])).current(KEY, "hubspot", SEED)


def test_tokens_kept_in_clear_before_a_key_are_read_then_sealed(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        clear = StoreSharing(store)  # a local SQLite store without a key: today's behaviour
        _refresh(clear, "access-token-1", "refresh-token-1")
        assert _raw(store)["access_token"] == "access-token-1"
        assert clear.check_at_rest().startswith("in clear")
        sealed = StoreSharing(store, sealer=Sealer([_key()]))
        assert sealed.current(KEY, "hubspot", SEED).access_token == "access-token-1"
        sealed.check_at_rest()
        raw = _raw(store)
        assert str(raw["access_token"]).startswith(PREFIX)
        assert "refresh-token-1" not in str(raw["refresh_token"])
        assert sealed.current(KEY, "hubspot", SEED).refresh_token == "refresh-token-1"
    finally:
        store.dispose()


def test_a_malformed_key_is_refused_with_where_it_comes_from() -> None:
    with pytest.raises(SecretsKeyError, match="CRMBOT_SECRETS_KEY"):
        Sealer.from_setting("not-a-fernet-key")


def test_the_key_comes_from_the_environment_or_a_secret_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = _key()
    monkeypatch.setenv("CRMBOT_SECRETS_KEY", key)
    assert Settings().secrets_key is not None
    assert Settings().secrets_key.get_secret_value() == key  # type: ignore[union-attr]
    monkeypatch.delenv("CRMBOT_SECRETS_KEY")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "crmbot_secrets_key").write_text(key + "\n")
    monkeypatch.setenv("CRMBOT_SECRETS_DIR", str(secrets))
    assert Settings().secrets_key.get_secret_value() == key  # type: ignore[union-attr]


def _oauth_source(fake: FakeHubSpot) -> dict[str, object]:
    return {
        "type": "hubspot",
        "base_url": fake.url,
        "oauth_client_id": "client-id",
        "oauth_client_secret": "client-secret",
        "oauth_refresh_token": "refresh-0",
        "interval_seconds": 60,
    }


@pytest.mark.postgres
def test_without_a_key_a_shared_store_refuses_oauth_tokens_at_start() -> None:
    with (
        FakeHubSpot(oauth_client=("client-id", "client-secret", "refresh-0")) as fake,
        postgres_schema_url() as url,
    ):
        with pytest.raises(ConfigError, match="kept in clear in a store every replica shares"):
            build_runtime(make_settings(url, {"hub": _oauth_source(fake)}))
        runtime = build_runtime(
            make_settings(url, {"hub": _oauth_source(fake)}, secrets_key=_key())
        )
        try:
            runtime.sources["hub"][0].check()  # type: ignore[attr-defined]
            with runtime.store.connect() as conn:
                (row,) = [
                    read_tokens(conn, k)
                    for k in [runtime.sources["hub"][0].api.http._auth._key]  # type: ignore[attr-defined]
                ]
            assert row is not None and str(row["refresh_token"]).startswith(PREFIX)
            assert fake.token not in str(row["access_token"])
        finally:
            runtime.close()


def test_without_a_key_a_local_sqlite_store_keeps_them_in_clear(tmp_path: Path) -> None:
    with FakeHubSpot(oauth_client=("client-id", "client-secret", "refresh-0")) as fake:
        runtime = build_runtime(
            make_settings(f"sqlite:///{tmp_path / 'c.db'}", {"hub": _oauth_source(fake)})
        )
        try:
            runtime.sources["hub"][0].check()  # type: ignore[attr-defined]
            key = runtime.sources["hub"][0].api.http._auth._key  # type: ignore[attr-defined]
            with runtime.store.connect() as conn:
                row = read_tokens(conn, key)
            assert row is not None and row["access_token"] == fake.token
        finally:
            runtime.close()


def test_crmbot_secrets_new_key_prints_a_key_that_seals_and_opens() -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    result = CliRunner().invoke(app, ["secrets", "new-key"])
    assert result.exit_code == 0
    sealer = Sealer.from_setting(result.output.strip())
    assert sealer.open(sealer.seal("refresh-token-1"), "a token") == "refresh-token-1"


def test_sealed_tokens_without_a_key_are_a_clear_error_not_a_bearer(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        _refresh(StoreSharing(store, sealer=Sealer([_key()])), "access-token-1", "refresh-1")
        keyless = StoreSharing(store)
        with pytest.raises(SecretsKeyError, match="no secrets_key is set"):
            keyless.check_at_rest()
        with pytest.raises(SecretsKeyError, match="no secrets_key is set"):
            keyless.current(KEY, "hubspot", SEED)
    finally:
        store.dispose()
