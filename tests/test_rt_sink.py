"""The Request Tracker sink against a real RT 5: priority, custom fields, comments, conflicts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors.base import Sink, SinkAction
from connectors.rt.settings import RtSettings
from connectors.rt.sink import RtSink
from tests.servers.rt import RtServer, rt_server

__all__ = ["rt_server"]  # the session fixture, imported so pytest finds it here

_seq = iter(range(1, 1_000_000))


@pytest.fixture
def sink(rt_server: RtServer) -> Iterator[RtSink]:
    """A sink owning priority, category (crmbot_category) and sla_due (crmbot_sla_due)."""
    settings = RtSettings(
        type="rt",
        url=rt_server.url,
        username=rt_server.username,
        password=rt_server.password,
        custom_fields={
            "category": "crmbot_category",
            "sla_due": "crmbot_sla_due",
            "impact": "no_such_field",
        },
    )
    out = RtSink("rt", settings)
    yield out
    out.close()


def act(action: str, ticket_id: int, **payload: Any) -> SinkAction:
    """One outbox action on an RT ticket."""
    n = next(_seq)
    return SinkAction(n, f"key-{n}", action, {"type": "ticket", "id": str(ticket_id)}, payload)


def test_priority_and_custom_fields_are_written_in_one_update_and_the_version_returned(
    rt_server: RtServer, sink: RtSink
) -> None:
    assert isinstance(sink, Sink)
    ticket_id = rt_server.create_ticket("Refund", "r@example.com", "Please refund")
    seen = rt_server.ticket(ticket_id)["LastUpdated"]
    [*results] = sink.perform(
        [
            act("update_fields", ticket_id, fields={"priority": "P2"}, expected_version=seen),
            act(
                "update_fields",
                ticket_id,
                fields={"category": "billing", "sla_due": "2026-12-01T09:00:00Z"},
                expected_version=seen,
            ),
        ]
    )
    assert [r.status for r in results] == ["done", "done"]
    ticket = rt_server.ticket(ticket_id)
    assert int(ticket["Priority"]) == 70
    assert rt_server.custom_field(ticket_id, "crmbot_category") == "billing"
    assert rt_server.custom_field(ticket_id, "crmbot_sla_due") == "2026-12-01T09:00:00Z"
    assert results[0].detail["version"] == ticket["LastUpdated"]
    set_types = [t["Type"] for t in rt_server.history(ticket_id)]
    assert set_types.count("Set") == 1  # Priority changed once, in the single update


def test_a_note_is_an_internal_comment_never_correspondence_and_never_twice(
    rt_server: RtServer, sink: RtSink
) -> None:
    ticket_id = rt_server.create_ticket("Where is my order", "o@example.com", "Order 77?")
    seen = rt_server.ticket(ticket_id)["LastUpdated"]
    note = act(
        "add_note", ticket_id, text="crmbot: category shipping, SLA 8h", expected_version=seen
    )
    assert [r.status for r in sink.perform([note])] == ["done"]
    # the outbox retried after a crash
    assert [r.status for r in sink.perform([note])] == ["done"]
    history = rt_server.history(ticket_id)
    comments = [t for t in history if t["Type"] == "Comment"]
    assert len(comments) == 1
    assert "crmbot: category shipping, SLA 8h" in comments[0]["contents"]
    assert not [t for t in history if t["Type"] == "Correspond"]


def test_an_agents_later_change_is_a_conflict_and_is_not_overwritten(
    rt_server: RtServer, sink: RtSink
) -> None:
    ticket_id = rt_server.create_ticket("Outage", "x@example.com", "Down")
    [first] = sink.perform(
        [
            act(
                "update_fields",
                ticket_id,
                fields={"priority": "P3", "category": "outage"},
                expected_version=rt_server.ticket(ticket_id)["LastUpdated"],
            )
        ]
    )
    assert first.status == "done"
    time.sleep(1.05)  # LastUpdated has one-second resolution
    rt_server.update_ticket(ticket_id, Priority=95)  # the agent escalates
    [second] = sink.perform(
        [
            act(
                "update_fields",
                ticket_id,
                fields={"priority": "P4", "category": "incident"},
                expected_version=first.detail["version"],
                previous={"priority": "P3", "category": "outage"},
            )
        ]
    )
    assert second.status == "conflict"
    assert second.detail["conflicts"]["priority"]["current"] == 95
    assert second.detail["written"] == ["category"]
    assert int(rt_server.ticket(ticket_id)["Priority"]) == 95
    assert rt_server.custom_field(ticket_id, "crmbot_category") == "incident"


def test_what_rt_cannot_do_or_crmbot_does_not_own_is_skipped_with_a_reason(
    rt_server: RtServer, sink: RtSink
) -> None:
    ticket_id = rt_server.create_ticket("Misc", "m@example.com", "Hello")
    [*results] = sink.perform(
        [
            act("add_tag", ticket_id, tag="two words"),
            act("merge", ticket_id, into=1),
            act("update_fields", ticket_id, fields={"status": "resolved"}),
            act("update_fields", ticket_id, fields={"priority": "P9"}),
            act("update_fields", ticket_id, fields={"impact": "high"}),
            act("update_fields", 999_999, fields={"priority": 10}),
        ]
    )
    assert [r.status for r in results] == ["skipped"] * 6
    assert "no_such_field" in results[4].detail["reason"]
    assert rt_server.ticket(ticket_id)["Status"] == "new"


def test_the_pipelines_write_back_payload_sets_priority_and_mapped_fields_only(
    rt_server: RtServer, sink: RtSink
) -> None:
    ticket_id = rt_server.create_ticket("Legal threat", "l@example.com", "My lawyer says")
    fields = {"crmbot_priority": "P1", "category": "legal", "crmbot_reasons": "legal risk"}
    [result] = sink.perform(
        [
            act(
                "update_fields",
                ticket_id,
                fields=fields,
                expected_version=rt_server.ticket(ticket_id)["LastUpdated"],
            )
        ]
    )
    assert result.status == "done"
    assert result.detail["unmapped"] == ["crmbot_reasons"]
    assert int(rt_server.ticket(ticket_id)["Priority"]) == 90
    assert rt_server.custom_field(ticket_id, "crmbot_category") == "legal"


# -- what REST 2 answers (issue 9: 200 with messages, If-Match) ----------------------------


def _sink(rt_server: RtServer, transport: Any = None) -> RtSink:
    settings = RtSettings(
        type="rt",
        url=rt_server.url,
        username=rt_server.username,
        password=rt_server.password,
        custom_fields={"category": "crmbot_category", "impact": "crmbot_impact"},
    )
    return RtSink("rt", settings, transport=transport)


def test_a_field_rt_refuses_while_answering_200_is_reported_with_rts_message_not_done(
    rt_server: RtServer,
) -> None:
    """REST 2 answers a PUT with 200 and a list of messages, even when a value is refused."""
    ticket_id = rt_server.create_ticket("Impact", "i@example.com", "Hello")
    sink = _sink(rt_server)
    [result] = sink.perform(
        [act("update_fields", ticket_id, fields={"impact": "high", "category": "billing"})]
    )
    sink.close()
    assert result.status == "skipped"
    assert result.detail["failed"] == ["impact"]
    assert "crmbot_impact" in result.detail["reason"]  # RT's own message names the field
    assert result.detail["written"] == ["category"]
    assert rt_server.custom_field(ticket_id, "crmbot_impact") is None
    assert rt_server.custom_field(ticket_id, "crmbot_category") == "billing"


class _RaceOnFirstPut(httpx.BaseTransport):
    """Lets an agent edit the ticket just before crmbot's first PUT reaches RT."""

    def __init__(self, race: Any) -> None:
        self._inner = httpx.HTTPTransport()
        self._race = race

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT" and self._race is not None:
            race, self._race = self._race, None
            race()
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_an_agent_edit_between_read_and_write_is_caught_by_if_match_not_overwritten(
    rt_server: RtServer,
) -> None:
    """REST 2 honours If-Match with the ticket's ETag: the check-then-write is atomic."""
    ticket_id = rt_server.create_ticket("Race", "r@example.com", "Hello")
    rt_server.update_ticket(ticket_id, Priority=20)
    seen = rt_server.ticket(ticket_id)["LastUpdated"]
    time.sleep(1.05)  # LastUpdated has one-second resolution
    transport = _RaceOnFirstPut(lambda: rt_server.update_ticket(ticket_id, Priority=95))
    sink = _sink(rt_server, transport)
    [result] = sink.perform(
        [
            act(
                "update_fields",
                ticket_id,
                fields={"priority": "P2"},
                expected_version=seen,
                previous={"priority": 20},
            )
        ]
    )
    sink.close()
    assert result.status == "conflict"
    assert result.detail["conflicts"]["priority"]["current"] == 95
    assert int(rt_server.ticket(ticket_id)["Priority"]) == 95
