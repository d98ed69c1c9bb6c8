"""The fake HubSpot rejects what the real API rejects, in HubSpot's shapes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors.kit import FakeClock
from connectors.kit.http import default_transport
from tests.fakes.hubspot import FakeHubSpot

TOKEN = "pat-na1-fake-token"
HTTP = httpx.Client(transport=default_transport())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeHubSpot]:
    with FakeHubSpot(TOKEN, clock=clock) as server:
        yield server


def call(fake: FakeHubSpot, method: str, path: str, body: Any = None, token: str = TOKEN) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    return HTTP.request(method, fake.url + path, json=body, headers=headers)


def assert_hubspot_error(response: httpx.Response, status: int, category: str) -> None:
    assert response.status_code == status
    body = response.json()
    assert body["status"] == "error"
    assert body["category"] == category
    assert body["message"] and body["correlationId"]


def test_wrong_token_is_401_invalid_authentication(fake: FakeHubSpot) -> None:
    response = call(fake, "POST", "/crm/v3/objects/tickets/search", {}, token="nope")
    assert_hubspot_error(response, 401, "INVALID_AUTHENTICATION")


def test_batch_of_more_than_100_inputs_is_rejected(fake: FakeHubSpot) -> None:
    inputs = [{"id": str(i), "properties": {"subject": "x"}} for i in range(101)]
    response = call(fake, "POST", "/crm/v3/objects/tickets/batch/update", {"inputs": inputs})
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


def test_unknown_and_read_only_properties_are_rejected(fake: FakeHubSpot) -> None:
    tid = fake.create_ticket("t")
    for props in ({"crmbot_category": "x"}, {"hs_lastmodifieddate": "2020-01-01T00:00:00Z"}):
        body = {"inputs": [{"id": tid, "properties": props}]}
        response = call(fake, "POST", "/crm/v3/objects/tickets/batch/update", body)
        assert_hubspot_error(response, 400, "VALIDATION_ERROR")
        assert next(iter(props)) in response.json()["message"]


def test_duplicate_ids_in_one_batch_update_are_rejected(fake: FakeHubSpot) -> None:
    tid = fake.create_ticket("t")
    body = {"inputs": [{"id": tid, "properties": {"subject": s}} for s in ("a", "b")]}
    response = call(fake, "POST", "/crm/v3/objects/tickets/batch/update", body)
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


def test_search_limit_over_200_and_paging_past_10000_are_rejected(fake: FakeHubSpot) -> None:
    path = "/crm/v3/objects/tickets/search"
    assert_hubspot_error(call(fake, "POST", path, {"limit": 201}), 400, "VALIDATION_ERROR")
    response = call(fake, "POST", path, {"limit": 100, "after": "9950"})
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


def test_search_allows_one_sort_only(fake: FakeHubSpot) -> None:
    sorts = [{"propertyName": "createdate"}, {"propertyName": "hs_object_id"}]
    response = call(fake, "POST", "/crm/v3/objects/tickets/search", {"sorts": sorts})
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


def test_search_pages_with_after_tokens_and_lags_behind_writes(clock: FakeClock) -> None:
    with FakeHubSpot(TOKEN, clock=clock, search_lag=3.0) as fake:
        for i in range(5):
            fake.create_ticket(f"t{i}")
        path = "/crm/v3/objects/tickets/search"
        assert call(fake, "POST", path, {"limit": 2}).json()["total"] == 0
        clock.advance(3)
        first = call(fake, "POST", path, {"limit": 2}).json()
        assert first["total"] == 5 and first["paging"]["next"]["after"] == "2"
        last = call(fake, "POST", path, {"limit": 2, "after": "4"}).json()
        assert len(last["results"]) == 1 and "paging" not in last


def test_too_many_requests_in_ten_seconds_get_429_with_rate_limit_headers(
    fake: FakeHubSpot,
) -> None:
    for _ in range(100):
        assert call(fake, "GET", "/crm/v3/properties/tickets").status_code == 200
    response = call(fake, "GET", "/crm/v3/properties/tickets")
    assert_hubspot_error(response, 429, "RATE_LIMITS")
    assert float(response.headers["Retry-After"]) > 0
    assert response.headers["X-HubSpot-RateLimit-Max"] == "100"
    assert response.headers["X-HubSpot-RateLimit-Remaining"] == "0"


def test_search_has_its_own_lower_limit(fake: FakeHubSpot) -> None:
    path = "/crm/v3/objects/tickets/search"
    for _ in range(5):
        assert call(fake, "POST", path, {}).status_code == 200
    assert_hubspot_error(call(fake, "POST", path, {}), 429, "RATE_LIMITS")


def test_note_needs_a_timestamp_and_a_valid_association(fake: FakeHubSpot) -> None:
    tid = fake.create_ticket("t")
    path = "/crm/v3/objects/notes"
    assoc = [
        {
            "to": {"id": tid},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 228}],
        }
    ]
    no_time = {"properties": {"hs_note_body": "x"}, "associations": assoc}
    assert_hubspot_error(call(fake, "POST", path, no_time), 400, "VALIDATION_ERROR")
    wrong_type = {
        "properties": {"hs_note_body": "x", "hs_timestamp": "2026-01-01T00:00:00Z"},
        "associations": [{**assoc[0], "types": [{**assoc[0]["types"][0], "associationTypeId": 1}]}],
    }
    assert_hubspot_error(call(fake, "POST", path, wrong_type), 400, "VALIDATION_ERROR")
    good = {**wrong_type, "associations": assoc}
    assert call(fake, "POST", path, good).status_code == 201
    assert fake.notes_for_ticket(tid) == ["x"]


def test_creating_an_existing_property_is_409(fake: FakeHubSpot) -> None:
    body = {"name": "crmbot", "label": "crmbot"}
    assert call(fake, "POST", "/crm/v3/properties/tickets/groups", body).status_code == 201
    response = call(fake, "POST", "/crm/v3/properties/tickets/groups", body)
    assert_hubspot_error(response, 409, "OBJECT_ALREADY_EXISTS")


def test_injected_429_counts_early_retries(fake: FakeHubSpot, clock: FakeClock) -> None:
    fake.fail_with_429(1, 10)
    assert call(fake, "GET", "/crm/v3/properties/tickets").status_code == 429
    assert call(fake, "GET", "/crm/v3/properties/tickets").status_code == 200
    assert fake.early_retries() == 1
    clock.advance(10)
    call(fake, "GET", "/crm/v3/properties/tickets")
    assert fake.early_retries() == 1


# -- the hard answers, in the shapes HubSpot documents --------------------------------------


def test_429_bodies_name_the_ten_secondly_or_the_daily_policy(fake: FakeHubSpot) -> None:
    for policy, message in (("TEN_SECONDLY_ROLLING", "ten_secondly"), ("DAILY", "daily")):
        fake.fail_with_429(1, None if policy == "DAILY" else 1.0, policy=policy)
        response = call(fake, "GET", "/crm/v3/properties/tickets")
        body = response.json()
        assert response.status_code == 429
        assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == policy
        assert message in body["message"] and body["requestId"] and body["correlationId"]
        assert ("Retry-After" in response.headers) == (policy != "DAILY")


def test_423_and_477_are_answered_as_documented(fake: FakeHubSpot) -> None:
    fake.fail_with_status(423, 1)
    assert call(fake, "GET", "/crm/v3/properties/tickets").status_code == 423
    fake.fail_with_status(477, 1, retry_after=3600)
    response = call(fake, "GET", "/crm/v3/properties/tickets")
    assert response.status_code == 477 and response.headers["Retry-After"] == "3600"


def test_association_batch_read_pages_per_result(fake: FakeHubSpot) -> None:
    busy = fake.create_ticket("busy")
    quiet = fake.create_ticket("quiet")
    for i in range(3):
        call(
            fake,
            "POST",
            "/crm/v3/objects/notes",
            {
                "properties": {"hs_note_body": str(i), "hs_timestamp": "2026-01-01T00:00:00Z"},
                "associations": [
                    {
                        "to": {"id": t},
                        "types": [
                            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 228}
                        ],
                    }
                    for t in ([busy, quiet] if i == 0 else [busy])
                ],
            },
        )
    fake.assoc_page_size = 2
    path = "/crm/v4/associations/tickets/notes/batch/read"
    first = call(fake, "POST", path, {"inputs": [{"id": busy}, {"id": quiet}]}).json()
    by_id = {r["from"]["id"]: r for r in first["results"]}
    assert len(by_id[busy]["to"]) == 2 and "paging" in by_id[busy]
    assert len(by_id[quiet]["to"]) == 1 and "paging" not in by_id[quiet]
    after = by_id[busy]["paging"]["next"]["after"]
    second = call(fake, "POST", path, {"inputs": [{"id": busy, "after": after}]}).json()
    assert len(second["results"][0]["to"]) == 1 and "paging" not in second["results"][0]


def test_batch_update_answers_207_with_errors_for_unknown_ids(fake: FakeHubSpot) -> None:
    fake.missing_ids_answer = "207"
    tid = fake.create_ticket("t")
    body = {"inputs": [{"id": tid, "properties": {"subject": "a"}}, {"id": "424242"}]}
    response = call(fake, "POST", "/crm/v3/objects/tickets/batch/update", body)
    assert response.status_code == 207
    out = response.json()
    assert [r["id"] for r in out["results"]] == [tid]
    assert out["numErrors"] == 1 and out["errors"][0]["context"]["ids"] == ["424242"]


def test_batch_create_with_trace_ids_answers_207_per_input(fake: FakeHubSpot) -> None:
    good = {
        "properties": {"hs_note_body": "ok", "hs_timestamp": "2026-01-01T00:00:00Z"},
        "objectWriteTraceId": "a",
    }
    bad = {"properties": {"hs_note_body": "no timestamp"}, "objectWriteTraceId": "b"}
    response = call(fake, "POST", "/crm/v3/objects/notes/batch/create", {"inputs": [good, bad]})
    assert response.status_code == 207
    out = response.json()
    assert [r["objectWriteTraceId"] for r in out["results"]] == ["a"]
    assert out["errors"][0]["context"]["objectWriteTraceId"] == ["b"]
