"""HubSpot write-back in few calls: a ticket's enrichment and rule changes in one batch update;
a mail case's ticket opened with its first actions' properties, without a search when nothing
of the case was ever handed to the sink (IMAP-mode write-back of 1,000 mails once took ~1,808
calls, 549 of them searches limited to 5 a second)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.base import SinkAction
from connectors.hubspot.client import HubSpotApi
from connectors.hubspot.setup import ensure_properties
from connectors.hubspot.sink import HubSpotSink
from connectors.kit import FakeClock
from tests.fakes.hubspot import FakeHubSpot, settings_for

UPDATE = "POST /crm/v3/objects/(\\w+)/batch/update"
READ = "POST /crm/v3/objects/(\\w+)/batch/read"
SEARCH = "POST /crm/v3/objects/(\\w+)/search"
CREATE = "POST /crm/v3/objects/(\\w+)/batch/create"
_ids = itertools.count(1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeHubSpot]:
    with FakeHubSpot(clock=clock) as server:
        ensure_properties(HubSpotApi("hubspot", settings_for(server), clock=clock))
        yield server


def _sink(fake: FakeHubSpot, clock: FakeClock, **overrides: Any) -> HubSpotSink:
    return HubSpotSink("hubspot", settings_for(fake, **overrides), clock=clock)


def _act(action: str, target: dict[str, Any], first: bool = False, **payload: Any) -> SinkAction:
    n = next(_ids)
    return SinkAction(n, f"key-{n}", action, dict(target), payload, first_of_case=first)


def _case(reference: str) -> dict[str, Any]:
    return {
        "type": "case",
        "reference": reference,
        "subject": "Facture fausse",
        "email": f"{reference.lower()}@client.example",
    }


def _first_actions(target: dict[str, Any], first: bool) -> list[SinkAction]:
    return [
        _act("update_fields", target, first, fields={"crmbot_priority": "P1"}),
        _act("set_priority", target, first, priority="P1"),
        _act("add_tag", target, first, tag="facturation"),
        _act("assign", target, first, queue="billing"),
    ]


def test_an_existing_tickets_enrichment_and_rule_changes_go_in_one_batch_update(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    tid = fake.create_ticket("Facture fausse")
    target = {"type": "ticket", "id": tid}
    [*results] = _sink(fake, clock, queue_stages={"billing": "billing-stage"}).perform(
        _first_actions(target, False)
    )
    assert [r.status for r in results] == ["done"] * 4, results
    assert fake.calls(UPDATE) == 1
    assert fake.calls(READ) == 1  # the current tags, merged with the new one
    props = fake.ticket(tid)
    assert (props["crmbot_priority"], props["hs_ticket_priority"]) == ("P1", "URGENT")
    assert (props["crmbot_tags"], props["hs_pipeline_stage"]) == ("facturation", "billing-stage")


def test_a_new_mail_cases_ticket_is_opened_with_its_actions_properties_without_search_or_update(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    sink = _sink(fake, clock, queue_stages={"billing": "billing-stage"})
    [*results] = sink.perform(_first_actions(_case("CB-7"), True))
    assert [r.status for r in results] == ["done"] * 4, results
    assert fake.calls(SEARCH) == 0  # nothing of CB-7 was ever handed to the sink
    assert fake.calls(UPDATE) == 0
    [ticket] = fake.objects["tickets"].values()
    assert {r.detail["ticket_id"] for r in results} == {ticket.id}
    props = ticket.properties
    assert props["crmbot_case_reference"] == "CB-7"
    assert props["subject"] == "[#CB-7] Facture fausse"
    assert (props["crmbot_priority"], props["hs_ticket_priority"]) == ("P1", "URGENT")
    assert (props["crmbot_tags"], props["hs_pipeline_stage"]) == ("facturation", "billing-stage")


def test_a_case_handed_to_the_sink_before_is_looked_up_not_opened_twice(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    """The first attempt opened the ticket but its answer was lost, or another worker did."""
    tid = fake.create_ticket("[#CB-8] Facture fausse", crmbot_case_reference="CB-8")
    [*results] = _sink(fake, clock).perform(
        [_act("update_fields", _case("CB-8"), False, fields={"crmbot_priority": "P2"})]
    )
    assert [r.status for r in results] == ["done"]
    assert fake.calls(SEARCH) == 1
    assert list(fake.objects["tickets"]) == [tid]
    assert fake.ticket(tid)["crmbot_priority"] == "P2"


def test_a_new_ticket_refused_with_a_bad_value_is_opened_without_it_and_only_that_is_skipped(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    sink = _sink(fake, clock, field_properties={"score": "crmbot_impact_score"})
    target = _case("CB-9")
    good = _act("update_fields", target, True, fields={"crmbot_priority": "P3"})
    bad = _act("set_field", target, True, field="case.score", value="beaucoup")
    [*results] = sink.perform([good, bad])
    by_id = {r.outbox_id: r for r in results}
    assert by_id[good.outbox_id].status == "done"
    assert by_id[bad.outbox_id].status == "skipped"
    assert "crmbot_impact_score" in by_id[bad.outbox_id].detail["reason"]
    [ticket] = fake.objects["tickets"].values()
    assert ticket.properties["crmbot_case_reference"] == "CB-9"
    assert ticket.properties["crmbot_priority"] == "P3"


def test_a_refused_batch_update_skips_only_the_refused_part_of_a_ticket(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    tid = fake.create_ticket("t")
    target = {"type": "ticket", "id": tid}
    sink = _sink(fake, clock, field_properties={"score": "crmbot_impact_score"})
    good = _act("update_fields", target, fields={"crmbot_priority": "P3"})
    bad = _act("set_field", target, field="case.score", value="beaucoup")
    [*results] = sink.perform([good, bad])
    by_id = {r.outbox_id: r for r in results}
    assert (by_id[good.outbox_id].status, by_id[bad.outbox_id].status) == ("done", "skipped")
    assert fake.ticket(tid)["crmbot_priority"] == "P3"


def test_the_sink_remembers_few_case_tickets_and_a_later_action_is_handed_its_ticket(
    fake: FakeHubSpot, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import connectors.hubspot.sink as sink_module

    monkeypatch.setattr(sink_module, "CACHE_MAX", 2)
    sink = _sink(fake, clock)
    opened: dict[str, str] = {}
    for ref in ("CB-1", "CB-2", "CB-3"):
        [result] = sink.perform(
            [_act("update_fields", _case(ref), True, fields={"crmbot_priority": "P2"})]
        )
        opened[ref] = result.detail["ticket_id"]
    assert len(sink._case_tickets) == 2 and "CB-1" not in sink._case_tickets
    # CB-1's next action comes with the ticket the outbox recorded for it: no search, no new one
    later = _act("update_fields", _case("CB-1"), False, fields={"crmbot_priority": "P1"})
    later.case_ticket = opened["CB-1"]
    [result] = sink.perform([later])
    assert result.status == "done" and result.detail["ticket_id"] == opened["CB-1"]
    assert fake.calls(SEARCH) == 0
    assert len(fake.objects["tickets"]) == 3
    assert fake.ticket(opened["CB-1"])["crmbot_priority"] == "P1"
