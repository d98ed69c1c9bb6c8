"""The shared HTTP client: what it retries, how long it waits, which errors it raises."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import AuthError, MalformedInput, RateLimited, SourceUnavailable
from connectors.kit import (
    BearerToken,
    FakeClock,
    HttpClient,
    HttpRejected,
    RetryPolicy,
    TokenBucket,
    parse_retry_after,
)

TOKEN = "pat-na1-secret-token-123"


def scripted(
    responses: list[httpx.Response], seen: list[httpx.Request]
) -> Callable[[httpx.Request], httpx.Response]:
    """A handler that answers with `responses` in order (the last one repeats)."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responses[min(len(seen) - 1, len(responses) - 1)]

    return handler


def client_for(
    responses: list[httpx.Response], clock: FakeClock, **kwargs: object
) -> tuple[HttpClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(scripted(responses, seen))
    client = HttpClient(
        "acme",
        "https://api.example.test",
        auth=BearerToken(TOKEN),
        clock=clock,
        transport=transport,
        **kwargs,  # type: ignore[arg-type]
    )
    return client, seen


def test_429_is_retried_after_exactly_retry_after_seconds() -> None:
    clock = FakeClock()
    client, seen = client_for(
        [
            httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow"}),
            httpx.Response(429, headers={"Retry-After": "3"}, json={"message": "slow"}),
            httpx.Response(200, json={"ok": True}),
        ],
        clock,
    )
    assert client.get("/x") == {"ok": True}
    assert len(seen) == 3
    assert clock.sleeps == [7.0, 3.0]
    assert [w.retry_after for w in client.waits] == [7.0, 3.0]


def test_retry_after_as_http_date_is_honoured() -> None:
    clock = FakeClock()
    when = datetime.fromtimestamp(clock.time() + 42, UTC)
    client, _ = client_for(
        [
            httpx.Response(503, headers={"Retry-After": format_datetime(when, usegmt=True)}),
            httpx.Response(200, json={}),
        ],
        clock,
    )
    client.get("/x")
    assert clock.sleeps == [pytest.approx(42.0, abs=1.0)]
    assert clock.sleeps[0] >= 41.0


def test_5xx_without_retry_after_backs_off_exponentially_then_gives_up() -> None:
    clock = FakeClock()
    client, seen = client_for(
        [httpx.Response(502, text="bad gateway")],
        clock,
        retry=RetryPolicy(max_attempts=4, backoff_initial=1.0),
    )
    with pytest.raises(SourceUnavailable) as caught:
        client.get("/x")
    assert len(seen) == 4
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert "acme" in str(caught.value)
    assert caught.value.retry_after == 8.0


def test_endless_429_stops_at_max_total_wait_with_rate_limited() -> None:
    clock = FakeClock()
    client, seen = client_for(
        [httpx.Response(429, headers={"Retry-After": "30"})],
        clock,
        retry=RetryPolicy(max_total_wait=100.0),
    )
    with pytest.raises(RateLimited) as caught:
        client.get("/x")
    assert sum(clock.sleeps) <= 100.0
    assert clock.sleeps == [30.0, 30.0, 30.0]
    assert len(seen) == 4
    assert caught.value.retry_after == 30.0


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_rejected_record_is_malformed_input_with_vendor_message(status: int) -> None:
    clock = FakeClock()
    body = {"status": "error", "message": "Property x does not exist", "category": "VALIDATION"}
    client, seen = client_for([httpx.Response(status, json=body)], clock)
    with pytest.raises(HttpRejected) as caught:
        client.post("/x", json={})
    assert isinstance(caught.value, MalformedInput)
    assert caught.value.status_code == status
    assert caught.value.vendor_message == "Property x does not exist"
    assert caught.value.category == "VALIDATION"
    assert len(seen) == 1, "a rejected request must not be retried"
    assert clock.sleeps == []


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_auth_error_naming_connector_not_token(status: int) -> None:
    clock = FakeClock()
    body = {"message": f"token {TOKEN} is invalid"}
    client, seen = client_for([httpx.Response(status, json=body)], clock)
    with pytest.raises(AuthError) as caught:
        client.get("/x")
    assert "acme" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert len(seen) == 1


def test_connection_refused_is_retried_then_source_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clock = FakeClock()
    client = HttpClient(
        "acme", f"http://127.0.0.1:{port}", clock=clock, retry=RetryPolicy(max_attempts=3)
    )
    with pytest.raises(SourceUnavailable) as caught:
        client.get("/x")
    assert "ConnectError" in str(caught.value)
    assert clock.sleeps == [1.0, 2.0]


def test_every_attempt_takes_a_token_from_the_rate_limiter() -> None:
    clock = FakeClock()
    bucket = TokenBucket(capacity=1, rate=0.5, clock=clock)
    client, seen = client_for([httpx.Response(200, json={})], clock, limiter=bucket)
    for _ in range(3):
        client.get("/x")
    assert len(seen) == 3
    assert clock.sleeps == [2.0, 2.0]


def test_bearer_token_is_sent() -> None:
    client, seen = client_for([httpx.Response(200, json={})], FakeClock())
    client.get("/x")
    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"


@given(st.integers(min_value=0, max_value=10**6))
def test_parse_retry_after_reads_delta_seconds(seconds: int) -> None:
    assert parse_retry_after(str(seconds), 0.0) == float(seconds)


@given(st.text(alphabet=st.characters(blacklist_categories=("Nd",)), max_size=20))
def test_parse_retry_after_never_raises_on_garbage(text: str) -> None:
    value = parse_retry_after(text, 1_700_000_000.0)
    assert value is None or value >= 0


def test_parse_retry_after_past_http_date_is_zero() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1_700_000_000.0) == 0.0


def test_423_locked_waits_two_seconds_then_retries() -> None:
    """HubSpot: "locks last for 2 seconds"; a 423 refuses without performing the write."""
    clock = FakeClock()
    client, seen = client_for(
        [httpx.Response(423, json={"message": "locked"}), httpx.Response(200, json={"ok": 1})],
        clock,
    )
    assert client.post("/crm/v3/objects/notes/batch/create", json={}) == {"ok": 1}
    assert len(seen) == 2
    assert clock.sleeps == [2.0]


def test_477_migration_in_progress_honours_retry_after_and_hands_long_waits_to_the_runtime() -> (
    None
):
    clock = FakeClock()
    client, _seen = client_for(
        [httpx.Response(477, headers={"Retry-After": "5"}), httpx.Response(200, json={})], clock
    )
    assert client.get("/x") == {}
    assert clock.sleeps == [5.0]
    long_wait, _ = client_for([httpx.Response(477, headers={"Retry-After": "86400"})], clock)
    with pytest.raises(SourceUnavailable) as caught:
        long_wait.get("/x")
    assert caught.value.retry_after == 86400.0


def test_a_daily_limit_429_is_not_waited_out_in_process() -> None:
    """HubSpot's daily quota (policyName DAILY) resets at midnight: hand it to the runtime."""
    clock = FakeClock()
    body = {
        "status": "error",
        "message": "You have reached your daily limit.",
        "errorType": "RATE_LIMIT",
        "policyName": "DAILY",
    }
    client, seen = client_for([httpx.Response(429, json=body)], clock)
    with pytest.raises(RateLimited) as caught:
        client.get("/x")
    assert len(seen) == 1
    assert clock.sleeps == []
    assert caught.value.retry_after == 3600.0


def test_a_non_idempotent_write_is_not_resent_after_a_5xx_but_is_after_a_429() -> None:
    from connectors.kit import OutcomeUnknown

    clock = FakeClock()
    client, seen = client_for([httpx.Response(502), httpx.Response(200, json={})], clock)
    with pytest.raises(OutcomeUnknown):
        client.post("/notes", json={}, idempotent=False)
    assert len(seen) == 1
    refused, seen2 = client_for(
        [httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(200, json={})], clock
    )
    assert refused.post("/notes", json={}, idempotent=False) == {}
    assert len(seen2) == 2
