"""`crmbot setup zendesk`: a signed webhook and the trigger that calls it on ticket changes.

Zendesk's webhooks API (POST /api/v2/webhooks) creates the webhook; its signing secret
(GET /api/v2/webhooks/{id}/signing_secret) goes in the `webhook_secret` setting; a trigger
(POST /api/v2/triggers) notifies it when a ticket is created or changed. Idempotent: a
webhook already pointing at the URL, and a trigger already notifying it, are left as they
are (a run stopped between the two creates only the trigger next time); the configured
`webhook_secret` is checked against the webhook's signing secret, never printed.
"""

from __future__ import annotations

import hmac
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
        lines = []
        webhook_id, created = _ensure_webhook(api, name, target)
        lines.append(
            f"webhooks: created webhook {webhook_id}"
            if created
            else f"webhooks: webhook {webhook_id} already calls {target}"
        )
        made_trigger = _ensure_trigger(api, name, webhook_id)
        lines.append(
            f"webhooks: created trigger 'crmbot: wake {name}'"
            if made_trigger
            else "webhooks: its trigger is there"
        )
        lines.extend(_check_secret(api, settings, webhook_id))
        log.info("zendesk_webhooks_set_up", webhook=created, trigger=made_trigger)
        return lines
    finally:
        api.close()


def _ensure_webhook(api: ZendeskApi, name: str, target: str) -> tuple[str, bool]:
    """The id of a webhook calling `target` (created if none does), and whether it was made."""
    found = api.http.get("/api/v2/webhooks", params={"filter[name_contains]": "crmbot"})
    hooks = [h for h in (found or {}).get("webhooks", []) if h.get("endpoint") == target]
    if hooks:
        return str(hooks[0]["id"]), False
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
    return str(made["webhook"]["id"]), True


def _ensure_trigger(api: ZendeskApi, name: str, webhook_id: str) -> bool:
    """Create the trigger that notifies the webhook, unless one already does; True if made."""
    found = api.http.get("/api/v2/triggers", params={"active": "true"})
    for trigger in (found or {}).get("triggers", []):
        for action in trigger.get("actions") or []:
            value = action.get("value")
            if (
                action.get("field") == "notification_webhook"
                and isinstance(value, list)
                and value
                and str(value[0]) == webhook_id
            ):
                return False
    api.http.post(
        "/api/v2/triggers", json={"trigger": _trigger(name, webhook_id)}, idempotent=False
    )
    return True


def _check_secret(api: ZendeskApi, settings: ZendeskSettings, webhook_id: str) -> list[str]:
    """Say whether `webhook_secret` is the webhook's signing secret (never print it)."""
    where = f"GET /api/v2/webhooks/{webhook_id}/signing_secret"
    if settings.webhook_secret is None:
        return [f"webhooks: set webhook_secret to its signing secret ({where})"]
    found = api.http.get(f"/api/v2/webhooks/{webhook_id}/signing_secret") or {}
    secret = str((found.get("signing_secret") or {}).get("secret") or "")
    if not hmac.compare_digest(secret, settings.webhook_secret.get_secret_value()):
        return [f"webhooks: webhook_secret is NOT this webhook's signing secret ({where})"]
    return ["webhooks: webhook_secret is its signing secret"]
