"""Tags on Request Tracker: add_tag/remove_tag kept in one ticket custom field (real RT 5)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.routing import performs
from bot.settings import Settings
from bot.store import Store, open_store
from connectors.rt.settings import RtSettings
from connectors.rt.sink import RtSink
from connectors.rt.tags import merge_tags, parse_tags
from rules.loader import RulesError
from tests.helpers.actions import crm_worker, one_rule_pack, outbox_rows
from tests.servers.rt import RtServer, rt_server
from tests.test_rt_sink import act

__all__ = ["rt_server"]  # the session fixture, imported so pytest finds it here

TAG = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789:_-", min_size=1, max_size=12)
OPS = st.lists(st.tuples(st.sampled_from(["add_tag", "remove_tag"]), TAG), max_size=8)


@given(agent=st.lists(TAG, max_size=6), ops=OPS, sep=st.sampled_from([" ", ",", ", ", ";"]))
def test_merging_keeps_other_tags_applies_each_operation_in_order_and_sorts(
    agent: list[str], ops: list[tuple[str, str]], sep: str
) -> None:
    merged = parse_tags(merge_tags(sep.join(agent), ops))
    expected = set(agent)
    for kind, tag in ops:
        expected = expected | {tag} if kind == "add_tag" else expected - {tag}
    assert merged == sorted(expected)
    assert merge_tags(" ".join(merged), ops) == " ".join(merged)  # idempotent: a retry is harmless


def test_an_rt_sink_performs_tags_unless_tags_custom_field_is_null() -> None:
    conf = {"type": "rt", "url": "https://rt.example.com", "token": "t0ken"}
    assert {"add_tag", "remove_tag"} <= performs(conf)
    assert {"add_tag", "remove_tag"} <= performs({**conf, "tags_custom_field": "labels"})
    assert not {"add_tag", "remove_tag"} & performs({**conf, "tags_custom_field": None})


def _settings(tmp_path: Path, rules: Path, **sink: Any) -> Settings:
    inbox = tmp_path / "inbox"
    for sub in ("cur", "new", "tmp"):
        (inbox / sub).mkdir(parents=True, exist_ok=True)
    rt = {"type": "rt", "url": "https://rt.example.com", "token": "t0ken", **sink}
    return Settings(
        store={"url": f"sqlite:///{tmp_path / 'crmbot.db'}"},
        sources={"mail": {"type": "maildir", "path": str(inbox), "write_back": "crm_out"}},
        sinks={"crm_out": rt},
        rules_dir=str(rules),
    )


def test_the_default_pack_loads_for_an_rt_write_back(tmp_path: Path) -> None:
    from bot.app import rules_provider

    settings = _settings(tmp_path, tmp_path / "none")
    settings = settings.model_copy(update={"rules_dir": None})
    assert rules_provider(settings)() is not None


def test_a_tag_rule_is_refused_at_load_when_tags_custom_field_is_null(tmp_path: Path) -> None:
    from bot.app import rules_provider

    pack = one_rule_pack(tmp_path / "rules", [{"type": "remove_tag", "tag": "x"}])
    settings = _settings(tmp_path, pack, tags_custom_field=None)
    with pytest.raises(RulesError) as refused:
        rules_provider(settings)
    text = " ".join(str(refused.value).split())
    assert "rule 'under_test': action remove_tag" in text
    assert (
        "sink 'crm_out' (rt) cannot perform remove_tag: Request Tracker has no tags: "
        "set tags_custom_field to a custom field that holds them"
    ) in text


# ------------------------------------------------------------------------- real RT


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[Store, str]]:
    """A fresh SQLite store and its URL."""
    url = f"sqlite:///{tmp_path / 'crmbot.db'}"
    store = open_store(url)
    yield store, url
    store.dispose()


@pytest.fixture
def sink(rt_server: RtServer) -> Iterator[RtSink]:
    """A sink keeping tags in crmbot_tags (created in the test RT)."""
    settings = RtSettings(
        type="rt", url=rt_server.url, username=rt_server.username, password=rt_server.password
    )
    out = RtSink("rt", settings)
    yield out
    out.close()


def test_an_agents_tags_in_the_field_survive_crmbots_add_and_remove(
    rt_server: RtServer, sink: RtSink
) -> None:
    ticket_id = rt_server.create_ticket("Tags", "tags@example.com", "Hello")
    rt_server.update_ticket(ticket_id, CustomFields={"crmbot_tags": "vip, legal"})
    [*results] = sink.perform(
        [
            act("add_tag", ticket_id, tag="urgent"),
            act("add_tag", ticket_id, tag="triage"),
            act("remove_tag", ticket_id, tag="triage"),
            act("add_tag", ticket_id, tag="vip"),
        ]
    )
    assert [r.status for r in results] == ["done"] * 4, results
    assert rt_server.custom_field(ticket_id, "crmbot_tags") == "legal urgent vip"
    [again] = sink.perform([act("remove_tag", ticket_id, tag="urgent")])
    assert again.status == "done"
    assert rt_server.custom_field(ticket_id, "crmbot_tags") == "legal vip"


def test_a_tag_is_skipped_with_how_to_fix_it_when_the_custom_field_does_not_exist(
    rt_server: RtServer,
) -> None:
    settings = RtSettings(
        type="rt",
        url=rt_server.url,
        username=rt_server.username,
        password=rt_server.password,
        tags_custom_field="crmbot_labels",
    )
    ticket_id = rt_server.create_ticket("No field", "nofield@example.com", "Hello")
    with closing(RtSink("rt", settings)) as sink:
        [*results] = sink.perform(
            [act("add_tag", ticket_id, tag="x"), act("add_note", ticket_id, text="still noted")]
        )
    assert [r.status for r in results] == ["skipped", "done"]
    assert (
        "create a custom field crmbot_labels applied to the queue, or set tags_custom_field: null"
        in results[0].detail["reason"]
    )


def test_a_stray_tag_for_an_rt_sink_without_tags_custom_field_is_skipped_with_the_reason(
    rt_server: RtServer,
) -> None:
    settings = RtSettings(
        type="rt",
        url=rt_server.url,
        username=rt_server.username,
        password=rt_server.password,
        tags_custom_field=None,
    )
    ticket_id = rt_server.create_ticket("Stray", "stray@example.com", "Hello")
    with closing(RtSink("rt", settings)) as sink:
        [result] = sink.perform([act("add_tag", ticket_id, tag="x")])
    assert result.status == "skipped"
    assert "set tags_custom_field" in result.detail["reason"]
    assert rt_server.custom_field(ticket_id, "crmbot_tags") is None


def test_add_and_remove_tag_reach_the_rt_ticket_through_the_worker_and_outbox(
    sqlite_store: tuple[Store, str], tmp_path: Path, rt_server: RtServer
) -> None:
    store, url = sqlite_store
    start = datetime.now(UTC) - timedelta(seconds=1)
    ticket_id = rt_server.create_ticket(
        "Question tags",
        "tags-e2e@client.example",
        "Bonjour, une question.",
        CustomFields={"crmbot_tags": "agent:kept stale"},
    )
    time.sleep(2.05 - (time.time() % 1))  # LastUpdated is per second, and held back one second
    conf = {
        "type": "rt",
        "url": rt_server.url,
        "username": rt_server.username,
        "password": rt_server.password,
    }
    rules = one_rule_pack(
        tmp_path / "rules",
        [{"type": "add_tag", "tag": "crmbot:new"}, {"type": "remove_tag", "tag": "stale"}],
    )
    worker = crm_worker(
        store,
        url,
        rules,
        {**conf, "write_back": "rt_out", "start_time": start.isoformat(), "fetch_body": False},
        {"rt_out": conf},
    )
    worker.run_once()
    mine = [
        r
        for r in outbox_rows(store)
        if r["action"] in ("add_tag", "remove_tag")
        and r["result"].get("ticket_id") == str(ticket_id)
    ]
    assert sorted(r["action"] for r in mine) == ["add_tag", "remove_tag"], outbox_rows(store)
    assert all(r["state"] == "done" for r in mine), mine
    assert rt_server.custom_field(ticket_id, "crmbot_tags") == "agent:kept crmbot:new"


def test_crmbot_check_says_when_the_tags_custom_field_does_not_exist(
    rt_server: RtServer, tmp_path: Path
) -> None:
    import yaml
    from typer.testing import CliRunner

    from bot.cli import app

    def check(**sink: Any) -> Any:
        settings = {
            "store": {"url": f"sqlite:///{tmp_path / 'crmbot.db'}"},
            "sinks": {
                "rt_out": {
                    "type": "rt",
                    "url": rt_server.url,
                    "username": rt_server.username,
                    "password": rt_server.password,
                    **sink,
                }
            },
        }
        path = tmp_path / "crmbot.yaml"
        path.write_text(yaml.safe_dump(settings))
        return CliRunner().invoke(app, ["check", "--settings", str(path)], env={"COLUMNS": "300"})

    present = check()
    assert present.exit_code == 0, present.output
    assert "tags in ticket custom field 'crmbot_tags'" in present.output
    missing = check(tags_custom_field="crmbot_labels")
    assert missing.exit_code == 1, missing.output
    text = " ".join(missing.output.split())
    assert "'crmbot_labels' does not exist for tickets" in text
    assert "create a custom field crmbot_labels applied to the" in text
    assert "or set tags_custom_field: null" in text
    assert check(tags_custom_field=None).exit_code == 0


def test_a_tag_an_agent_adds_between_crmbots_read_and_write_is_kept(rt_server: RtServer) -> None:
    settings = RtSettings(
        type="rt", url=rt_server.url, username=rt_server.username, password=rt_server.password
    )
    ticket_id = rt_server.create_ticket("Race", "race@example.com", "Hello")
    rt_server.update_ticket(ticket_id, CustomFields={"crmbot_tags": "first"})

    class AgentBetweenReadAndWrite(RtSink):
        """Lets an agent change the tags right after crmbot's first read of the ticket."""

        reads = 0

        def _read(self, ticket_id: int) -> tuple[dict[str, Any], str | None]:
            found = super()._read(ticket_id)
            self.reads += 1
            if self.reads == 1:
                rt_server.update_ticket(ticket_id, CustomFields={"crmbot_tags": "first agent"})
            return found

    with closing(AgentBetweenReadAndWrite("rt", settings)) as sink:
        [result] = sink.perform([act("add_tag", ticket_id, tag="crmbot")])
    assert result.status == "done", result
    assert sink.reads >= 3  # read, 412, read again, write, read back
    assert rt_server.custom_field(ticket_id, "crmbot_tags") == "agent crmbot first"
