"""The Request Tracker source against a real RT 5 (started once per session by the fixture)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import AuthError
from connectors.base import Source
from connectors.kit.contract import drain
from connectors.rt import CONNECTOR
from connectors.rt.settings import RtSettings
from connectors.rt.source import RtSource, after_query, ticketsql_time
from tests.servers.rt import RtServer, rt_server

__all__ = ["rt_server"]  # the session fixture, imported so pytest finds it here


def settle() -> None:
    """Wait until the current second is over and held back no more (LastUpdated is per second)."""
    time.sleep(2.05 - (time.time() % 1))


def settings_for(server: RtServer, **extra: object) -> RtSettings:
    """Settings for the server, mapping crmbot's category onto the test custom field."""
    values: dict[str, object] = {
        "type": "rt",
        "url": server.url,
        "username": server.username,
        "password": server.password,
        "custom_fields": {"category": "crmbot_category"},
    }
    values.update(extra)
    return RtSettings(**values)  # type: ignore[arg-type]


def now_cursor() -> dict[str, object]:
    """A cursor at 'now': only tickets changed from here on are read."""
    return {"last_updated": datetime.now(UTC).replace(microsecond=0).isoformat(), "id": 0}


def test_ticket_maps_requestor_organization_body_priority_and_custom_field(
    rt_server: RtServer,
) -> None:
    cursor = now_cursor()
    with rt_server.client() as client:
        client.post(
            "/user",
            json={
                "Name": "dana@globex.example",
                "EmailAddress": "dana@globex.example",
                "RealName": "Dana Doe",
                "Organization": "Globex",
                "MobilePhone": "+44 20 7946 0000",
            },
        ).raise_for_status()
    ticket_id = rt_server.create_ticket(
        "VPN down",
        "dana@globex.example",
        "Nobody can connect since 9am.",
        Priority=30,
        CustomFields={"crmbot_category": "network"},
    )
    settle()
    source = RtSource("rt", settings_for(rt_server))
    assert isinstance(source, Source)
    out = drain(source, cursor, 50)
    [record] = [r for r in out.records if r.source_id == f"ticket:{ticket_id}"]
    f = record.fields
    assert record.source == "rt" and record.kind == "ticket"
    assert f["subject"] == "VPN down"
    assert f["body"] == "Nobody can connect since 9am."
    assert (f["sender_email"], f["sender_name"]) == ("dana@globex.example", "Dana Doe")
    assert f["sender_phone"] == "+44 20 7946 0000"
    assert f["external_ids"]["rt"].isdigit()
    assert f["company"] == {
        "name": "Globex",
        "domain": "globex.example",
        "tier": None,
        "strategic": False,
    }
    assert f["priority"] == 30
    assert f["custom_fields"] == {"category": "network"}
    assert f["status"] == "new"
    assert f["version"] == rt_server.ticket(ticket_id)["LastUpdated"]
    assert f["message_id"] == f"rt-ticket-{ticket_id}@crmbot.invalid"
    assert source.check().startswith("rt: signed in to")


def test_poll_from_the_cursor_reads_only_tickets_changed_since(rt_server: RtServer) -> None:
    cursor = now_cursor()
    a = rt_server.create_ticket("A", "a@example.com", "first")
    b = rt_server.create_ticket("B", "b@example.com", "second")
    settle()
    first = drain(RtSource("rt", settings_for(rt_server)), cursor, 10)
    assert [r.source_id for r in first.records] == [f"ticket:{a}", f"ticket:{b}"]

    assert drain(RtSource("rt", settings_for(rt_server)), first.cursor, 10).records == []

    rt_server.update_ticket(a, Status="open")  # an agent works on A
    settle()
    second = drain(RtSource("rt", settings_for(rt_server)), first.cursor, 10)
    assert [r.source_id for r in second.records] == [f"ticket:{a}"]
    assert second.records[0].fields["status"] == "open"
    assert second.cursor is not None and first.cursor is not None
    assert second.cursor["last_updated"] > first.cursor["last_updated"]


def test_tickets_sharing_one_second_are_each_read_once_across_pages(
    rt_server: RtServer,
) -> None:
    made = [rt_server.create_ticket(f"Tie {n}", "tie@example.com", f"n{n}") for n in range(5)]
    tie = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    rt_server.set_last_updated(made, tie.strftime("%Y-%m-%d %H:%M:%S"))
    cursor = {"last_updated": (tie - timedelta(seconds=1)).isoformat(), "id": 0}
    time.sleep(max(0.0, tie.timestamp() - time.time()))
    settle()
    out = drain(RtSource("rt", settings_for(rt_server, fetch_body=False)), cursor, 2)
    assert [r.source_id for r in out.records] == [f"ticket:{t}" for t in made]
    assert {r.fields["version"] for r in out.records} == {tie.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert len(out.cursors) == 3  # pages of 2, 2, 1, each starting after the last id read


def test_tickets_of_the_current_second_wait_for_the_next_poll(rt_server: RtServer) -> None:
    cursor = now_cursor()
    settings = settings_for(rt_server, hold_back_seconds=30, fetch_body=False)
    fresh = rt_server.create_ticket("Fresh", "f@example.com", "just now")
    held = drain(RtSource("rt", settings), cursor, 10)
    assert f"ticket:{fresh}" not in [r.source_id for r in held.records]
    settle()
    later = drain(RtSource("rt", settings_for(rt_server)), cursor, 10)
    assert f"ticket:{fresh}" in [r.source_id for r in later.records]


def test_wrong_password_is_a_clear_auth_error(rt_server: RtServer) -> None:
    source = RtSource("rt", settings_for(rt_server, password="not-the-password"))
    with pytest.raises(AuthError) as caught:
        source.check()
    assert "rt" in str(caught.value) and "not-the-password" not in str(caught.value)


def test_settings_need_https_for_a_remote_rt_and_one_kind_of_credential() -> None:
    with pytest.raises(ValueError, match="https"):
        RtSettings(type="rt", url="http://rt.example.com", username="u", password="p")
    with pytest.raises(ValueError, match="either token"):
        RtSettings(type="rt", url="https://rt.example.com")
    with pytest.raises(ValueError, match="quote"):
        RtSettings(type="rt", url="https://rt.example.com", token="t", queues=["x' OR 1=1"])
    assert CONNECTOR.settings_model is RtSettings


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]),
)
def test_ticketsql_dates_are_plain_local_times_that_read_back_to_the_same_instant(
    moment: datetime, zone: str
) -> None:
    from zoneinfo import ZoneInfo

    text = ticketsql_time(moment, zone)
    assert len(text) == 19 and "T" not in text and "Z" not in text
    back = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo(zone))
    assert abs(back - moment.replace(microsecond=0)) <= timedelta(hours=1)  # DST folds
    query = after_query(moment, 42, ["General"], zone)
    assert f"LastUpdated > '{text}'" in query and "id > 42" in query


def test_a_start_time_inside_a_second_reads_every_ticket_of_that_second(
    rt_server: RtServer,
) -> None:
    ticket_id = rt_server.create_ticket("Edge", "e@example.com", "edge")
    stamp = datetime.fromisoformat(
        rt_server.ticket(ticket_id)["LastUpdated"].replace("Z", "+00:00")
    )
    settle()
    settings = settings_for(rt_server, start_time=stamp + timedelta(milliseconds=700))
    out = drain(RtSource("rt", settings), None, 5)
    assert f"ticket:{ticket_id}" in [r.source_id for r in out.records]
