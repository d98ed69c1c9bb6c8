"""HubSpot's webhooks API v3 for one public app, stateful, as the HubSpot fake serves it.

Follows HubSpot's published reference (legacy public apps, authenticated by the developer
account's key in `hapikey`):

- `GET /webhooks/v3/{appId}/settings`: the target URL and throttling, 404 until set;
- `PUT /webhooks/v3/{appId}/settings`: `targetUrl` (HTTPS; the fake also takes plain HTTP to a
  loopback address, where the tests' receiver listens) and `throttling.maxConcurrentRequests`
  (at least 5), else 400 VALIDATION_ERROR;
- `GET /webhooks/v3/{appId}/subscriptions`: `{"results": [...]}`;
- `POST /webhooks/v3/{appId}/subscriptions`: `eventType` (a known object event),
  `propertyName` (required for, and only for, a propertyChange, naming an existing property),
  `active`; 201 with the subscription, 400 VALIDATION_ERROR, 409 CONFLICT for a subscription
  the app already has;
- `PATCH /webhooks/v3/{appId}/subscriptions/{id}`: `active`;
- a wrong or missing `hapikey` is 401 INVALID_AUTHENTICATION, another app's id 404.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

OBJECT_EVENTS = {
    "contact": "contacts",
    "company": "companies",
    "deal": "deals",
    "ticket": "tickets",
}
EVENT_KINDS = ("creation", "deletion", "propertyChange", "merge", "restore", "associationChange")
MIN_CONCURRENT = 5


class WebhookApiError(Exception):
    """An error answer of the webhooks API (the fake turns it into HubSpot's error body)."""

    def __init__(self, status: int, message: str, category: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.category = category


def _invalid(message: str) -> WebhookApiError:
    return WebhookApiError(400, message, "VALIDATION_ERROR")


@dataclass
class WebhookApp:
    """One app's webhook settings and subscriptions."""

    app_id: int = 54321
    developer_key: str = "fake-developer-api-key"
    settings: dict[str, Any] | None = None
    subscriptions: dict[int, dict[str, Any]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def wants(self, subscription_type: str, property_name: str | None) -> bool:
        """True if an active subscription asks for this event (and property)."""
        return any(
            s["active"]
            and s["eventType"] == subscription_type
            and s.get("propertyName") == property_name
            for s in self.subscriptions.values()
        )

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: Any,
        now: str,
        properties: dict[str, dict[str, Any]],
    ) -> tuple[int, Any]:
        """Answer one request under /webhooks/v3/ (`properties`: the fake's, per object type)."""
        if query.get("hapikey", [""])[0] != self.developer_key:
            raise WebhookApiError(
                401,
                "The API key provided is invalid. View or manage your API key here: "
                "https://app.hubspot.com/l/api-key/",
                "INVALID_AUTHENTICATION",
            )
        parts = path.strip("/").split("/")  # webhooks v3 {appId} settings|subscriptions [id]
        if len(parts) < 4 or parts[2] != str(self.app_id):
            raise WebhookApiError(
                404, f"App {parts[2] if len(parts) > 2 else ''} not found", "OBJECT_NOT_FOUND"
            )
        match method, parts[3:]:
            case "GET", ["settings"]:
                if self.settings is None:
                    raise WebhookApiError(
                        404, "No webhook settings for this app", "OBJECT_NOT_FOUND"
                    )
                return 200, self.settings
            case "PUT", ["settings"]:
                return 200, self._put_settings(body, now)
            case "GET", ["subscriptions"]:
                return 200, {"results": list(self.subscriptions.values())}
            case "POST", ["subscriptions"]:
                return 201, self._subscribe(body, now, properties)
            case "PATCH", ["subscriptions", raw_id]:
                return 200, self._patch(raw_id, body, now)
        raise WebhookApiError(404, f"No route for {method} {path}", "OBJECT_NOT_FOUND")

    def _put_settings(self, body: Any, now: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _invalid("Invalid input JSON")
        target = body.get("targetUrl")
        if not isinstance(target, str) or not target:
            raise _invalid("targetUrl is required")
        url = urlsplit(target)
        loopback = url.scheme == "http" and url.hostname in ("127.0.0.1", "localhost")
        if not (url.scheme == "https" and url.hostname) and not loopback:
            raise _invalid(f"targetUrl must be a valid HTTPS URL: {target}")
        throttling = body.get("throttling")
        if not isinstance(throttling, dict):
            raise _invalid("throttling is required")
        concurrent = throttling.get("maxConcurrentRequests")
        if not isinstance(concurrent, int) or concurrent < MIN_CONCURRENT:
            raise _invalid(f"maxConcurrentRequests must be at least {MIN_CONCURRENT}")
        created = self.settings["createdAt"] if self.settings else now
        self.settings = {
            "targetUrl": target,
            "throttling": {"maxConcurrentRequests": concurrent, "period": "SECONDLY"},
            "createdAt": created,
            "updatedAt": now,
        }
        return self.settings

    def _subscribe(
        self, body: Any, now: str, properties: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _invalid("Invalid input JSON")
        event = body.get("eventType")
        obj, _, kind = str(event or "").partition(".")
        if obj not in OBJECT_EVENTS or kind not in EVENT_KINDS:
            raise _invalid(f"Unknown eventType: {event!r}")
        prop = body.get("propertyName")
        if kind == "propertyChange":
            if not prop:
                raise _invalid(f"propertyName is required for {event}")
            if prop not in properties.get(OBJECT_EVENTS[obj], {}):
                raise _invalid(f"Property {prop!r} does not exist on {obj}")
        elif prop:
            raise _invalid(f"propertyName is only allowed for propertyChange, not {event}")
        if any(
            s["eventType"] == event and s.get("propertyName") == prop
            for s in self.subscriptions.values()
        ):
            raise WebhookApiError(
                409,
                f"A subscription for {event}{f' ({prop})' if prop else ''} already exists",
                "CONFLICT",
            )
        sub_id = next(self._ids)
        subscription: dict[str, Any] = {
            "id": sub_id,
            "eventType": event,
            "active": bool(body.get("active", True)),
            "createdAt": now,
            "updatedAt": now,
        }
        if prop:
            subscription["propertyName"] = prop
        self.subscriptions[sub_id] = subscription
        return subscription

    def _patch(self, raw_id: str, body: Any, now: str) -> dict[str, Any]:
        subscription = self.subscriptions.get(int(raw_id)) if raw_id.isdigit() else None
        if subscription is None:
            raise WebhookApiError(404, f"Subscription {raw_id} not found", "OBJECT_NOT_FOUND")
        if not isinstance(body, dict) or not isinstance(body.get("active"), bool):
            raise _invalid("active (true or false) is required")
        subscription["active"] = body["active"]
        subscription["updatedAt"] = now
        return subscription
