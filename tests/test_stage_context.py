"""Stages read a source's validated settings, typed, not the raw settings dictionary."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.pipeline import StageContext
from bot.settings import Settings
from connectors.maildir.settings import MaildirSettings

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _context(tmp_path: Path, raw: dict[str, object], **kw: object) -> StageContext:
    settings = Settings(sources={"inbox": raw})
    return StageContext(conn=None, settings=settings, now=NOW, **kw)  # type: ignore[arg-type]


def test_a_stage_gets_the_settings_the_worker_validated(tmp_path: Path) -> None:
    raw = {"type": "maildir", "path": str(tmp_path), "status_map": {"7": "waiting_customer"}}
    validated = MaildirSettings.model_validate(raw)
    ctx = _context(tmp_path, raw, sources={"inbox": validated})
    assert ctx.source_settings("inbox") is validated


def test_a_context_built_without_them_validates_the_source_once(tmp_path: Path) -> None:
    raw = {"type": "maildir", "path": str(tmp_path), "write_back": "crm"}
    ctx = _context(tmp_path, raw)
    conf = ctx.source_settings("inbox")
    assert isinstance(conf, MaildirSettings)
    assert conf.write_back == "crm" and conf.status_map == {}
    assert ctx.source_settings("inbox") is conf
    assert ctx.source_settings("gone") is None


def test_a_source_with_invalid_settings_is_a_configuration_error(tmp_path: Path) -> None:
    ctx = _context(tmp_path, {"type": "maildir", "path": str(tmp_path), "status_mapp": {}})
    with pytest.raises(ConfigError, match="status_mapp"):
        ctx.source_settings("inbox")
