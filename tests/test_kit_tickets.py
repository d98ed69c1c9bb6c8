"""The per-ticket plan the CRM sinks share (connectors/kit/tickets.py)."""

from __future__ import annotations

from connectors.base import SinkAction, SinkResult
from connectors.kit.network import is_loopback_host
from connectors.kit.tickets import (
    TicketPlan,
    chunks,
    mapped_key,
    newer,
    owned_by_action,
    owned_update,
    read_action,
    skip,
    ticket_id,
)


def _action(outbox_id: int = 1) -> SinkAction:
    return SinkAction(outbox_id, f"k{outbox_id}", "add_note", {"type": "ticket", "id": "7"}, {})


def test_a_ticket_id_is_a_positive_number_or_its_digits() -> None:
    assert ticket_id(7) == 7
    assert ticket_id(" 42 ") == 42
    assert ticket_id("ticket:42") == 42
    assert [ticket_id(v) for v in (0, -3, True, "4a", None, 4.0)] == [None] * 6


def test_a_plan_expects_the_newest_version_its_actions_were_planned_against() -> None:
    plan = TicketPlan(7)
    plan.expect(None)
    assert plan.expected_version is None
    plan.expect("2026-11-20T10:00:00Z")
    plan.expect("2026-11-19T10:00:00Z")
    assert plan.expected_version == "2026-11-20T10:00:00Z"
    assert plan.changed_since_expected("2026-11-20T10:00:01Z")
    assert not plan.changed_since_expected("2026-11-20T10:00:00Z")
    assert newer("not a time", "2026-11-20T10:00:00Z")  # unreadable: assume it moved


def test_a_note_carried_by_several_actions_is_posted_once_and_empty_ones_never() -> None:
    plan = TicketPlan(7)
    for text in ("Bonjour ", "Bonjour", "  ", "Second"):
        plan.add_note(text)
    assert plan.notes == ["Bonjour", "Second"]


def test_a_rules_explicit_changes_add_up_custom_fields_and_replace_the_rest() -> None:
    rt = TicketPlan(7)
    rt.take_direct({"Priority": 70, "CustomFields": {"Zone": "N"}}, "", "CustomFields")
    rt.take_direct({"Priority": 90, "CustomFields": {"Site": "S"}}, "Escalated", "CustomFields")
    assert rt.direct == {"Priority": 90, "CustomFields": {"Zone": "N", "Site": "S"}}
    assert rt.notes == ["Escalated"]
    zd = TicketPlan(8)
    zd.take_direct({"custom_fields": [{"id": 1, "value": "a"}]}, " ", "custom_fields")
    zd.take_direct({"custom_fields": [{"id": 2, "value": "b"}], "group_id": 5}, "", "custom_fields")
    assert zd.direct == {
        "custom_fields": [{"id": 1, "value": "a"}, {"id": 2, "value": "b"}],
        "group_id": 5,
    }
    assert zd.notes == []


def test_a_field_an_agent_changed_after_crmbots_write_is_a_conflict() -> None:
    plan = TicketPlan(7, previous={"priority": "P3"})
    same = lambda _key, value: value  # noqa: E731
    assert plan.agent_changed("priority", "P1", "P2", same, changed_since=False, empty=(None,))
    assert plan.conflicts["priority"] == {"current": "P1", "wanted": "P2", "previous": "P3"}
    assert not plan.agent_changed("priority", "P3", "P2", same, changed_since=True, empty=(None,))


def test_without_crmbots_last_write_only_a_value_set_after_the_expected_version_conflicts() -> None:
    plan = TicketPlan(7)
    same = lambda _key, value: value  # noqa: E731
    assert not plan.agent_changed("x", "a", "b", same, changed_since=False, empty=(None, ""))
    assert not plan.agent_changed("x", "", "b", same, changed_since=True, empty=(None, ""))
    assert plan.agent_changed("x", "a", "b", same, changed_since=True, empty=(None, ""))


def test_a_plan_that_failed_or_waits_gives_every_action_the_same_result() -> None:
    plan = TicketPlan(7, version="v2")
    assert plan.failure(_action(), plan.detail()) is None
    plan.defer("HTTP 503", 30.0)
    result = plan.failure(_action(), plan.detail())
    assert result is not None and result.status == "retry"
    assert result.detail == {
        "ticket_id": "7",
        "version": "v2",
        "why": "HTTP 503",
        "retry_after": 30.0,
    }
    plan.error = "ticket closed"
    plan.defer("later", None)  # an error is final: no retry over it
    result = plan.failure(_action(), plan.detail())
    assert result is not None and result.status == "skipped"
    assert result.detail["reason"] == "ticket closed"
    assert skip(_action(3), "why").detail == {"reason": "why"}


def test_bulk_calls_are_cut_in_chunks_of_the_vendors_size() -> None:
    assert list(chunks(list(range(5)), 2)) == [[0, 1], [2, 3], [4]]
    assert list(chunks([], 100)) == []


def test_plain_text_is_allowed_only_to_this_machine() -> None:
    assert is_loopback_host("localhost") and is_loopback_host("127.0.0.1")
    assert is_loopback_host("[::1]") and is_loopback_host("app.localhost.")
    assert not is_loopback_host("mail.example.com") and not is_loopback_host("10.0.0.1")


def _update(fields: dict[str, object], **extra: object) -> SinkAction:
    payload = {"fields": fields, **extra}
    return SinkAction(5, "k5", "update_fields", {"type": "ticket", "id": "9"}, payload)


def test_an_action_without_a_ticket_or_of_a_type_the_sink_refuses_is_skipped_with_why() -> None:
    no_ticket = SinkAction(1, "k", "add_note", {"type": "case"}, {"text": "x"})
    result = read_action(no_ticket, "rt", "RT", frozenset({"add_note"}))
    assert isinstance(result, SinkResult) and "no RT ticket id" in result.detail["reason"]
    tag = SinkAction(2, "k", "add_tag", {"type": "ticket", "id": "9"}, {"tag": "vip"})
    refused = read_action(tag, "rt", "RT", frozenset({"add_note"}), {"add_tag": "no tags here"})
    assert isinstance(refused, SinkResult) and refused.detail == {"reason": "no tags here"}
    default = read_action(tag, "zendesk", "Zendesk", frozenset({"add_note"}))
    assert isinstance(default, SinkResult)
    assert default.detail["reason"] == "the zendesk sink does not perform 'add_tag'"
    number, spec = read_action(tag, "zendesk", "Zendesk", frozenset({"add_tag"}))  # type: ignore[misc]
    assert number == 9 and spec.tag == "vip"


def test_an_update_writes_only_the_fields_this_sink_owns_and_says_which_it_did_not() -> None:
    owned = frozenset({"priority", "category"})
    action = _update(
        {"crmbot_priority": "P2", "crmbot_sla": "x"},
        written={"crmbot_priority": "P3"},
        expected_version="2026-11-20T10:00:00Z",
    )
    wanted, unmapped = owned_update(action, action.payload["fields"], owned)  # type: ignore[misc]
    assert wanted == {"priority": "P2"} and unmapped == ["crmbot_sla"]
    plan = TicketPlan(9)
    plan.take_update(action, unmapped, action.payload["expected_version"])
    assert plan.unmapped == {5: ["crmbot_sla"]} and plan.previous == {"priority": "P3"}
    assert plan.expected_version == "2026-11-20T10:00:00Z"
    assert owned_by_action(action, owned) == {"priority"}
    plan.conflicts = {"priority": {"current": "P1"}, "category": {"current": "x"}}
    assert plan.conflicts_of({"priority"}) == {"priority": {"current": "P1"}}
    nothing = _update({"crmbot_sla": "x"})
    result = owned_update(nothing, nothing.payload["fields"], owned)
    assert isinstance(result, SinkResult) and "crmbot_sla" in result.detail["reason"]


def test_a_set_field_finds_its_mapping_by_full_name_then_by_short_name() -> None:
    mapping = {"case.contract": 1, "region": 2}
    assert mapped_key("case.contract", mapping) == "case.contract"
    assert mapped_key("case.region", mapping) == "region"
    assert mapped_key("case.other", mapping) is None
