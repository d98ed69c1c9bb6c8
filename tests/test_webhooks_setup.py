"""`crmbot setup hubspot|zendesk` creates the vendor's webhook configuration for real, against
the fakes' webhooks APIs (tests/fakes/hubspot_webhooks.py, zendesk_webhooks.py): a second run
creates nothing, the fakes refuse what the vendors refuse, and a ticket created in the fake
then calls the subscribed webhook, which wakes the source (its poll interval is 300 s, so only
the webhook explains the ticket stored within the test).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from bot.app import rules_provider
from bot.cli import app
from bot.pipeline import Pipeline
from bot.registry import build_source
from bot.stages import DEFAULT_STAGES
from bot.store import Store, open_store
from bot.worker import Worker
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.zendesk import EMAIL, TOKEN, FakeZendesk
from tests.helpers.runtime import make_settings
from tests.servers.dovecot import free_port
from tests.test_webhooks import SECRET, Running, _hubspot_worker, _stored, _wait_for

APP_ID = 54321
DEVELOPER_KEY = "fake-developer-api-key"


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[Store, str]]:
    url = f"sqlite:///{tmp_path / 'crmbot.db'}"
    store = open_store(url)
    try:
        yield store, url
    finally:
        store.dispose()


def _setup(tmp_path: Path, connector: str, source: str, conf: str) -> Any:
    path = tmp_path / f"{connector}.yaml"
    path.write_text(
        f"store:\n  url: sqlite:///{tmp_path / 'setup.sqlite'}\nsources:\n  {source}:\n{conf}",
        encoding="utf-8",
    )
    return CliRunner().invoke(app, ["setup", connector, source, "--settings", str(path)])


def _hubspot_yaml(fake: FakeHubSpot, hook: str, key: str = DEVELOPER_KEY) -> str:
    return (
        f"    type: hubspot\n    base_url: {fake.url}\n    token: {fake.token}\n"
        f"    webhook_secret: {SECRET}\n    webhook_url: {hook}\n"
        f"    webhook_app_id: {APP_ID}\n    developer_api_key: {key}\n"
    )


def test_setup_hubspot_subscribes_the_app_once_and_a_new_ticket_then_wakes_the_source(
    sqlite_store: tuple[Store, str], tmp_path: Path
) -> None:
    store, url = sqlite_store
    with FakeHubSpot(search_lag=0.0) as fake:
        fake.app_client_secret = SECRET  # the app's client secret signs its webhooks
        worker = _hubspot_worker(fake, store, url)
        with Running(worker, store, url) as running:
            hook = running.server.url + "/webhooks/hubspot/crm"
            first = _setup(tmp_path, "hubspot", "crm", _hubspot_yaml(fake, hook))
            second = _setup(tmp_path, "hubspot", "crm", _hubspot_yaml(fake, hook))
            assert first.exit_code == 0, first.output
            assert f"target URL {hook} (set)" in first.output
            assert "created ticket.creation, ticket.propertyChange (subject)" in first.output
            assert fake.webhook_app.settings is not None
            assert fake.webhook_app.settings["targetUrl"] == hook
            wanted = {
                ("ticket.creation", None),
                ("ticket.propertyChange", "subject"),
                ("ticket.propertyChange", "content"),
                ("ticket.propertyChange", "hs_pipeline_stage"),
            }
            made = {
                (s["eventType"], s.get("propertyName"))
                for s in fake.webhook_app.subscriptions.values()
            }
            assert made == wanted
            assert second.exit_code == 0, second.output
            assert "(already set)" in second.output and "created nothing" in second.output
            assert len(fake.webhook_app.subscriptions) == 4
            assert fake.calls("PUT /webhooks/v3") == 1 and fake.calls("POST /webhooks/v3") == 4
            assert SECRET not in first.output + second.output
            assert DEVELOPER_KEY not in first.output + second.output

            _wait_for(lambda: worker.sources["crm"].health.polls >= 1, "the first poll")
            fake.create_ticket("Coupure de courant", "Plus d'électricité depuis ce matin.")
            _wait_for(lambda: _stored(store) == 1, "the ticket stored, woken by the webhook")
            assert fake.webhooks is not None and 200 in fake.webhooks.statuses


def test_setup_hubspot_with_a_wrong_developer_key_says_which_setting(tmp_path: Path) -> None:
    with FakeHubSpot(search_lag=0.0) as fake:
        hook = "https://crmbot.example.com/webhooks/hubspot/crm"
        refused = _setup(tmp_path, "hubspot", "crm", _hubspot_yaml(fake, hook, key="wrong"))
    assert refused.exit_code == 1
    assert "developer_api_key" in refused.output and "wrong" not in refused.output
    assert fake.webhook_app.settings is None and not fake.webhook_app.subscriptions


def test_the_hubspot_fake_refuses_what_the_webhooks_api_refuses() -> None:
    with FakeHubSpot() as fake:
        base = f"{fake.url}/webhooks/v3/{APP_ID}"
        key = {"hapikey": DEVELOPER_KEY}
        with httpx.Client() as http:
            assert http.get(f"{base}/settings", params=key).status_code == 404  # none yet
            assert http.get(f"{base}/subscriptions", params={"hapikey": "x"}).status_code == 401
            assert (
                http.get(f"{fake.url}/webhooks/v3/1/subscriptions", params=key).status_code == 404
            )
            plain = {
                "targetUrl": "http://crm.example/hook",
                "throttling": {"maxConcurrentRequests": 10},
            }
            assert http.put(f"{base}/settings", params=key, json=plain).status_code == 400
            few = {"targetUrl": "https://crm.example/h", "throttling": {"maxConcurrentRequests": 1}}
            assert http.put(f"{base}/settings", params=key, json=few).status_code == 400
            ok = {"targetUrl": "https://crm.example/h", "throttling": {"maxConcurrentRequests": 10}}
            assert http.put(f"{base}/settings", params=key, json=ok).status_code == 200
            change = {"eventType": "ticket.propertyChange"}  # which property?
            assert http.post(f"{base}/subscriptions", params=key, json=change).status_code == 400
            ghost = {"eventType": "ticket.propertyChange", "propertyName": "no_such_property"}
            assert http.post(f"{base}/subscriptions", params=key, json=ghost).status_code == 400
            assert (
                http.post(
                    f"{base}/subscriptions", params=key, json={"eventType": "ticket.nonsense"}
                ).status_code
                == 400
            )
            create = {"eventType": "ticket.creation", "active": True}
            made = http.post(f"{base}/subscriptions", params=key, json=create)
            again = http.post(f"{base}/subscriptions", params=key, json=create)
        assert made.status_code == 201 and made.json()["eventType"] == "ticket.creation"
        assert again.status_code == 409 and again.json()["category"] == "CONFLICT"


def _zendesk_yaml(fake: FakeZendesk, hook: str, secret: str | None = None) -> str:
    return (
        f"    type: zendesk\n    base_url: {fake.url}\n    email: {EMAIL}\n"
        f"    api_token: {TOKEN}\n    webhook_url: {hook}\n"
        + (f"    webhook_secret: {secret}\n" if secret else "")
    )


def test_setup_zendesk_creates_the_webhook_and_trigger_once_and_a_new_ticket_then_wakes_it(
    sqlite_store: tuple[Store, str], tmp_path: Path
) -> None:
    store, url = sqlite_store
    port = free_port()
    hook = f"http://127.0.0.1:{port}/webhooks/zendesk/desk"
    with FakeZendesk(hold_back_seconds=0) as fake:
        first = _setup(tmp_path, "zendesk", "desk", _zendesk_yaml(fake, hook))
        assert first.exit_code == 0, first.output
        assert "created webhook" in first.output and "created trigger" in first.output
        assert "set webhook_secret to its signing secret" in first.output
        (webhook_id,) = fake.hooks.webhooks
        secret = fake.hooks.secrets[webhook_id]  # what the admin copies into webhook_secret
        second = _setup(tmp_path, "zendesk", "desk", _zendesk_yaml(fake, hook, secret))
        wrong = _setup(tmp_path, "zendesk", "desk", _zendesk_yaml(fake, hook, "not-it"))
        assert second.exit_code == 0, second.output
        assert f"webhook {webhook_id} already calls {hook}" in second.output
        assert "its trigger is there" in second.output
        assert "webhook_secret is its signing secret" in second.output
        assert "is NOT this webhook's signing secret" in wrong.output
        assert len(fake.hooks.webhooks) == 1 and len(fake.hooks.triggers) == 1
        assert secret not in first.output + second.output + wrong.output

        conf = {
            "type": "zendesk",
            "base_url": fake.url,
            "email": EMAIL,
            "api_token": TOKEN,
            "interval_seconds": 300,
            "webhook_secret": secret,
        }
        settings = make_settings(url, {"desk": conf}, worker={"tick_seconds": 300})
        worker = Worker(
            settings,
            store,
            {"desk": build_source("desk", conf)},
            Pipeline(DEFAULT_STAGES),
            rules=rules_provider(settings),
        )
        with Running(worker, store, url, port=port):
            _wait_for(lambda: worker.sources["desk"].health.polls >= 1, "the first poll")
            user = fake.add_user("Carla Client", "carla@example.com")
            fake.add_ticket(
                "Compteur bloqué", "Le compteur ne tourne plus.", requester_id=user["id"]
            )
            _wait_for(lambda: _stored(store) == 1, "the ticket stored, woken by the webhook")


def test_the_zendesk_fake_refuses_what_the_webhooks_and_triggers_apis_refuse() -> None:
    with FakeZendesk() as fake, httpx.Client(auth=(f"{EMAIL}/token", TOKEN)) as http:
        base = f"{fake.url}/api/v2"
        hook = {
            "name": "crmbot desk",
            "endpoint": "https://crm.example/webhooks/zendesk/desk",
            "http_method": "POST",
            "request_format": "json",
            "status": "active",
            "subscriptions": ["conditional_ticket_events"],
        }
        bad = http.post(f"{base}/webhooks", json={"webhook": {**hook, "endpoint": "nowhere"}})
        assert bad.status_code == 400
        assert bad.json()["errors"][0]["source"]["pointer"] == "/webhook/endpoint"
        assert (
            http.post(
                f"{base}/webhooks", json={"webhook": {**hook, "http_method": "TRACE"}}
            ).status_code
            == 400
        )
        assert httpx.post(f"{base}/webhooks", json={"webhook": hook}).status_code == 401
        made = http.post(f"{base}/webhooks", json={"webhook": hook})
        assert made.status_code == 201
        hook_id = made.json()["webhook"]["id"]
        assert http.get(f"{base}/webhooks/nope/signing_secret").status_code == 404
        secret = http.get(f"{base}/webhooks/{hook_id}/signing_secret").json()["signing_secret"]
        assert secret["algorithm"] == "SHA256" and secret["secret"]
        condition = {"field": "update_type", "operator": "is", "value": "Create"}
        notify = {"field": "notification_webhook", "value": [hook_id, "{}"]}
        for trigger in (
            {"conditions": {"any": [condition]}, "actions": [notify]},  # no title
            {"title": "t", "conditions": {}, "actions": [notify]},
            {"title": "t", "conditions": {"any": [condition]}, "actions": []},
            {
                "title": "t",
                "conditions": {"any": [condition]},
                "actions": [{"field": "notification_webhook", "value": ["missing", "{}"]}],
            },
        ):
            refused = http.post(f"{base}/triggers", json={"trigger": trigger})
            assert refused.status_code == 422 and refused.json()["error"] == "RecordInvalid"
        trigger = {"title": "t", "conditions": {"any": [condition]}, "actions": [notify]}
        assert http.post(f"{base}/triggers", json={"trigger": trigger}).status_code == 201
