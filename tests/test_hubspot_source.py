"""The HubSpot source against the fake HubSpot: mapping, cursors, the search window, lag."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import AuthError
from connectors.hubspot.source import HubSpotSource
from connectors.kit import FakeClock
from connectors.kit.contract import drain
from tests.fakes.hubspot import FakeHubSpot, settings_for


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeHubSpot]:
    with FakeHubSpot(clock=clock, search_lag=2.0) as server:
        yield server


def source_for(fake: FakeHubSpot, clock: FakeClock, **overrides: Any) -> HubSpotSource:
    return HubSpotSource("hubspot", settings_for(fake, **overrides), clock=clock)


def test_ticket_is_mapped_with_requester_and_company_tier(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    fake.define_property("companies", "tier")
    fake.define_property("companies", "is_strategic", "bool")
    fake.define_property("contacts", "vip", "bool")
    company = fake.create_company("Acme SA", "acme.example", tier="gold", is_strategic="true")
    contact = fake.create_contact(
        "jane@acme.example", "Jane", "Doe", "+33 1 23 45 67 89", company_id=company, vip="true"
    )
    tid = fake.create_ticket("Invoice missing", "Where is my invoice?", contact_id=contact)
    clock.advance(10)
    source = source_for(
        fake,
        clock,
        company_tier_property="tier",
        company_strategic_property="is_strategic",
        contact_vip_property="vip",
    )
    [record] = drain(source, None, 10).records
    fields = record.fields
    assert record.source_id == f"ticket:{tid}"
    assert record.kind == "ticket" and record.quarantine_reason is None
    assert fields["subject"] == "Invoice missing"
    assert fields["body"] == "Where is my invoice?"
    assert fields["sender_email"] == "jane@acme.example"
    assert fields["sender_name"] == "Jane Doe"
    assert fields["sender_phone"] == "+33 1 23 45 67 89"
    assert fields["external_ids"] == {"hubspot": contact}
    assert fields["company"] == {
        "id": company,
        "name": "Acme SA",
        "domain": "acme.example",
        "tier": "gold",
        "strategic": True,
    }
    assert fields["contact"]["vip"] is True
    assert fields["message_id"] == f"hubspot-ticket-{tid}@crmbot.invalid"
    assert fields["version"] == fake.ticket(tid)["hs_lastmodifieddate"]


def test_ticket_company_comes_from_ticket_association_first(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    own = fake.create_company("Ticket Co")
    other = fake.create_company("Contact Co")
    contact = fake.create_contact("a@b.example", company_id=other)
    fake.create_ticket("x", contact_id=contact, company_id=own)
    clock.advance(10)
    [record] = drain(source_for(fake, clock), None, 10).records
    assert record.fields["company"]["name"] == "Ticket Co"


def test_tickets_modified_in_the_same_millisecond_are_not_lost_across_batches(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    ids = [fake.create_ticket(f"t{i}") for i in range(7)]  # the fake clock does not move
    assert len({fake.ticket(t)["hs_lastmodifieddate"] for t in ids}) == 1
    clock.advance(10)
    source = source_for(fake, clock, page_size=3)
    poll = source.poll(None, 2)
    first = next(poll)
    poll.close()
    rest = drain(source_for(fake, clock, page_size=3), first.cursor, 2)
    seen = [r.source_id for r in first.records] + rest.ids
    assert sorted(seen) == sorted(f"ticket:{t}" for t in ids)
    assert len(seen) == len(set(seen))


def test_search_window_is_handled_by_restarting_from_the_last_record(clock: FakeClock) -> None:
    with FakeHubSpot(clock=clock, search_window=30) as fake:
        ids = []
        for i in range(75):
            ids.append(fake.create_ticket(f"t{i}"))
            clock.advance(0.001 if i % 10 else 0)
        clock.advance(10)
        source = source_for(fake, clock, page_size=10)
        source.search_window = 30
        out = drain(source, None, 10)
        assert sorted(out.ids) == sorted(f"ticket:{t}" for t in ids)
        assert len(out.ids) == len(set(out.ids))
        assert fake.calls("POST /crm/v3/objects/(\\w+)/search") == 8  # 3 + 3 + 2 pages


def test_without_the_restart_the_fake_refuses_to_page_past_the_window(clock: FakeClock) -> None:
    with FakeHubSpot(clock=clock, search_window=30) as fake:
        for i in range(45):
            fake.create_ticket(f"t{i}")
            clock.advance(0.001)
        clock.advance(10)
        source = source_for(fake, clock, page_size=10)
        source.search_window = 10**9
        with pytest.raises(Exception, match="Cannot page beyond 30"):
            drain(source, None, 10)


def test_tickets_not_yet_indexed_by_search_are_left_for_the_next_poll(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    clock.advance(10)
    first = fake.create_ticket("early")
    clock.advance(10)
    out = drain(source_for(fake, clock), None, 10)
    assert out.ids == [f"ticket:{first}"]
    late = fake.create_ticket("late")
    clock.advance(1)  # indexed after 2 s; the source leaves the last 5 s alone
    again = drain(source_for(fake, clock), out.cursor, 10)
    assert again.ids == []
    clock.advance(10)
    final = drain(source_for(fake, clock), out.cursor, 10)
    assert final.ids == [f"ticket:{late}"]


def test_an_agent_edit_brings_the_ticket_back_with_a_new_version(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    tid = fake.create_ticket("t")
    clock.advance(10)
    out = drain(source_for(fake, clock), None, 10)
    old_version = out.records[0].fields["version"]
    fake.agent_update("tickets", tid, hs_pipeline_stage="2")
    clock.advance(10)
    again = drain(source_for(fake, clock), out.cursor, 10)
    assert again.ids == [f"ticket:{tid}"]
    assert again.records[0].fields["version"] > old_version
    assert again.records[0].fields["status"] == "2"


def test_enrichment_costs_a_handful_of_calls_per_page(fake: FakeHubSpot, clock: FakeClock) -> None:
    company = fake.create_company("Acme")
    contacts = [fake.create_contact(f"c{i}@x.example", company_id=company) for i in range(20)]
    for i in range(200):
        fake.create_ticket(f"t{i}", contact_id=contacts[i % 20])
        clock.advance(0.001)
    clock.advance(10)
    before = fake.calls()
    out = drain(source_for(fake, clock, page_size=200), None, 100)
    assert len(out.ids) == 200
    # 1 search + 2 ticket->contact assoc + 1 contacts read + 2 ticket->company assoc
    # + 1 contact->company assoc (2 per 100 at most) + 1 companies read
    assert fake.calls() - before <= 10


def test_check_reports_and_a_wrong_token_is_auth_error(fake: FakeHubSpot, clock: FakeClock) -> None:
    fake.create_ticket("t")
    clock.advance(5)  # search trails writes
    assert "1 tickets" in source_for(fake, clock).check()
    bad = source_for(fake, clock, token="pat-wrong-token")
    with pytest.raises(AuthError) as caught:
        bad.check()
    assert "hubspot" in str(caught.value) and "pat-wrong-token" not in str(caught.value)


def test_oauth_app_refreshes_its_access_token_after_a_401(clock: FakeClock) -> None:
    client = ("client-id", "client-secret", "refresh-token-1")
    with FakeHubSpot("unused", clock=clock, oauth_client=client) as fake:
        fake.create_ticket("t")
        clock.advance(10)
        source = HubSpotSource(
            "hubspot",
            settings_for(
                fake,
                token=None,
                oauth_client_id="client-id",
                oauth_client_secret="client-secret",
                oauth_refresh_token="refresh-token-1",
            ),
            clock=clock,
        )
        assert len(drain(source, None, 10).records) == 1
        assert fake.tokens_issued == 1
        fake.expire_access_token()
        assert len(drain(source, None, 10).records) == 1
        assert fake.tokens_issued == 2
        clock.advance(1800)  # past expiry: refreshed before the request, without a 401
        drain(source, None, 10)
        assert fake.tokens_issued == 3
        assert fake.calls("POST /crm/v3/objects/(\\w+)/search") == 4  # 1 + (401, retry) + 1


def test_oauth_with_a_revoked_refresh_token_is_auth_error(clock: FakeClock) -> None:
    with FakeHubSpot("unused", clock=clock, oauth_client=("c", "s", "r-new")) as fake:
        source = HubSpotSource(
            "hubspot",
            settings_for(
                fake,
                token=None,
                oauth_client_id="c",
                oauth_client_secret="s",
                oauth_refresh_token="r-old",
            ),
            clock=clock,
        )
        with pytest.raises(AuthError) as caught:
            source.check()
        assert "hubspot" in str(caught.value) and "r-old" not in str(caught.value)


def test_a_ticket_indexed_later_than_any_hold_back_is_still_read_once(clock: FakeClock) -> None:
    """HubSpot's search lag is unbounded: the source re-reads an overlap, dedups id+version."""
    with FakeHubSpot(clock=clock) as fake:
        clock.advance(10)
        fake.search_lag = 300.0  # this one reaches the index five minutes late
        late = fake.create_ticket("late")
        fake.search_lag = 0.0
        clock.advance(40)
        prompt = fake.create_ticket("prompt")
        clock.advance(60)
        settings = {"search_lag_seconds": 30.0}  # the old hold-back does not save it
        out = drain(source_for(fake, clock, **settings), None, 10)
        assert out.ids == [f"ticket:{prompt}"]
        clock.advance(400)
        again = drain(source_for(fake, clock, **settings), out.cursor, 10)
        assert again.ids == [f"ticket:{late}"]  # found; `prompt` is not read twice
        fake.agent_update("tickets", prompt, hs_pipeline_stage="2")
        clock.advance(60)
        third = drain(source_for(fake, clock, **settings), again.cursor, 10)
        assert third.ids == [f"ticket:{prompt}"]  # a newer version comes back
        fourth = drain(source_for(fake, clock, **settings), third.cursor, 10)
        assert fourth.ids == []


def test_the_overlap_window_is_bounded_in_the_cursor(clock: FakeClock) -> None:
    with FakeHubSpot(clock=clock) as fake:
        for i in range(5):
            fake.create_ticket(f"t{i}")
            clock.advance(120)
        out = drain(source_for(fake, clock, search_overlap_seconds=300), None, 10)
        assert len(out.ids) == 5
        assert len(out.cursor["seen"]) == 3  # versions older than after - 300 s are forgotten


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["create", "edit", "poll"]),
            st.integers(min_value=0, max_value=5),  # which ticket an edit touches
            st.floats(min_value=0, max_value=300),  # this write's indexing lag, seconds
            st.floats(min_value=0.001, max_value=120),  # time to the next step
        ),
        max_size=25,
    )
)
def test_with_any_lag_below_the_overlap_every_final_version_is_read_once(
    steps: list[tuple[str, int, float, float]],
) -> None:
    """Property: whatever the indexing lags (< overlap), no version is read twice and every
    ticket's last version is read."""
    clock = FakeClock()
    with FakeHubSpot(clock=clock) as fake:
        tickets: list[str] = []
        cursor = None
        read: list[tuple[str, str]] = []

        def poll() -> None:
            nonlocal cursor
            out = drain(source_for(fake, clock, search_lag_seconds=0.0), cursor, 7)
            read.extend((r.source_id, r.fields["version"]) for r in out.records)
            cursor = out.cursor

        for kind, which, lag, pause in steps:
            fake.search_lag = lag
            if kind == "create" or (kind == "edit" and not tickets):
                tickets.append(fake.create_ticket("t"))
            elif kind == "edit":
                fake.agent_update("tickets", tickets[which % len(tickets)], hs_pipeline_stage="2")
            else:
                poll()
            clock.advance(pause)
        clock.advance(400)  # every write is indexed by now
        poll()
        assert len(read) == len(set(read))
        last = {f"ticket:{t}": fake.ticket(t)["hs_lastmodifieddate"] for t in tickets}
        assert {(sid, v) for sid, v in read if last[sid] == v} == set(last.items())
