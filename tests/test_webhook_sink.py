"""The webhook sink against a local receiver: signed, idempotent, allow-listed, retried.

The receiver listens on 127.0.0.1 over plain HTTP, so these tests turn on the sink's two
loosening settings (`allow_private_addresses`, `allow_http_on_loopback`); the tests that
prove the defaults leave them off.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from bot.store import Store, open_store
from connectors.base import SinkAction
from connectors.kit.clock import FakeClock
from connectors.webhook.settings import WebhookSettings
from connectors.webhook.sign import signature, verify
from connectors.webhook.sink import WebhookSink
from tests.fakes.loopback import ByteHandler, LoopbackHttpServer
from tests.helpers.actions import crm_worker, not_done, one_rule_pack, outbox_rows

SECRET = "s3cret-for-tests-only-0123456789"


class Receiver(LoopbackHttpServer):
    """Records every request; answers `statuses` in turn, then 200."""

    handler_class = ByteHandler

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[dict[str, Any]] = []

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Record the request; answer the next planned status."""
        self.received.append({"method": method, "path": path, "headers": headers, "body": body})
        status = self.statuses.pop(0) if self.statuses else 200
        return status, {"Content-Type": "application/json"}, b'{"ok": true}'


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running receiver on loopback."""
    with Receiver() as server:
        yield server


def _settings(**extra: Any) -> WebhookSettings:
    values: dict[str, Any] = {
        "type": "webhook",
        "allowed_hosts": ["127.0.0.1"],
        "secret": SECRET,
        "allow_private_addresses": True,
        "allow_http_on_loopback": True,
        **extra,
    }
    return WebhookSettings(**values)


def _action(url: str, n: int = 1, payload: dict[str, Any] | None = None) -> SinkAction:
    body = {"url": url, "method": "POST", "payload": payload or {"case": "CB-1"}}
    return SinkAction(n, f"CB-1/notify/{n}", "webhook", {}, body)


def test_a_webhook_is_signed_over_timestamp_and_body_and_carries_its_idempotency_key(
    receiver: Receiver,
) -> None:
    clock = FakeClock()
    sink = WebhookSink("hook", _settings(), clock=clock)
    with capture_logs() as logs:
        [result] = sink.perform([_action(f"{receiver.url}/hooks/crm?x=1", payload={"a": "é"})])
    sink.close()
    assert result.status == "done", result.detail
    [got] = receiver.received
    assert got["path"] == "/hooks/crm?x=1"
    stamp = int(got["headers"]["x-crmbot-timestamp"])
    assert stamp == int(clock.time())
    assert verify(SECRET, stamp, got["body"], got["headers"]["x-crmbot-signature"])
    assert not verify(SECRET, stamp + 1, got["body"], got["headers"]["x-crmbot-signature"])
    assert got["headers"]["idempotency-key"] == "CB-1/notify/1"
    assert json.loads(got["body"]) == {"a": "é"}
    assert SECRET not in repr(logs)


def test_a_failing_receiver_is_retried_with_backoff_and_the_same_key(receiver: Receiver) -> None:
    clock = FakeClock()
    receiver.statuses = [503, 503]
    sink = WebhookSink("hook", _settings(), clock=clock)
    before = clock.monotonic()
    [result] = sink.perform([_action(f"{receiver.url}/h")])
    sink.close()
    assert result.status == "done"
    assert len(receiver.received) == 3
    assert {r["headers"]["idempotency-key"] for r in receiver.received} == {"CB-1/notify/1"}
    assert clock.monotonic() - before >= 3.0  # backoff 1 s then 2 s (on the fake clock)


def test_a_receiver_that_refuses_the_request_makes_it_skipped_with_its_reason(
    receiver: Receiver,
) -> None:
    receiver.statuses = [422]
    sink = WebhookSink("hook", _settings(), clock=FakeClock())
    [result] = sink.perform([_action(f"{receiver.url}/h")])
    sink.close()
    assert result.status == "skipped" and "refused" in result.detail["reason"]


@pytest.mark.parametrize(
    ("settings", "url", "why"),
    [
        ({}, "https://evil.example/h", "not in this sink's allowed_hosts"),
        ({"allow_http_on_loopback": False}, "http://127.0.0.1:9/h", "must use https"),
        ({"allow_private_addresses": False}, "https://127.0.0.1:9/h", "private or loopback"),
        (
            {"allowed_hosts": ["localhost"], "allow_private_addresses": False},
            "https://localhost:9/h",
            "private or loopback",
        ),
        ({}, "https://user:pw@127.0.0.1/h", "credentials"),
    ],
)
def test_hosts_not_allowed_plain_http_and_private_addresses_are_refused_before_any_request(
    settings: dict[str, Any], url: str, why: str, receiver: Receiver
) -> None:
    sink = WebhookSink("hook", _settings(**settings), clock=FakeClock())
    [result] = sink.perform([_action(url)])
    sink.close()
    assert result.status == "skipped"
    assert why in result.detail["reason"]
    assert receiver.received == []


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), b"1700000000.{}", hashlib.sha256).hexdigest()
    assert signature(SECRET, 1_700_000_000, b"{}") == f"sha256={expected}"


def test_a_rule_webhook_goes_through_the_worker_and_outbox_to_the_receiver(
    receiver: Receiver, tmp_path: Path
) -> None:
    from tests.fakes.hubspot import FakeHubSpot

    url = f"sqlite:///{tmp_path / 'crmbot.db'}"
    store: Store = open_store(url)
    rules = one_rule_pack(
        tmp_path / "rules",
        [{"type": "webhook", "url": "https://127.0.0.1/crm-hook", "payload": {"kind": "new"}}],
        webhook_allowed_hosts=["127.0.0.1"],
    )
    hook = {"type": "webhook", **_settings().model_dump(mode="json"), "secret": SECRET}
    with FakeHubSpot(search_lag=0.0) as fake:
        contact = fake.create_contact("claire@client.example", "Claire", "Durand")
        fake.create_ticket("Question", "Bonjour.", contact_id=contact)
        source = {"type": "hubspot", "base_url": fake.url, "token": fake.token}
        source["search_lag_seconds"] = 0
        worker = crm_worker(store, url, rules, source, {"hook": hook})
        worker.sinks["hook"].check_url = _to_receiver(worker.sinks["hook"], receiver)
        worker.run_once()
    [got] = receiver.received
    body = json.loads(got["body"])
    assert body["kind"] == "new" and body["case"] == "CB-1"
    assert [r["action"] for r in outbox_rows(store)] == ["webhook"]
    assert not_done(store) == []
    store.dispose()


def _to_receiver(sink: WebhookSink, receiver: Receiver) -> Any:
    """The rule names https://127.0.0.1/…; the local receiver speaks plain HTTP on its port."""
    original = sink.check_url

    def check(url: str) -> tuple[str, str]:
        _, path = original(url)
        return receiver.url, path

    return check
