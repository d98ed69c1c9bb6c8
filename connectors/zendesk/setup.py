"""`crmbot setup zendesk`: a signed webhook and the trigger that calls it on ticket changes.

Zendesk's webhooks API (POST /api/v2/webhooks) creates the webhook; its signing secret
(GET /api/v2/webhooks/{id}/signing_secret) goes in the `webhook_secret` setting; a trigger
(POST /api/v2/triggers) notifies it when a ticket is created or changed. Idempotent: a
webhook already pointing at the URL, and its trigger, are left as they are.
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from connectors.zendesk.client import ZendeskApi
from connectors.zendesk.settings import ZendeskSettings

log = structlog.get_logger(__name__)


def _trigger(name: str, webhook_id: str) -> dict[str, Any]:
    body = json.dumps({"ticket_id": "{{ticket.id}}", "source": name})
    return {
        "title": f"crmbot: wake {name}",
        "conditions": {
            "any": [
                {"field": "update_type", "operator": "is", "value": "Create"},
                {"field": "update_type", "operator": "is", "value": "Change"},
            ]
        },
        "actions": [{"field": "notification_webhook", "value": [webhook_id, body]}],
    }


def setup(name: str, settings: ZendeskSettings, create: bool) -> list[str]:
    """Create (or, with create=False, describe) the webhook and trigger for one source."""
    if not (settings.webhook_url or settings.webhook_secret):
        return ["webhooks: none (set webhook_url and webhook_secret on a source to use them)"]
    target = settings.webhook_url or f"https://<crmbot host>/webhooks/zendesk/{name}"
    if not create or settings.webhook_url is None:
        return [
            f"webhooks: create a webhook (POST, JSON, signed) to {target}",
            f"webhooks: and a trigger 'crmbot: wake {name}' on ticket create/change "
            "that notifies it",
            "webhooks: set webhook_secret to the webhook's signing secret",
        ]
    api = ZendeskApi(name, settings)
    try:
        found = api.http.get("/api/v2/webhooks", params={"filter[name_contains]": "crmbot"})
        hooks = [h for h in (found or {}).get("webhooks", []) if h.get("endpoint") == target]
        lines = []
        if hooks:
            webhook_id = str(hooks[0]["id"])
            lines.append(f"webhooks: webhook {webhook_id} already calls {target}")
        else:
            made = api.http.post(
                "/api/v2/webhooks",
                json={
                    "webhook": {
                        "name": f"crmbot {name}",
                        "endpoint": target,
                        "http_method": "POST",
                        "request_format": "json",
                        "status": "active",
                        "subscriptions": ["conditional_ticket_events"],
                    }
                },
                idempotent=False,
            )
            webhook_id = str(made["webhook"]["id"])
            api.http.post("/api/v2/triggers", json={"trigger": _trigger(name, webhook_id)})
            lines.append(f"webhooks: created webhook {webhook_id} and its trigger")
        if settings.webhook_secret is None:
            lines.append(
                "webhooks: set webhook_secret to its signing secret "
                f"(GET /api/v2/webhooks/{webhook_id}/signing_secret)"
            )
        log.info("zendesk_webhooks_set_up", created=not hooks)
        return lines
    finally:
        api.close()
