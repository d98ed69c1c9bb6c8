"""Settings: environment over secret files over the settings file; errors name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.registry import build_source
from bot.settings import load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("CRMBOT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CRMBOT_SECRETS_DIR", str(tmp_path / "secrets"))


def test_the_environment_overrides_the_settings_file_and_nests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "crmbot.yaml"
    path.write_text("worker:\n  batch_size: 10\nsources:\n  box:\n    type: imap\n    host: h\n")
    monkeypatch.setenv("CRMBOT_SETTINGS_FILE", str(path))
    monkeypatch.setenv("CRMBOT_WORKER__BATCH_SIZE", "25")
    monkeypatch.setenv("CRMBOT_SOURCES__BOX__PASSWORD", "from-env")
    settings = load_settings()
    assert settings.worker.batch_size == 25
    assert settings.sources["box"] == {"type": "imap", "host": "h", "password": "from-env"}


def test_mounted_secret_files_fill_nested_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "crmbot_sources__box__password").write_text("s3cret\n")
    path = tmp_path / "crmbot.toml"
    path.write_text('[sources.box]\ntype = "imap"\nhost = "imap.example.com"\nusername = "u"\n')
    monkeypatch.setenv("CRMBOT_SETTINGS_FILE", str(path))
    settings = load_settings()
    assert settings.sources["box"]["password"] == "s3cret"
    _, conf = build_source("box", settings.sources["box"])
    assert conf.password.get_secret_value() == "s3cret"  # type: ignore[attr-defined]
    assert "s3cret" not in repr(conf)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CRMBOT_WORKER__BATCH_SIZE": "0"}, "worker.batch_size"),
        ({"CRMBOT_LOG__LEVEL": "verbose"}, "log.level"),
        ({"CRMBOT_CASES__REFERENCE_PREFIX": "cb 1"}, "cases.reference_prefix"),
    ],
)
def test_a_wrong_setting_is_named_with_what_is_expected(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert named in str(caught.value)


def test_an_unknown_key_in_the_settings_file_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "crmbot.yaml"
    path.write_text("worker:\n  batch_sise: 10\n")
    monkeypatch.setenv("CRMBOT_SETTINGS_FILE", str(path))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "worker.batch_sise: unknown setting" in str(caught.value)


def test_connector_settings_errors_name_the_source_and_key() -> None:
    with pytest.raises(ConfigError) as caught:
        build_source(
            "box",
            {"type": "imap", "host": "h", "username": "u", "password": "p", "port": "not-a-port"},
        )
    assert "sources.box.port" in str(caught.value)
    assert "'p'" not in str(caught.value)


def test_a_broken_settings_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "crmbot.yaml"
    path.write_text("store: [unclosed\n")
    monkeypatch.setenv("CRMBOT_SETTINGS_FILE", str(path))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "crmbot.yaml" in str(caught.value) and "not valid yaml" in str(caught.value)


def test_relative_paths_in_a_settings_file_are_relative_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "conf" / "crmbot.yaml"
    path.parent.mkdir()
    path.write_text(
        "store:\n  url: sqlite:///data/x.db\nsources:\n  m:\n    type: maildir\n    path: mail\n"
    )
    monkeypatch.setenv("CRMBOT_SETTINGS_FILE", str(path))
    settings = load_settings()
    assert settings.store.url == f"sqlite:///{tmp_path / 'conf' / 'data' / 'x.db'}"
    assert settings.sources["m"]["path"] == str(tmp_path / "conf" / "mail")


def test_a_settings_error_never_echoes_a_password() -> None:
    secret = "Hunter2SuperSecret"
    with pytest.raises(ConfigError) as bad_name:
        load_settings(sources={"bad name": {"type": "imap", "password": secret}})
    with pytest.raises(ConfigError) as bad_section:
        build_source(
            "inbox",
            {
                "type": "imap",
                "host": "h",
                "username": "u",
                "password": secret,
                "after_processing": "move",
            },
        )
    assert "sources" in str(bad_name.value) and "sources.inbox" in str(bad_section.value)
    assert secret not in str(bad_name.value) + str(bad_section.value)
