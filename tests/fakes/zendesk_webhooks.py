"""Zendesk's webhooks and triggers APIs, stateful, as the Zendesk fake serves them.

Follows Zendesk's published reference:

- `POST /api/v2/webhooks` (`{"webhook": {name, endpoint, http_method, request_format,
  status, subscriptions}}`): 201 with the webhook and a fresh signing secret; a missing or
  invalid field is 400 with `{"errors": [{"code", "title", "detail", "source"}]}`;
- `GET /api/v2/webhooks` (`filter[name_contains]`), `GET /api/v2/webhooks/{id}` (404
  `RecordNotFound`), `GET /api/v2/webhooks/{id}/signing_secret`
  (`{"signing_secret": {"algorithm": "SHA256", "secret": ...}}`);
- `POST /api/v2/triggers` (`{"trigger": {title, conditions: {all, any}, actions}}`): 201;
  a missing title, no condition, no action or a `notification_webhook` naming no webhook is
  422 `RecordInvalid` with `details`; `GET /api/v2/triggers`: `{"triggers": [...]}`.

A trigger whose action notifies an active webhook makes the fake call that webhook's endpoint,
signed with its secret, with the action's JSON body (`{{ticket.id}}` filled in), on ticket
creation (`update_type is Create`) and change (`update_type is Change`).
"""

from __future__ import annotations

import itertools
import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
FORMATS = ("json", "xml", "form_encoded")
STATUSES = ("active", "inactive")


class ZendeskApiError(Exception):
    """An error answer: status and its JSON body (the webhooks API has its own shape)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(json.dumps(body))
        self.status = status
        self.body = body


def _invalid(pointer: str, detail: str) -> ZendeskApiError:
    error = {
        "code": "InvalidValue",
        "title": "Invalid value",
        "detail": detail,
        "source": {"pointer": pointer},
    }
    return ZendeskApiError(400, {"errors": [error]})


def _record_invalid(detail: str) -> ZendeskApiError:
    return ZendeskApiError(
        422,
        {
            "error": "RecordInvalid",
            "description": "Record validation errors",
            "details": {"base": [{"description": detail}]},
        },
    )


def _not_found() -> ZendeskApiError:
    return ZendeskApiError(404, {"error": "RecordNotFound", "description": "Not found"})


@dataclass
class Hooks:
    """The account's webhooks (with their signing secrets) and triggers."""

    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    triggers: dict[int, dict[str, Any]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def route(
        self, method: str, rest: list[str], query: dict[str, list[str]], payload: Any, now: str
    ) -> tuple[int, Any] | None:
        """Answer a webhooks or triggers request, or None if `rest` is neither."""
        match method, rest:
            case "GET", ["webhooks"]:
                wanted = query.get("filter[name_contains]", [""])[0].lower()
                found = [w for w in self.webhooks.values() if wanted in w["name"].lower()]
                return 200, {"webhooks": found, "meta": {"has_more": False}, "links": {}}
            case "POST", ["webhooks"]:
                return 201, {"webhook": self._create_webhook(payload, now)}
            case "GET", ["webhooks", hook_id]:
                return 200, {"webhook": self._webhook(hook_id)}
            case "GET", ["webhooks", hook_id, "signing_secret"]:
                self._webhook(hook_id)
                secret = {"algorithm": "SHA256", "secret": self.secrets[hook_id]}
                return 200, {"signing_secret": secret}
            case "GET", ["triggers"]:
                return 200, {"triggers": list(self.triggers.values()), "next_page": None}
            case "POST", ["triggers"]:
                return 201, {"trigger": self._create_trigger(payload, now)}
        return None

    def _webhook(self, hook_id: str) -> dict[str, Any]:
        if hook_id not in self.webhooks:
            raise _not_found()
        return self.webhooks[hook_id]

    def _create_webhook(self, payload: Any, now: str) -> dict[str, Any]:
        hook = payload.get("webhook") if isinstance(payload, dict) else None
        if not isinstance(hook, dict):
            raise _invalid("/webhook", "webhook is required")
        name = hook.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _invalid("/webhook/name", "name is required")
        endpoint = str(hook.get("endpoint") or "")
        url = urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise _invalid("/webhook/endpoint", f"endpoint must be a valid URL: {endpoint!r}")
        for key, allowed in (
            ("http_method", METHODS),
            ("request_format", FORMATS),
            ("status", STATUSES),
        ):
            if hook.get(key) not in allowed:
                raise _invalid(f"/webhook/{key}", f"{key} must be one of {', '.join(allowed)}")
        subscriptions = hook.get("subscriptions") or []
        if not isinstance(subscriptions, list):
            raise _invalid("/webhook/subscriptions", "subscriptions must be a list")
        hook_id = f"01FAKEWEBHOOK{next(self._ids):013d}"
        made = {
            "id": hook_id,
            "name": name,
            "endpoint": endpoint,
            "http_method": hook["http_method"],
            "request_format": hook["request_format"],
            "status": hook["status"],
            "subscriptions": subscriptions,
            "created_at": now,
            "updated_at": now,
        }
        self.webhooks[hook_id] = made
        self.secrets[hook_id] = secrets.token_urlsafe(32)
        return made

    def _create_trigger(self, payload: Any, now: str) -> dict[str, Any]:
        trigger = payload.get("trigger") if isinstance(payload, dict) else None
        if not isinstance(trigger, dict):
            raise _record_invalid("Trigger is required")
        if not str(trigger.get("title") or "").strip():
            raise _record_invalid("Title: cannot be blank")
        conditions = trigger.get("conditions") or {}
        if not (conditions.get("all") or conditions.get("any")):
            raise _record_invalid("Conditions: must have at least one condition")
        actions = trigger.get("actions") or []
        if not actions:
            raise _record_invalid("Actions: must have at least one action")
        for action in actions:
            if action.get("field") != "notification_webhook":
                continue
            value = action.get("value")
            if not (isinstance(value, list) and value and str(value[0]) in self.webhooks):
                raise _record_invalid("Actions: the webhook does not exist")
        made = {
            "id": next(self._ids),
            "title": trigger["title"],
            "active": bool(trigger.get("active", True)),
            "conditions": conditions,
            "actions": actions,
            "created_at": now,
            "updated_at": now,
        }
        self.triggers[made["id"]] = made
        return made

    def notifications(self, ticket_id: int, update_type: str) -> list[tuple[str, str, bytes]]:
        """(endpoint, signing secret, body) of each active webhook an active trigger asks to
        call for this ticket's creation ("Create") or change ("Change")."""
        out = []
        for trigger in self.triggers.values():
            conditions = trigger["conditions"]
            wanted = [
                c.get("value")
                for c in [*conditions.get("all", []), *conditions.get("any", [])]
                if c.get("field") == "update_type"
            ]
            if not trigger["active"] or (wanted and update_type not in wanted):
                continue
            for action in trigger["actions"]:
                if action.get("field") != "notification_webhook":
                    continue
                hook_id, template = str(action["value"][0]), str(action["value"][1])
                hook = self.webhooks.get(hook_id)
                if hook is None or hook["status"] != "active":
                    continue
                body = template.replace("{{ticket.id}}", str(ticket_id)).encode()
                out.append((hook["endpoint"], self.secrets[hook_id], body))
        return out
