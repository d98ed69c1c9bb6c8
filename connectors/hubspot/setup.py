"""`crmbot setup hubspot`: create the property group and the properties crmbot writes.

Idempotent: a group or property that already exists (HTTP 409) is left as it is.
"""

from __future__ import annotations

from typing import Any

import structlog

from bot.errors import AuthError, ConfigError
from connectors.hubspot.client import HubSpotApi
from connectors.kit import HttpRejected

log = structlog.get_logger(__name__)

GROUP = {"name": "crmbot", "label": "crmbot", "displayOrder": -1}
WEBHOOK_CONCURRENCY = 10  # HubSpot's requests to crmbot at once (HubSpot: at least 5)


def _text(name: str, label: str, field_type: str = "text") -> dict[str, Any]:
    return {"name": name, "label": label, "type": "string", "fieldType": field_type}


def _number(name: str, label: str) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "number", "fieldType": "number"}


def _datetime(name: str, label: str) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "datetime", "fieldType": "date"}


TICKET_PROPERTIES: list[dict[str, Any]] = [
    _text("crmbot_category", "crmbot category"),
    _text("crmbot_priority", "crmbot priority"),
    _text("crmbot_sla_policy", "crmbot SLA policy"),
    _datetime("crmbot_first_response_due", "crmbot first response due"),
    _datetime("crmbot_resolution_due", "crmbot resolution due"),
    _number("crmbot_impact_score", "crmbot impact score"),
    _text("crmbot_impact_reasons", "crmbot impact reasons", "textarea"),
    _text("crmbot_duplicate_of", "crmbot duplicate of"),
    _number("crmbot_followup_count", "crmbot follow-up count"),
    _text("crmbot_case_reference", "crmbot case reference"),
    _text("crmbot_tags", "crmbot tags", "textarea"),  # ";"-separated: see rule_actions.py
    _text("crmbot_status", "crmbot status"),
    _text("crmbot_queue", "crmbot queue"),
]
NOTE_PROPERTIES: list[dict[str, Any]] = [
    _text("crmbot_key", "crmbot idempotency key"),
]
CONTACT_PROPERTIES: list[dict[str, Any]] = [
    _text("crmbot_billing_contact", "crmbot billing contact"),  # update_contact
]
OWNED_TICKET_PROPERTIES = [p["name"] for p in TICKET_PROPERTIES]


def _create(api: HubSpotApi, path: str, body: dict[str, Any]) -> bool:
    """POST `body`; True if created, False if it already existed."""
    try:
        api.post(path, body)
    except HttpRejected as exc:
        if exc.status_code == 409:
            return False
        raise
    return True


def ensure_properties(client: HubSpotApi) -> list[str]:
    """Create the `crmbot` groups and properties on tickets and notes; return what was created.

    Names come back as "<object>.<name>" (the group as "<object>.group:crmbot"); an empty list
    means everything was already there.
    """
    created: list[str] = []
    for object_type, properties in (
        ("tickets", TICKET_PROPERTIES),
        ("notes", NOTE_PROPERTIES),
        ("contacts", CONTACT_PROPERTIES),
    ):
        if _create(client, f"/crm/v3/properties/{object_type}/groups", GROUP):
            created.append(f"{object_type}.group:{GROUP['name']}")
        for spec in properties:
            body = {**spec, "groupName": GROUP["name"], "formField": False}
            if _create(client, f"/crm/v3/properties/{object_type}", body):
                created.append(f"{object_type}.{spec['name']}")
    log.info("hubspot_setup_done", created=len(created))
    return created


def _subscription_label(event: str, prop: str | None) -> str:
    return f"{event} ({prop})" if prop else event


def ensure_webhooks(client: HubSpotApi, settings: Any, name: str, create: bool) -> list[str]:
    """Subscribe the app to what the source polls (webhooks API v3), or say what to create.

    Private apps configure webhooks in their settings page only: then the lines printed list
    the target URL and the subscriptions. A public app (`webhook_app_id` and its
    `developer_api_key`) gets them created here: the target URL set if it differs, the
    missing subscriptions created, inactive ones turned on; a second run changes nothing.
    """
    from connectors.hubspot.webhook import SUBSCRIPTIONS

    if not (settings.webhook_url or settings.webhook_secret or settings.webhook_app_id):
        return ["webhooks: none (set webhook_url and webhook_secret on a source to use them)"]
    wanted = SUBSCRIPTIONS[settings.poll]
    target = settings.webhook_url or f"https://<crmbot host>/webhooks/hubspot/{name}"
    labels = ", ".join(_subscription_label(e, p) for e, p in wanted)
    if not (create and settings.webhook_app_id and settings.developer_api_key):
        return [
            f"webhooks: in the app's Webhooks settings, target URL {target}",
            f"webhooks: subscribe to {labels}",
            "webhooks: set webhook_secret to the app's client secret",
        ]
    if settings.webhook_url is None:
        return [f"webhooks: set webhook_url ({target}) to create the subscriptions"]
    app = f"/webhooks/v3/{settings.webhook_app_id}"
    key = {"hapikey": settings.developer_api_key.get_secret_value()}
    try:
        lines = [_ensure_target(client, app, key, target)]
        created = _ensure_subscriptions(client, app, key, wanted)
    except AuthError as exc:
        raise ConfigError(
            f"{name}: HubSpot refused developer_api_key for app {settings.webhook_app_id} "
            "(the key of the developer account that owns the app)"
        ) from exc
    log.info("hubspot_webhooks_set_up", created=len(created))
    return [
        *lines,
        "webhooks: created " + (", ".join(created) if created else "nothing (all there)"),
    ]


def _ensure_target(client: HubSpotApi, app: str, key: dict[str, str], target: str) -> str:
    """The app's target URL: set when missing or different, left alone when it is `target`."""
    try:
        current = client.http.get(f"{app}/settings", params=key) or {}
    except HttpRejected as exc:
        if exc.status_code != 404:  # 404: the app has no webhook settings yet
            raise
        current = {}
    if current.get("targetUrl") == target:
        return f"webhooks: target URL {target} (already set)"
    body = {"targetUrl": target, "throttling": {"maxConcurrentRequests": WEBHOOK_CONCURRENCY}}
    client.http.put(f"{app}/settings", params=key, json=body)
    return f"webhooks: target URL {target} (set)"


def _ensure_subscriptions(
    client: HubSpotApi, app: str, key: dict[str, str], wanted: list[tuple[str, str | None]]
) -> list[str]:
    """Create the subscriptions the app lacks, turn inactive ones on; the labels created."""
    existing = client.http.get(f"{app}/subscriptions", params=key) or {}
    have = {(s.get("eventType"), s.get("propertyName")): s for s in existing.get("results", [])}
    created = []
    for event, prop in wanted:
        found = have.get((event, prop))
        if found is not None:
            if not found.get("active", True):
                client.http.patch(
                    f"{app}/subscriptions/{found['id']}", params=key, json={"active": True}
                )
                created.append(_subscription_label(event, prop) + " (turned on)")
            continue
        body: dict[str, Any] = {"eventType": event, "active": True}
        if prop:
            body["propertyName"] = prop
        try:
            client.http.post(f"{app}/subscriptions", params=key, json=body, idempotent=False)
        except HttpRejected as exc:
            if exc.status_code != 409:  # 409: created meanwhile (another run): it is there
                raise
            continue
        created.append(_subscription_label(event, prop))
    return created


def setup(name: str, settings: Any, create: bool) -> list[str]:
    """`crmbot setup hubspot`: the crmbot properties, then the webhook subscriptions."""
    client = HubSpotApi(name, settings)
    try:
        created = ensure_properties(client)
        lines = ["properties: " + (", ".join(created) or "already set up")]
        return lines + ensure_webhooks(client, settings, name, create)
    finally:
        client.http.close()
