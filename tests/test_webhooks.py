"""Signed CRM webhooks (issue 15.2): a verified one wakes its source's poll at once; a forged,
replayed or expired one is refused and wakes nothing; a lost one costs one poll interval.

The fakes call the webhook as their vendor does (tests/fakes/webhooks.py). Waits are bounded
hand-offs between threads, never timing assertions: the poll interval and the dispatcher's are
300 s, so only a wake-up can explain a ticket stored, and written back, within the test.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.app import rules_provider
from bot.pipeline import Pipeline
from bot.registry import build_sink, build_source
from bot.stages import DEFAULT_STAGES
from bot.steering.http import Steering, SteeringServer
from bot.store import Store, open_store
from bot.store.schema import requests
from bot.webhooks import WebhookReceiver
from bot.worker import Worker
from connectors.hubspot.webhook import HubSpotWebhook, decode_uri, signature_v3
from connectors.zendesk.webhook import ZendeskWebhook
from connectors.zendesk.webhook import signature as zendesk_signature
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.zendesk import EMAIL, TOKEN, FakeZendesk
from tests.helpers.runtime import make_settings

SECRET = "app-client-secret-0123"
WAIT = 60.0  # an upper bound for a hand-off between threads, not a measured time


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[Store, str]]:
    url = f"sqlite:///{tmp_path / 'crmbot.db'}"
    store = open_store(url)
    try:
        yield store, url
    finally:
        store.dispose()


class Woken:
    """A stand-in for the supervisor's wake_source: records the sources woken."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, name: str) -> bool:
        self.names.append(name)
        return True


@pytest.fixture
def endpoint(sqlite_store: tuple[Store, str]) -> Iterator[Callable[..., Any]]:
    servers: list[SteeringServer] = []

    def start(receiver: WebhookReceiver) -> SteeringServer:
        store, url = sqlite_store
        steering = Steering(store, None, {}, make_settings(url, {}), webhooks=receiver)
        server = SteeringServer(steering, "127.0.0.1", 0).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _receiver(woken: Woken, **kw: Any) -> WebhookReceiver:
    routes = {
        ("hubspot", "crm"): HubSpotWebhook(SECRET),
        ("zendesk", "desk"): ZendeskWebhook(SECRET),
    }
    return WebhookReceiver(routes, woken, **kw)


def _signed(vendor: str, url: str, body: bytes, *, secret: str = SECRET, age: float = 0.0) -> Any:
    moment = time.time() - age
    if vendor == "hubspot":
        stamp = str(int(moment * 1000))
        return {
            "X-HubSpot-Signature-v3": signature_v3(secret, "POST", url, body, stamp),
            "X-HubSpot-Request-Timestamp": stamp,
        }
    stamp = datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "X-Zendesk-Webhook-Signature": zendesk_signature(secret, stamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
    }


HUBSPOT_BODY = json.dumps(
    [{"eventId": 7, "subscriptionType": "ticket.creation", "objectId": 1001, "occurredAt": 1}]
).encode()
ZENDESK_BODY = b'{"ticket_id": 1001, "event": "ticket.created"}'
VENDORS = [("hubspot", "crm", HUBSPOT_BODY), ("zendesk", "desk", ZENDESK_BODY)]


@pytest.mark.parametrize(("vendor", "source", "body"), VENDORS)
def test_a_signed_webhook_wakes_its_source(
    endpoint: Any, vendor: str, source: str, body: bytes
) -> None:
    woken = Woken()
    url = endpoint(_receiver(woken)).url + f"/webhooks/{vendor}/{source}"
    answer = httpx.post(url, content=body, headers=_signed(vendor, url, body))
    assert (answer.status_code, answer.json()["status"]) == (200, "accepted")
    assert woken.names == [source]


@pytest.mark.parametrize(("vendor", "source", "body"), VENDORS)
def test_a_forged_webhook_is_refused_and_wakes_nothing(
    endpoint: Any, vendor: str, source: str, body: bytes
) -> None:
    woken = Woken()
    url = endpoint(_receiver(woken)).url + f"/webhooks/{vendor}/{source}"
    forged = httpx.post(url, content=body, headers=_signed(vendor, url, body, secret="guess"))
    tampered = httpx.post(url, content=body + b" ", headers=_signed(vendor, url, body))
    unsigned = httpx.post(url, content=body)
    assert [r.status_code for r in (forged, tampered, unsigned)] == [401, 401, 401]
    assert forged.json() == {"error": "signature_mismatch"}
    assert unsigned.json() == {"error": "signature_missing"}
    assert woken.names == []


@pytest.mark.parametrize(("vendor", "source", "body"), VENDORS)
def test_a_replayed_webhook_is_refused_within_the_window(
    endpoint: Any, vendor: str, source: str, body: bytes
) -> None:
    woken = Woken()
    url = endpoint(_receiver(woken)).url + f"/webhooks/{vendor}/{source}"
    headers = _signed(vendor, url, body)
    first = httpx.post(url, content=body, headers=headers)
    again = httpx.post(url, content=body, headers=headers)
    assert (first.status_code, again.status_code) == (200, 409)
    assert again.json() == {"error": "replayed"}
    assert woken.names == [source]


@pytest.mark.parametrize(("vendor", "source", "body"), VENDORS)
def test_an_expired_webhook_is_refused(
    endpoint: Any, vendor: str, source: str, body: bytes
) -> None:
    woken = Woken()
    url = endpoint(_receiver(woken)).url + f"/webhooks/{vendor}/{source}"
    # 6 minutes either side: Zendesk's timestamps are whole seconds, so 301 s ahead could
    # read as 300.x s by the time it is checked and sit inside the 5-minute window.
    old = httpx.post(url, content=body, headers=_signed(vendor, url, body, age=360))
    ahead = httpx.post(url, content=body, headers=_signed(vendor, url, body, age=-360))
    assert (old.status_code, ahead.status_code) == (401, 401)
    assert old.json() == {"error": "timestamp_expired"}
    assert woken.names == []


def test_hubspot_event_ids_seen_again_under_a_new_signature_are_a_replay(endpoint: Any) -> None:
    woken = Woken()
    url = endpoint(_receiver(woken)).url + "/webhooks/hubspot/crm"
    first = httpx.post(url, content=HUBSPOT_BODY, headers=_signed("hubspot", url, HUBSPOT_BODY))
    later = _signed("hubspot", url, HUBSPOT_BODY, age=-2)  # another timestamp, same events
    assert first.status_code == 200
    assert httpx.post(url, content=HUBSPOT_BODY, headers=later).status_code == 409


def test_requests_outside_the_contract_get_their_own_answers(endpoint: Any) -> None:
    woken = Woken()
    base = endpoint(_receiver(woken, max_body=64)).url
    url = base + "/webhooks/hubspot/crm"
    big = b"[" + b" " * 100 + b"]"
    assert httpx.post(url, content=big, headers=_signed("hubspot", url, big)).status_code == 413
    assert httpx.get(url).status_code == 405
    assert httpx.post(base + "/webhooks/hubspot/nope", content=b"[]").status_code == 404
    assert httpx.post(base + "/webhooks/rt/crm", content=b"[]").status_code == 404
    not_json = b"{oops"
    answer = httpx.post(url, content=not_json, headers=_signed("hubspot", url, not_json))
    assert (answer.status_code, answer.json()) == (400, {"error": "body_not_json"})
    assert woken.names == []


def test_the_hubspot_uri_is_signed_with_the_listed_characters_decoded() -> None:
    encoded = "https://crm.example/webhooks/hubspot/crm?state=a%3Ab%2Cc%20d"
    assert decode_uri(encoded) == "https://crm.example/webhooks/hubspot/crm?state=a:b,c%20d"
    body, stamp = b"[]", str(int(time.time() * 1000))
    given = signature_v3(SECRET, "POST", encoded.replace("%3A", ":"), body, stamp)
    checker = HubSpotWebhook(SECRET, public_url="https://crm.example/webhooks/hubspot/crm")
    from connectors.kit.webhooks import WebhookRequest

    headers = {"x-hubspot-signature-v3": given, "x-hubspot-request-timestamp": stamp}
    seen = "http://10.0.0.5:9108/webhooks/hubspot/crm?state=a%3Ab%2Cc%20d"  # behind a proxy
    assert checker.verify(WebhookRequest("POST", seen, headers, body, time.time())).events == 0


# -- through the worker ---------------------------------------------------------------------


def _hubspot_conf(fake: FakeHubSpot, **extra: Any) -> dict[str, Any]:
    return {
        "type": "hubspot",
        "base_url": fake.url,
        "token": fake.token,
        "search_lag_seconds": 0,
        "interval_seconds": 300,
        **extra,
    }


class Running:
    """A worker's supervisor on a thread and its HTTP endpoint (with webhooks), until exit."""

    def __init__(self, worker: Worker, store: Store, url: str, port: int = 0) -> None:
        self.worker = worker
        sources = {n: (c.source, c.settings) for n, c in worker.sources.items()}
        receiver = WebhookReceiver.for_sources(sources, lambda n: worker.wake_source(n))
        steering = Steering(store, None, {}, make_settings(url, {}), webhooks=receiver)
        self.server = SteeringServer(steering, "127.0.0.1", port)
        self.thread = threading.Thread(target=worker.run_forever, daemon=True)

    def __enter__(self) -> Running:
        self.server.start()
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.worker.stop_event.set()
        self.thread.join(timeout=WAIT)
        self.server.stop()
        assert not self.thread.is_alive(), "the worker did not stop"


def _stored(store: Store) -> int:
    with store.connect() as conn:
        return conn.execute(select(func.count()).select_from(requests)).scalar_one()


def _hubspot_worker(fake: FakeHubSpot, store: Store, url: str) -> Worker:
    from connectors.hubspot.client import HubSpotApi
    from connectors.hubspot.setup import ensure_properties
    from tests.fakes.hubspot import settings_for

    ensure_properties(HubSpotApi("crm", settings_for(fake)))
    settings = make_settings(
        url,
        {"crm": _hubspot_conf(fake, write_back="crm_out", webhook_secret=SECRET)},
        sinks={"crm_out": _hubspot_conf(fake)},
        worker={"tick_seconds": 300},  # the dispatcher's and the timers' interval
    )
    return Worker(
        settings,
        store,
        {"crm": build_source("crm", settings.sources["crm"])},
        Pipeline(DEFAULT_STAGES),
        sinks={"crm_out": build_sink("crm_out", settings.sinks["crm_out"])[0]},
        rules=rules_provider(settings),
    )


def test_a_verified_webhook_polls_at_once_and_the_write_back_leaves_at_once(
    sqlite_store: tuple[Store, str],
) -> None:
    store, url = sqlite_store
    with FakeHubSpot(search_lag=0.0) as fake:
        worker = _hubspot_worker(fake, store, url)
        with Running(worker, store, url) as running:
            _wait_for(lambda: worker.sources["crm"].health.polls >= 1, "the first poll")
            sender = fake.send_webhooks(running.server.url + "/webhooks/hubspot/crm", SECRET)
            sender.duplicate_next = 1  # HubSpot's request sent twice: the copy is a replay
            ticket = fake.create_ticket(
                "Coupure de courant",
                "Plus d'électricité depuis ce matin, la production est à l'arrêt.",
            )
            _wait_for(lambda: _stored(store) == 1, "the ticket to be stored")
            _wait_for(lambda: bool(fake.ticket(ticket).get("crmbot_priority")), "the write-back")
            assert sender.wait_idle() and sender.statuses[:2] == [200, 409]
        sender.close()


def test_a_lost_webhook_is_recovered_by_the_next_poll(sqlite_store: tuple[Store, str]) -> None:
    store, url = sqlite_store
    with FakeHubSpot(search_lag=0.0) as fake:
        worker = _hubspot_worker(fake, store, url)
        with Running(worker, store, url) as running:
            _wait_for(lambda: worker.sources["crm"].health.polls >= 1, "the first poll")
            sender = fake.send_webhooks(running.server.url + "/webhooks/hubspot/crm", SECRET)
            sender.lose_next = 1
            fake.create_ticket("Facture en double", "J'ai été prélevé deux fois ce mois-ci.")
            assert sender.wait_idle() and sender.lost == 1 and sender.statuses == []
            polls = worker.sources["crm"].health.polls
            assert _stored(store) == 0 and polls == 1  # nothing woke the source
            worker.wake_source("crm")  # what the scheduler does when the interval is up
            _wait_for(lambda: _stored(store) == 1, "the next poll to store the ticket")
        sender.close()


def test_a_forged_webhook_neither_wakes_nor_injects(sqlite_store: tuple[Store, str]) -> None:
    store, url = sqlite_store
    with FakeHubSpot(search_lag=0.0) as fake:
        worker = _hubspot_worker(fake, store, url)
        with Running(worker, store, url) as running:
            _wait_for(lambda: worker.sources["crm"].health.polls >= 1, "the first poll")
            sender = fake.send_webhooks(running.server.url + "/webhooks/hubspot/crm", "forged")
            fake.create_ticket("Demande", "Bonjour")
            assert sender.wait_idle() and sender.statuses == [401]
            assert _stored(store) == 0 and worker.sources["crm"].health.polls == 1
        sender.close()


def test_a_verified_zendesk_webhook_polls_the_source_at_once(
    sqlite_store: tuple[Store, str],
) -> None:
    store, url = sqlite_store
    with FakeZendesk(hold_back_seconds=0) as fake:
        conf = {
            "type": "zendesk",
            "base_url": fake.url,
            "email": EMAIL,
            "api_token": TOKEN,
            "interval_seconds": 300,
            "webhook_secret": SECRET,
        }
        settings = make_settings(url, {"desk": conf}, worker={"tick_seconds": 300})
        worker = Worker(
            settings,
            store,
            {"desk": build_source("desk", conf)},
            Pipeline(DEFAULT_STAGES),
            rules=rules_provider(settings),
        )
        with Running(worker, store, url) as running:
            _wait_for(lambda: worker.sources["desk"].health.polls >= 1, "the first poll")
            sender = fake.send_webhooks(running.server.url + "/webhooks/zendesk/desk", SECRET)
            user = fake.add_user("Carla Client", "carla@example.com")
            fake.add_ticket(
                "Compteur bloqué", "Le compteur ne tourne plus.", requester_id=user["id"]
            )
            _wait_for(lambda: _stored(store) == 1, "the ticket to be stored")
            assert sender.wait_idle() and sender.statuses == [200]
        sender.close()


def test_webhook_refusals_are_logged_with_their_reason_and_no_secret(endpoint: Any) -> None:
    from structlog.testing import capture_logs

    woken = Woken()
    url = endpoint(_receiver(woken)).url + "/webhooks/zendesk/desk"
    with capture_logs() as logs:
        httpx.post(
            url, content=ZENDESK_BODY, headers=_signed("zendesk", url, ZENDESK_BODY, age=400)
        )
    refused = [e for e in logs if e["event"] == "webhook_refused"]
    assert refused and refused[0]["reason"] == "timestamp_expired"
    assert SECRET not in repr(logs)


# -- write-back at once, and the latency it shows on /metrics --------------------------------


def _sample(metrics: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def test_a_mail_is_written_to_the_crm_at_once_and_its_latency_is_on_metrics(
    sqlite_store: tuple[Store, str], tmp_path: Path
) -> None:
    from tests.helpers.mail import deliver, make_maildir, make_message
    from tests.helpers.runtime import maildir_source

    store, url = sqlite_store
    inbox = make_maildir(tmp_path / "inbox")
    with FakeHubSpot(search_lag=0.0) as fake:
        from connectors.hubspot.client import HubSpotApi
        from connectors.hubspot.setup import ensure_properties
        from tests.fakes.hubspot import settings_for

        ensure_properties(HubSpotApi("crm", settings_for(fake)))
        settings = make_settings(
            url,
            {"inbox": maildir_source(inbox, interval_seconds=300, write_back="crm_out")},
            sinks={"crm_out": _hubspot_conf(fake)},
            worker={"tick_seconds": 300},  # the dispatcher runs at start, then on wake-ups
        )
        worker = Worker(
            settings,
            store,
            {"inbox": build_source("inbox", settings.sources["inbox"])},
            Pipeline(DEFAULT_STAGES),
            sinks={"crm_out": build_sink("crm_out", settings.sinks["crm_out"])[0]},
            rules=rules_provider(settings),
        )
        running = Running(worker, store, url)
        with running:
            metrics_url = running.server.url + "/metrics"
            before = httpx.get(metrics_url).text
            _wait_for(lambda: worker.dispatcher is not None and _polls(worker, "inbox"), "start")
            deliver(inbox, make_message(subject="Compteur bloqué depuis hier"))
            worker.wake_source("inbox")  # as IMAP IDLE or a webhook would
            _wait_for(lambda: bool(fake.objects["tickets"]), "a ticket opened for the mail")
            _wait_for(
                lambda: any(
                    t.properties.get("crmbot_priority") for t in fake.objects["tickets"].values()
                ),
                "the enrichment written to the CRM",
            )
            after = httpx.get(metrics_url).text
    stored = "crmbot_arrival_to_stored_seconds_count"
    written = "crmbot_arrival_to_crm_written_seconds_count"
    assert _sample(after, stored, source="inbox") == _sample(before, stored, source="inbox") + 1
    assert _sample(after, written, sink="crm_out") > _sample(before, written, sink="crm_out")


def _polls(worker: Worker, name: str) -> bool:
    return worker.sources[name].health.polls >= 1


class CountingHubSpot(FakeHubSpot):
    """Counts the searches per object type (HubSpot allows only a few a second)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.searches: dict[str, int] = {}

    def handle(self, method: str, path: str, *args: Any) -> Any:
        """Count, then answer."""
        if method == "POST" and path.endswith("/search"):
            kind = path.split("/")[-2]
            self.searches[kind] = self.searches.get(kind, 0) + 1
        return super().handle(method, path, *args)


def test_mail_cases_get_their_tickets_with_few_searches_and_no_contact_search(
    sqlite_store: tuple[Store, str], tmp_path: Path
) -> None:
    from tests.helpers.mail import deliver, make_maildir, make_message
    from tests.helpers.runtime import maildir_source

    store, url = sqlite_store
    inbox = make_maildir(tmp_path / "inbox")
    for n in range(10):
        sender = f"Client {n} <client{n}@example.fr>"
        deliver(inbox, make_message(subject=f"Compteur bloqué n°{n}", sender=sender))
    with CountingHubSpot(search_lag=0.0) as fake:
        from connectors.hubspot.client import HubSpotApi
        from connectors.hubspot.setup import ensure_properties
        from tests.fakes.hubspot import settings_for

        ensure_properties(HubSpotApi("crm", settings_for(fake)))
        known = fake.create_contact("client3@example.fr")
        settings = make_settings(
            url,
            {"inbox": maildir_source(inbox, write_back="crm_out")},
            sinks={"crm_out": _hubspot_conf(fake)},
            dispatch={"batch_size": 50},
        )
        worker = Worker(
            settings,
            store,
            {"inbox": build_source("inbox", settings.sources["inbox"])},
            Pipeline(DEFAULT_STAGES),
            sinks={"crm_out": build_sink("crm_out", settings.sinks["crm_out"])[0]},
            rules=rules_provider(settings),
        )
        worker.run_once()
        tickets = list(fake.objects["tickets"].values())
        assert len(tickets) == 10 and all(t.properties.get("crmbot_priority") for t in tickets)
        assert fake.searches.get("contacts", 0) == 0
        assert fake.searches.get("tickets", 0) <= 2  # ten references, five a search
        linked = fake.assoc.get(("contacts", known, "tickets"), {})
        assert len(linked) == 1  # the known requester's contact was found, not created again
        assert len(fake.objects["contacts"]) == 10


# -- crmbot setup <connector> ------------------------------------------------------------------


def test_setup_asks_the_connector_and_prints_the_webhook_subscriptions_to_create(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    with FakeHubSpot(search_lag=0.0) as fake:
        hook = "https://crmbot.example.com/webhooks/hubspot/crm"
        path = tmp_path / "settings.yaml"
        path.write_text(
            f"store:\n  url: sqlite:///{tmp_path / 'db.sqlite'}\n"
            f"sources:\n  crm:\n    type: hubspot\n    base_url: {fake.url}\n"
            f"    token: {fake.token}\n    webhook_secret: {SECRET}\n    webhook_url: {hook}\n"
            "  desk:\n    type: zendesk\n    subdomain: acme\n    email: a@acme.example\n"
            f"    api_token: zd-token\n    webhook_secret: {SECRET}\n",
            encoding="utf-8",
        )
        hubspot = CliRunner().invoke(app, ["setup", "hubspot", "--settings", str(path)])
        zendesk = CliRunner().invoke(
            app, ["setup", "zendesk", "desk", "--print-only", "--settings", str(path)]
        )
        rt = CliRunner().invoke(app, ["setup", "rt", "--settings", str(path)])
    assert hubspot.exit_code == 0, hubspot.output
    assert f"sources.crm: webhooks: in the app's Webhooks settings, target URL {hook}" in (
        hubspot.output
    )
    assert "ticket.creation" in hubspot.output and "properties: " in hubspot.output
    assert zendesk.exit_code == 0, zendesk.output
    assert "/webhooks/zendesk/desk" in zendesk.output and "trigger" in zendesk.output
    assert rt.exit_code == 1 and "needs no set-up" in rt.output
    assert SECRET not in hubspot.output + zendesk.output
