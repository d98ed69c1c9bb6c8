"""Routing reads the write-back typed: each source's sink, each sink's validated settings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.pipeline import StageContext
from bot.routing import ActionUse, case_only, refusals, route, write_back_settings
from bot.settings import Settings
from connectors.kit.writeback import WriteBackSettings
from connectors.maildir.settings import MaildirSettings
from connectors.rt.settings import RtSettings
from connectors.rt.tags import NO_TAGS

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
RT = {"type": "rt", "url": "https://rt.example.com", "token": "t0ken"}


def _mailbox(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {"type": "maildir", "path": str(tmp_path), **extra}


def test_a_sources_write_back_is_read_from_its_validated_or_its_raw_settings(
    tmp_path: Path,
) -> None:
    validated = MaildirSettings.model_validate(_mailbox(tmp_path, write_back="crm"))
    routes = WriteBackSettings.of(
        {"inbox": validated, "desk": {"type": "zendesk", "write_back": "zd"}, "other": {}}
    )
    assert routes.sink_for("inbox") == "crm" and routes.sink_for("desk") == "zd"
    assert routes.sink_for("other") is None and routes.sink_for(None) is None
    assert routes.write_back_sinks() == ["crm", "zd"]


def test_an_action_goes_where_the_sinks_validated_settings_say_it_can_be_performed(
    tmp_path: Path,
) -> None:
    inbox = {"inbox": MaildirSettings.model_validate(_mailbox(tmp_path, write_back="crm"))}
    with_tags = WriteBackSettings.of(inbox, {"crm": RtSettings.model_validate(RT)})
    assert route(with_tags, "add_tag", "inbox").sink == "crm"
    no_tags = RtSettings.model_validate({**RT, "tags_custom_field": None})
    without = WriteBackSettings.of(inbox, {"crm": no_tags})
    refused = route(without, "add_tag", "inbox")
    assert refused.sink is None and refused.refusal is not None and NO_TAGS in refused.refusal
    assert route(without, "add_note", "inbox").sink == "crm"
    assert route(without, "add_note", "elsewhere").sink is None  # a source with no write-back
    use = ActionUse("r1", "add_tag")
    assert [u for u, _ in refusals(without, [use])] == [use]
    assert case_only(WriteBackSettings(), [use]) == [use]


def test_a_stage_routes_by_the_write_back_the_worker_built_or_builds_it_once(
    tmp_path: Path,
) -> None:
    settings = Settings(sources={"inbox": _mailbox(tmp_path, write_back="crm")}, sinks={"crm": RT})
    given = write_back_settings(settings)
    assert isinstance(given.sinks["crm"], RtSettings) and given.sink_for("inbox") == "crm"
    ctx = StageContext(conn=None, settings=settings, now=NOW, routes=given)  # type: ignore[arg-type]
    assert ctx.write_back() is given
    built = StageContext(conn=None, settings=settings, now=NOW)  # type: ignore[arg-type]
    assert built.write_back() == given and built.write_back() is built.write_back()


def test_a_sink_with_invalid_settings_is_a_configuration_error_for_routing(
    tmp_path: Path,
) -> None:
    settings = Settings(
        sources={"inbox": _mailbox(tmp_path, write_back="crm")},
        sinks={"crm": {**RT, "url": "http://rt.example.com"}},
    )
    with pytest.raises(ConfigError, match=r"sinks\.crm"):
        write_back_settings(settings)
