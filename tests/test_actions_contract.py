"""The action contract: typed actions round-trip through the outbox, sinks declare what they
perform, and a rule no configured sink can perform is refused at load, never skipped later."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from bot import actions as a
from bot.actions import InvalidAction, parse_action
from bot.settings import Settings
from rules.loader import RulesError

# ------------------------------------------------------------------------ the contract

_text = st.text(min_size=1, max_size=40)
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
)
_json = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
_priority = st.sampled_from(a.PRIORITIES)
ANY_ACTION = st.one_of(
    st.builds(a.AddNote, text=_text, language=st.sampled_from([None, "fr", "en"])),
    st.builds(a.AddTag, tag=_text),
    st.builds(a.RemoveTag, tag=_text),
    st.builds(a.SetField, field=_text, value=_scalar),
    st.builds(a.SetPriority, priority=_priority),
    st.builds(a.Assign, queue=_text, owner=st.one_of(st.none(), _text)),
    st.builds(
        a.Escalate,
        to=st.one_of(st.none(), _priority),
        queue=st.one_of(st.none(), _text),
        notify=st.lists(_text, max_size=3),
        message=st.text(max_size=40),
    ),
    st.builds(a.SendReply, to=_text, subject=st.text(max_size=40), body=_text),
    st.builds(
        a.Webhook,
        url=_text,
        method=st.sampled_from(["POST", "PUT"]),
        payload_=st.dictionaries(_text, _json, max_size=4),
    ),
    st.builds(a.Merge, into=_text, note=st.one_of(st.none(), _text)),
    st.builds(
        a.UpdateFields,
        fields=st.dictionaries(_text, _scalar, min_size=1, max_size=5),
        expected_version=st.one_of(st.none(), _text),
    ),
)


@given(ANY_ACTION)
def test_every_action_round_trips_through_an_outbox_row(action: Any) -> None:
    row_payload = {
        **action.payload(),
        "target": {"type": "ticket", "id": "7"},
        "case_reference": "CB-1",
        "request_id": 3,
    }
    stored = json.loads(json.dumps(row_payload))  # as the JSON column gives it back
    assert parse_action(action.type, stored) == action


def test_the_payload_shapes_that_drifted_apart_are_refused_by_name() -> None:
    with pytest.raises(InvalidAction, match="body"):
        parse_action("add_note", {"body": "a note the sinks used to read as body"})
    with pytest.raises(InvalidAction, match="add_tags"):
        parse_action("add_tags", {"tags": ["x"]})
    with pytest.raises(InvalidAction, match="queue or an owner"):
        parse_action("assign", {})


def test_the_engine_plans_only_actions_of_the_contract() -> None:
    from datetime import UTC, datetime

    from rules.cli import facts_from_input
    from rules.engine import load_ruleset

    now = datetime(2026, 3, 2, 10, tzinfo=UTC)
    facts = facts_from_input(
        {
            "subject": "Mise en demeure",
            "body": "Mon avocat saisira le tribunal, résiliation immédiate.",
            "sender_email": "c@client.example",
        },
        now,
    )
    decision = load_ruleset(None).decide(facts, event="case.created", now=now)
    assert decision.actions
    for planned in decision.actions:
        assert isinstance(planned, a.PlannedAction)
        assert parse_action(planned.action, planned.payload) == planned.spec


# ---------------------------------------------------------------- what each sink performs


def test_each_sink_declares_the_actions_it_performs_and_why_not_the_others() -> None:
    from bot.registry import get_connector

    performs = {
        n: get_connector(n).actions for n in ("hubspot", "zendesk", "rt", "smtp", "webhook")
    }
    crm = {"add_note", "set_field", "set_priority", "assign", "escalate", "update_fields"}
    assert crm | {"add_tag", "remove_tag", "merge"} <= performs["hubspot"]
    assert crm | {"add_tag", "remove_tag", "merge"} <= performs["zendesk"]
    assert crm <= performs["rt"] and not {"add_tag", "remove_tag"} & performs["rt"]
    assert "no tags" in get_connector("rt").refusals["add_tag"]  # with tags_custom_field: null
    assert performs["smtp"] == {"send_reply"} and performs["webhook"] == {"webhook"}
    assert set().union(*performs.values()) == a.ACTION_TYPES


# ------------------------------------------------------------------ refused at load time

# tags_custom_field: null -- an RT without a tags custom field has no tags
RT_SINK = {
    "type": "rt",
    "url": "https://rt.example.com",
    "token": "t0ken",
    "tags_custom_field": None,
}


def _rt_write_back(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    inbox = tmp_path / "inbox"
    for sub in ("cur", "new", "tmp"):
        (inbox / sub).mkdir(parents=True, exist_ok=True)
    return {
        "store": {"url": f"sqlite:///{tmp_path / 'crmbot.db'}"},
        "sources": {"mail": {"type": "maildir", "path": str(inbox), "write_back": "rt_out"}},
        "sinks": {"rt_out": RT_SINK},
        **extra,
    }


def test_rules_check_with_settings_refuses_a_tag_for_an_rt_write_back_naming_rule_and_sink(
    tmp_path: Path,
) -> None:
    from rules.cli import app

    path = tmp_path / "crmbot.yaml"
    path.write_text(yaml.safe_dump(_rt_write_back(tmp_path)))
    result = CliRunner().invoke(app, ["check", "--settings", str(path)])
    assert result.exit_code == 2, result.output  # a configuration problem, as at start-up
    out = " ".join(result.output.split())
    assert "rule 'route_cancellations': action add_tag" in out
    assert "sink 'rt_out' (rt) cannot perform add_tag: Request Tracker has no tags" in out
    assert "automations.yaml:" in out  # file:line of the action


def test_the_worker_refuses_to_start_with_a_rule_its_write_back_sink_cannot_perform(
    tmp_path: Path,
) -> None:
    from bot.app import rules_provider

    with pytest.raises(RulesError, match=r"route_cancellations.*add_tag.*rt_out"):
        rules_provider(Settings(**_rt_write_back(tmp_path)))


def test_a_webhook_rule_without_a_webhook_sink_is_refused_at_load(tmp_path: Path) -> None:
    from bot.app import rules_provider
    from tests.helpers.actions import one_rule_pack

    pack = one_rule_pack(
        tmp_path / "rules",
        [{"type": "webhook", "url": "https://hooks.example.com/x"}],
        webhook_allowed_hosts=["hooks.example.com"],
    )
    settings = Settings(store={"url": f"sqlite:///{tmp_path / 'db'}"}, rules_dir=pack)
    with pytest.raises(RulesError, match="no configured sink performs webhook"):
        rules_provider(settings)


def test_a_mail_only_setup_runs_the_default_pack_and_says_which_actions_stay_in_the_case(
    tmp_path: Path,
) -> None:
    from rules.cli import app

    settings = _rt_write_back(tmp_path)
    del settings["sinks"], settings["sources"]["mail"]["write_back"]
    path = tmp_path / "crmbot.yaml"
    path.write_text(yaml.safe_dump(settings))
    result = CliRunner().invoke(app, ["check", "--settings", str(path)])
    assert result.exit_code == 0, result.output
    assert "rule 'acknowledge_new_request': send_reply reaches no sink here" in result.output


def test_a_reload_that_needs_a_sink_the_runtime_lacks_keeps_the_previous_rules(
    tmp_path: Path,
) -> None:
    from bot.app import rules_provider
    from tests.helpers.actions import one_rule_pack

    pack = one_rule_pack(tmp_path / "rules", [{"type": "set_priority", "priority": "P2"}])
    settings = Settings(**_rt_write_back(tmp_path, rules_dir=str(pack)))
    current = rules_provider(settings)
    before = current()
    one_rule_pack(pack, [{"type": "add_tag", "tag": "x"}])
    (pack / "automations.yaml").touch()
    assert current() is before


# ------------------------------------------------------------- refused visibly at run time


class _NotesOnly:
    """A sink that performs add_note only, and records what it was handed."""

    name = "notes"
    performs = frozenset({"add_note"})

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def perform(self, actions: list[Any]) -> list[Any]:
        from connectors.base import SinkResult

        self.seen.extend(a.typed() for a in actions)
        return [SinkResult(a.outbox_id, "done") for a in actions]

    def close(self) -> None:
        """Nothing to release."""


def test_a_row_outside_the_contract_is_refused_and_crmbot_outbox_shows_why(
    tmp_path: Path,
) -> None:
    from bot.cli import app
    from bot.dispatcher import Dispatcher
    from bot.store import open_store
    from bot.store import outbox as outbox_store

    url = f"sqlite:///{tmp_path / 'crmbot.db'}"
    store = open_store(url)
    sink = _NotesOnly()
    rows = [
        ("k1", "add_note", {"text": "ok", "target": {"id": "1"}}),
        ("k2", "add_note", {"body": "the old shape", "target": {"id": "1"}}),
        ("k3", "add_tag", {"tag": "x", "target": {"id": "1"}}),
    ]
    with store.begin() as conn:
        for key, action, payload in rows:
            outbox_store.enqueue(
                conn,
                idempotency_key=key,
                sink="notes",
                action=action,
                payload=payload,
                case_id=None,
            )
    Dispatcher(store, {"notes": sink}, "test").run_once()
    with store.connect() as conn:
        assert outbox_store.counts(conn) == {"done": 1, "refused": 2}
    store.dispose()
    assert sink.seen == [a.AddNote(text="ok")]
    path = tmp_path / "crmbot.yaml"
    path.write_text(yaml.safe_dump({"store": {"url": url}}))
    result = CliRunner().invoke(app, ["outbox", "--json", "--settings", str(path)])
    assert result.exit_code == 0, result.output
    reasons = {
        r["idempotency_key"]: r["result"]["reason"] for r in json.loads(result.output)["refused"]
    }
    assert "body" in reasons["k2"] and "extra" in reasons["k2"].lower()
    assert "does not perform add_tag" in reasons["k3"]
