"""The Zendesk source against the fake Zendesk: mapping, cursors, hold-back, limits, auth."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.errors import AuthError
from connectors.base import Source
from connectors.kit.clock import FakeClock
from connectors.kit.contract import drain
from connectors.zendesk import CONNECTOR
from connectors.zendesk.settings import ZendeskSettings
from connectors.zendesk.source import ZendeskSource
from tests.fakes.zendesk import EMAIL, OAUTH_TOKEN, TOKEN, FakeZendesk


@pytest.fixture
def clock() -> FakeClock:
    """The clock shared by the fake server and the connector."""
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeZendesk]:
    """A running fake Zendesk."""
    with FakeZendesk(clock=clock) as server:
        yield server


def settings_for(fake: FakeZendesk, **extra: Any) -> ZendeskSettings:
    """Settings pointing at the fake with email/token credentials."""
    values: dict[str, Any] = {
        "type": "zendesk",
        "base_url": fake.url,
        "email": EMAIL,
        "api_token": TOKEN,
        "requests_per_minute": 700,
    }
    values.update(extra)
    return ZendeskSettings(**values)


def source_for(fake: FakeZendesk, clock: FakeClock, **extra: Any) -> ZendeskSource:
    """A source on the fake, sleeping on the shared fake clock."""
    return ZendeskSource("zendesk", settings_for(fake, **extra), clock=clock)


def add_tickets(fake: FakeZendesk, clock: FakeClock, count: int) -> list[int]:
    """`count` tickets from one requester, each changed a second after the previous."""
    user = fake.add_user("Carla Client", "carla@example.com")
    ids = []
    for n in range(count):
        clock.advance(1)
        ids.append(fake.add_ticket(f"Question {n}", f"Body {n}", requester_id=user["id"])["id"])
    return ids


def test_ticket_maps_to_crmbot_fields_with_requester_and_organization_tier(
    fake: FakeZendesk, clock: FakeClock
) -> None:
    org = fake.add_organization("Acme", domain_names=["acme.example"], tier="gold", strategic=True)
    user = fake.add_user(
        "Ann Buyer",
        "ann@acme.example",
        phone="+33 1 23 45 67 89",
        organization_id=org["id"],
        tier="platinum",
        vip=True,
    )
    ticket = fake.add_ticket(
        "Invoice wrong",
        "The March invoice is wrong",
        requester_id=user["id"],
        priority="low",
        custom_fields={360001: "billing"},
    )
    clock.advance(61)
    source = source_for(fake, clock, custom_fields={"category": 360001})
    assert isinstance(source, Source)
    out = drain(source, None, 100)
    [record] = out.records
    f = record.fields
    assert record.source == "zendesk"
    assert record.source_id == f"ticket:{ticket['id']}"
    assert record.kind == "ticket"
    assert f["subject"] == "Invoice wrong"
    assert f["body"] == "The March invoice is wrong"
    assert (f["sender_email"], f["sender_name"]) == ("ann@acme.example", "Ann Buyer")
    assert f["sender_phone"] == "+33 1 23 45 67 89"
    assert f["external_ids"] == {"zendesk": str(user["id"])}
    assert f["ticket_id"] == str(ticket["id"])
    assert f["status"] == "new"
    assert f["version"] == ticket["updated_at"]
    assert f["company"]["name"] == "Acme"
    assert f["company"]["domain"] == "acme.example"
    assert (f["company"]["tier"], f["company"]["strategic"]) == ("gold", True)
    assert (f["contact"]["tier"], f["contact"]["vip"]) == ("platinum", True)
    assert f["custom_fields"] == {"category": "billing"}
    assert f["message_id"] == f"zendesk-ticket-{ticket['id']}@crmbot.invalid"
    # requesters and organizations come as sideloads: one request, no lookups per ticket
    assert fake.count("GET", "/api/v2/users") == 0
    assert fake.count("GET", "/api/v2/incremental/tickets") == 1


def test_export_follows_after_cursor_to_end_of_stream_and_resumes_with_only_changes(
    fake: FakeZendesk, clock: FakeClock
) -> None:
    ids = add_tickets(fake, clock, 7)
    clock.advance(61)
    out = drain(source_for(fake, clock), None, 3)
    assert [r.source_id for r in out.records] == [f"ticket:{i}" for i in ids]
    assert len(out.cursors) == 3  # pages of 3, 3, 1: the last says end_of_stream
    assert out.cursor is not None and out.cursor["cursor"]

    again = drain(source_for(fake, clock), out.cursor, 3)
    assert again.records == []

    clock.advance(5)
    fake.agent_update(ids[2], status="open")
    clock.advance(61)
    changed = drain(source_for(fake, clock), out.cursor, 3)
    assert [r.source_id for r in changed.records] == [f"ticket:{ids[2]}"]
    assert changed.records[0].fields["status"] == "open"
    assert changed.records[0].fields["version"] != out.records[2].fields["version"]
    assert changed.cursor is not None
    assert changed.cursor["watermark"] > out.cursor["watermark"]


def test_changes_of_the_last_minute_come_in_the_next_poll(
    fake: FakeZendesk, clock: FakeClock
) -> None:
    early = add_tickets(fake, clock, 2)
    clock.advance(61)
    late = add_tickets(fake, clock, 1)  # less than a minute old at the next request
    first = drain(source_for(fake, clock), None, 10)
    assert [r.source_id for r in first.records] == [f"ticket:{i}" for i in early]
    clock.advance(61)
    second = drain(source_for(fake, clock), first.cursor, 10)
    assert [r.source_id for r in second.records] == [f"ticket:{i}" for i in late]


def test_export_stays_under_ten_requests_per_minute_without_a_single_429(
    fake: FakeZendesk, clock: FakeClock
) -> None:
    ids = add_tickets(fake, clock, 25)
    clock.advance(61)
    out = drain(source_for(fake, clock), None, 1)
    assert len(out.records) == 25 and {r.source_id for r in out.records} == {
        f"ticket:{i}" for i in ids
    }
    answered = [r for r in fake.requests if r.path.startswith("/api/v2/incremental/")]
    assert len(answered) == 25
    assert all(r.status == 200 for r in answered)
    for r in answered:  # no 60-second window holds more than 10 export requests
        assert sum(1 for o in answered if r.at <= o.at < r.at + 60) <= 10


def test_fake_answers_429_with_retry_after_past_ten_export_requests_a_minute(
    fake: FakeZendesk, clock: FakeClock
) -> None:
    import httpx

    auth = (f"{EMAIL}/token", TOKEN)
    start = int(clock.time()) - 3600
    with httpx.Client(base_url=fake.url, auth=auth) as client:
        statuses = [
            client.get(
                "/api/v2/incremental/tickets/cursor.json", params={"start_time": start}
            ).status_code
            for _ in range(11)
        ]
        refused = client.get(
            "/api/v2/incremental/tickets/cursor.json", params={"start_time": start}
        )
    assert statuses == [200] * 10 + [429]
    assert int(refused.headers["Retry-After"]) > 0


def test_bad_credentials_are_a_fatal_auth_error_without_the_token(
    fake: FakeZendesk, clock: FakeClock
) -> None:
    source = ZendeskSource(
        "zendesk", settings_for(fake, api_token="wrong-token-value"), clock=clock
    )
    with pytest.raises(AuthError) as caught:
        source.check()
    assert "zendesk" in str(caught.value)
    assert "wrong-token-value" not in str(caught.value)
    assert "Couldn't authenticate you" in str(caught.value)


def test_oauth_bearer_token_signs_in(fake: FakeZendesk, clock: FakeClock) -> None:
    settings = ZendeskSettings(type="zendesk", base_url=fake.url, oauth_access_token=OAUTH_TOKEN)
    assert EMAIL in ZendeskSource("zendesk", settings, clock=clock).check()


def test_oauth_refresh_token_is_exchanged_with_a_json_body_as_zendesk_documents(
    clock: FakeClock,
) -> None:
    """Zendesk's grant-type token endpoint takes JSON; a form body is refused (400)."""
    with FakeZendesk(clock=clock, oauth_client=("crmbot", "s3cret", "refresh-1")) as fake:
        settings = ZendeskSettings(
            type="zendesk",
            base_url=fake.url,
            oauth_client_id="crmbot",
            oauth_client_secret="s3cret",
            oauth_refresh_token="refresh-1",
        )
        assert EMAIL in ZendeskSource("zendesk", settings, clock=clock).check()
        [(content_type, _body)] = fake.token_requests
        assert content_type.startswith("application/json")
        assert fake.tokens_issued == 1


def test_malformed_ticket_is_quarantined_and_the_page_goes_on(
    fake: FakeZendesk, clock: FakeClock
) -> None:
    good = add_tickets(fake, clock, 1)
    clock.advance(1)
    bad = fake.add_raw_ticket({"subject": {"not": "text"}, "updated_at": "soon"})
    after = add_tickets(fake, clock, 1)
    clock.advance(61)
    out = drain(source_for(fake, clock), None, 10)
    got = {r.source_id: r for r in out.records}
    assert got[f"ticket:{bad}"].quarantine_reason
    assert got[f"ticket:{good[0]}"].quarantine_reason is None
    assert got[f"ticket:{after[0]}"].quarantine_reason is None


def test_user_export_yields_contacts_with_tier(fake: FakeZendesk, clock: FakeClock) -> None:
    fake.add_user("Vic", "vic@example.com", tier="gold", vip=True)
    clock.advance(61)
    source = source_for(fake, clock)
    pages = list(source.poll_users(None, 100))
    contacts = [c for page, _ in pages for c in page]
    assert [(c["email"], c["tier"], c["vip"]) for c in contacts] == [
        ("vic@example.com", "gold", True)
    ]
    assert pages[-1][1]["cursor"]


def test_settings_refuse_a_token_without_email_and_plain_http_to_a_remote_host() -> None:
    with pytest.raises(ValidationError, match="email"):
        ZendeskSettings(type="zendesk", subdomain="acme", api_token="t")
    with pytest.raises(ValidationError, match="https"):
        ZendeskSettings(
            type="zendesk", base_url="http://zendesk.example.com", email="a@b.c", api_token="t"
        )
    with pytest.raises(ValidationError, match="exactly one"):
        ZendeskSettings(type="zendesk", subdomain="acme")
    settings = ZendeskSettings(type="zendesk", subdomain="acme", email="a@b.c", api_token="t")
    assert settings.url == "https://acme.zendesk.com"
    assert CONNECTOR.settings_model is ZendeskSettings
    assert {"source", "sink", "merge"} <= CONNECTOR.capabilities


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
_ticket_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.integers(min_value=-5, max_value=10**12) | _json,
        "subject": _json,
        "description": _json,
        "updated_at": st.sampled_from(["2026-01-01T00:00:00Z", "soon", ""]) | _json,
        "created_at": _json,
        "requester_id": _json,
        "organization_id": _json,
        "tags": _json,
        "custom_fields": _json,
        "via": _json,
    },
)


_MAPPER = ZendeskSource(
    "zendesk", ZendeskSettings(type="zendesk", subdomain="acme", email="a@b.c", api_token="t")
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(_ticket_like, _json))
def test_any_exported_item_maps_or_is_quarantined_never_crashes(item: Any) -> None:
    source = _MAPPER
    record = source._safe_map(item, source._map_ticket)
    assert record.source_id.startswith("ticket:")
    assert (record.quarantine_reason is None) == ("message_id" in record.fields)


def test_a_users_source_yields_contact_records_for_identity_and_tier(
    fake: FakeZendesk, clock: FakeClock
) -> None:
    fake.add_user("Vic Hale", "vic@example.com", tier="gold", vip=True)
    clock.advance(61)
    source = ZendeskSource("zd-users", settings_for(fake, poll="users"), clock=clock)
    (record,) = [r for batch in source.poll(None, 100) for r in batch.records]
    assert record.kind == "contact" and record.source_id.startswith("user:")
    assert record.fields["email"] == "vic@example.com"
    assert record.fields["contact"] == {"tier": "gold", "vip": True}
    assert record.fields["external_ids"]["zendesk"] == record.fields["object_id"]
