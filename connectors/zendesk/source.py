"""Zendesk source: cursor-based incremental export of tickets (and users), mapped to crmbot.

`GET /api/v2/incremental/tickets/cursor.json` starts from `start_time` on the first run and
then follows `after_cursor` until `end_of_stream`; requesters and their organizations come as
sideloads (`include=users,organizations`), which gives identity and tier without extra calls.
Incremental exports are limited to 10 requests per minute, the rest of the API to the plan's
limit: each has its own token bucket, and the kit's client honours Retry-After on 429.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import structlog
from pydantic import Field, SecretStr, model_validator

from bot.errors import ConfigError, MalformedInput, SourceUnavailable
from bot.models import SourceRecord
from connectors.base import Batch, ConnectorSettings, Cursor
from connectors.kit.auth import Auth, BasicAuth, BearerToken, OAuth2RefreshToken
from connectors.kit.clock import SYSTEM_CLOCK, Clock
from connectors.kit.http import HttpClient
from connectors.kit.mapping import clean_str, parse_timestamp, synthetic_message_id, truthy
from connectors.kit.network import is_loopback_host
from connectors.kit.pagination import LoopGuard
from connectors.kit.ratelimit import TokenBucket
from connectors.kit.shared import account_budget

log = structlog.get_logger(__name__)

TICKETS_EXPORT = "/api/v2/incremental/tickets/cursor.json"
USERS_EXPORT = "/api/v2/incremental/users/cursor.json"
MAX_EXPORT_PAGE = 1000

DEFAULT_PRIORITY_MAP = {
    "P1": "urgent",
    "P2": "high",
    "P3": "normal",
    "P4": "low",
    "urgent": "urgent",
    "high": "high",
    "normal": "normal",
    "low": "low",
}


class ZendeskSettings(ConnectorSettings):
    """One Zendesk Support account: where it is, how to sign in, how fast to go, what to map."""

    type: Literal["zendesk"]
    subdomain: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]*$")
    base_url: str | None = None  # overrides subdomain (a proxy, or a test server)
    email: str | None = None
    api_token: SecretStr | None = None
    oauth_access_token: SecretStr | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: SecretStr | None = None
    oauth_refresh_token: SecretStr | None = None
    poll: Literal["tickets", "users"] = "tickets"  # users: identity and tier only
    requests_per_minute: int = Field(default=200, ge=1, le=2500)  # the plan's limit
    export_requests_per_minute: int = Field(default=10, ge=1, le=30)
    start_time: datetime | None = None  # where the first export starts
    initial_lookback_days: float = Field(default=30.0, ge=0)
    org_tier_field: str = "tier"
    org_strategic_field: str = "strategic"
    user_tier_field: str = "tier"
    user_vip_field: str = "vip"
    custom_fields: dict[str, int] = Field(default_factory=dict)  # crmbot name -> ticket field id
    priority_map: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PRIORITY_MAP))
    groups: dict[str, int] = Field(default_factory=dict)  # assign/escalate queue -> group id
    agents: dict[str, int] = Field(default_factory=dict)  # assign owner -> agent (user) id
    escalation_group: str | None = None  # escalate without a queue moves the ticket here
    job_poll_interval_seconds: float = Field(default=1.0, gt=0)
    job_timeout_seconds: float = Field(default=120.0, gt=0)
    dedupe_notes: bool = True
    # Webhooks (connectors/zendesk/webhook.py): the webhook's signing secret, and the public
    # URL Zendesk calls (…/webhooks/zendesk/<source name>) for `crmbot setup zendesk`.
    webhook_secret: SecretStr | None = None
    webhook_url: str | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _one_way_in(self) -> ZendeskSettings:
        if not self.subdomain and not self.base_url:
            raise ValueError("set subdomain (e.g. 'acme' for acme.zendesk.com) or base_url")
        if self.base_url:
            from urllib.parse import urlsplit

            parts = urlsplit(self.base_url)
            if parts.scheme not in ("https", "http") or not parts.hostname:
                raise ValueError(f"base_url {self.base_url!r} is not an http(s) URL")
            if parts.scheme == "http" and not is_loopback_host(parts.hostname):
                raise ValueError("base_url must use https unless it is a loopback test server")
        modes = [
            self.api_token is not None,
            self.oauth_access_token is not None,
            self.oauth_refresh_token is not None,
        ]
        if sum(modes) != 1:
            raise ValueError(
                "set exactly one of api_token (with email), oauth_access_token, or "
                "oauth_refresh_token (with oauth_client_id and oauth_client_secret)"
            )
        if self.api_token is not None and not self.email:
            raise ValueError("api_token needs the agent's email (Zendesk signs in as email/token)")
        if self.oauth_refresh_token is not None and not (
            self.oauth_client_id and self.oauth_client_secret
        ):
            raise ValueError("oauth_refresh_token needs oauth_client_id and oauth_client_secret")
        return self

    @property
    def url(self) -> str:
        """The account's base URL, without a trailing slash."""
        return (self.base_url or f"https://{self.subdomain}.zendesk.com").rstrip("/")


def connector_label(name: str) -> str:
    """How errors name this connector: 'zendesk', or 'zendesk (name)' for a named source."""
    return "zendesk" if name == "zendesk" else f"zendesk ({name})"


def make_auth(settings: ZendeskSettings, *, clock: Clock | None = None) -> Auth:
    """The credential the settings describe."""
    if settings.api_token is not None:
        return BasicAuth(f"{settings.email}/token", settings.api_token)
    if settings.oauth_access_token is not None:
        return BearerToken(settings.oauth_access_token)
    if settings.oauth_refresh_token is None or settings.oauth_client_secret is None:
        raise ConfigError("zendesk: no credentials configured")
    return OAuth2RefreshToken(
        f"{settings.url}/oauth/tokens",
        settings.oauth_client_id or "",
        settings.oauth_client_secret,
        settings.oauth_refresh_token,
        connector="zendesk",
        clock=clock,
        body="json",  # Zendesk's token endpoint takes a JSON body, not a form
    )


class ZendeskApi:
    """The HTTP client and the two rate limits (the plan's, and incremental exports')."""

    def __init__(
        self,
        name: str,
        settings: ZendeskSettings,
        *,
        clock: Clock | None = None,
        transport: Any = None,
    ) -> None:
        self.clock = clock or SYSTEM_CLOCK
        self.label = connector_label(name)
        # Zendesk's limits are the account's (its subdomain): every source and sink on it
        # shares them, whatever it is called.
        account = account_budget("zendesk", settings.url)
        self.http = HttpClient(
            self.label,
            settings.url,
            auth=make_auth(settings, clock=self.clock),
            limiter=TokenBucket.per_window(
                settings.requests_per_minute, 60.0, clock=self.clock, name=f"{account}:requests"
            ),
            clock=self.clock,
            timeout=settings.timeout_seconds,
            transport=transport,
        )
        self.export_limiter = TokenBucket.per_window(
            settings.export_requests_per_minute, 60.0, clock=self.clock, name=f"{account}:export"
        )

    def export(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """One incremental export page, under the export rate limit."""
        data = self.http.get(path, params=params, limiters=[self.export_limiter])
        if not isinstance(data, dict):
            raise SourceUnavailable(f"{self.label}: {path} answered something other than an object")
        return data

    def close(self) -> None:
        """Release connections."""
        self.http.close()


class ZendeskSource:
    """Polls tickets changed since the cursor; one Batch per export page."""

    def __init__(
        self,
        name: str,
        settings: ZendeskSettings,
        *,
        clock: Clock | None = None,
        transport: Any = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.api = ZendeskApi(name, settings, clock=clock, transport=transport)
        self.label = self.api.label
        self._users: dict[int, dict[str, Any]] = {}
        self._orgs: dict[int, dict[str, Any]] = {}

    def check(self) -> str:
        """Sign in and say who we are."""
        data = self.api.http.get("/api/v2/users/me.json")
        user = data.get("user", {}) if isinstance(data, dict) else {}
        return f"{self.label}: signed in to {self.settings.url} as {user.get('email', '?')}"

    def close(self) -> None:
        """Release connections."""
        self.api.close()

    # -- polling ----------------------------------------------------------------------------

    def _first_start_time(self) -> int:
        if self.settings.start_time is not None:
            start = self.settings.start_time
            start = start if start.tzinfo else start.replace(tzinfo=UTC)
        else:
            now = datetime.fromtimestamp(self.api.clock.time(), UTC)
            start = now - timedelta(days=self.settings.initial_lookback_days)
        # Zendesk refuses a start_time less than a minute old.
        return min(int(start.timestamp()), int(self.api.clock.time()) - 61)

    def poll(self, cursor: Cursor | None, batch_size: int) -> Iterator[Batch]:
        """Yield one Batch per export page; the cursor is Zendesk's `after_cursor`.

        With `poll: users` the source reads the user export instead: contact records that
        feed identity and customer tier and open no case.
        """
        if self.settings.poll == "users":
            for contacts, new_cursor in self.poll_users(cursor, batch_size):
                yield Batch(records=[self._contact_record(c) for c in contacts], cursor=new_cursor)
            return
        yield from self._export(TICKETS_EXPORT, "tickets", cursor, batch_size, self._map_ticket)

    def _contact_record(self, contact: dict[str, Any]) -> SourceRecord:
        user_id = contact["external_ids"]["zendesk"]
        return SourceRecord(
            source=self.name,
            source_id=f"user:{user_id}",
            kind="contact",
            fields={
                "object_id": user_id,
                "email": contact["email"],
                "name": contact["name"],
                "phone": contact["phone"],
                "external_ids": contact["external_ids"],
                "contact": {"tier": contact["tier"], "vip": contact["vip"]},
            },
        )

    def poll_users(
        self, cursor: Cursor | None, batch_size: int
    ) -> Iterator[tuple[list[dict[str, Any]], Cursor]]:
        """Incremental user export: pages of contact dicts (identity and tier) and the cursor."""
        for page, new_cursor in self._pages(USERS_EXPORT, cursor, batch_size, include=False):
            contacts = []
            for user in page.get("users") or []:
                if isinstance(user, dict) and isinstance(user.get("id"), int):
                    self._users[user["id"]] = user
                    contacts.append(self._contact(user))
            yield contacts, new_cursor

    def _export(
        self,
        path: str,
        key: str,
        cursor: Cursor | None,
        batch_size: int,
        mapper: Any,
    ) -> Iterator[Batch]:
        for page, new_cursor in self._pages(path, cursor, batch_size, include=True):
            self._remember_sideloads(page)
            items = page.get(key)
            if not isinstance(items, list):
                raise SourceUnavailable(f"{self.label}: export page has no '{key}' list")
            records = [self._safe_map(item, mapper) for item in items]
            log.info("zendesk_export_page", source=self.name, count=len(records))
            yield Batch(records=records, cursor=new_cursor)

    def _pages(
        self, path: str, cursor: Cursor | None, batch_size: int, *, include: bool
    ) -> Iterator[tuple[dict[str, Any], Cursor]]:
        per_page = max(1, min(batch_size, MAX_EXPORT_PAGE))
        token = (cursor or {}).get("cursor")
        watermark = int((cursor or {}).get("watermark") or 0)
        guard = LoopGuard(self.label, "export cursor")
        if token:
            guard.see(token)
        while True:
            params: dict[str, Any] = {"per_page": per_page}
            if token:
                params["cursor"] = token
            else:
                start = int((cursor or {}).get("start_time") or self._first_start_time())
                params["start_time"] = start
                watermark = max(watermark, start)
            if include:
                params["include"] = "users,organizations"
            page = self.api.export(path, params)
            after = page.get("after_cursor")
            end = bool(page.get("end_of_stream"))
            for item in page.get("tickets") or page.get("users") or []:
                stamp = _generated(item)
                if stamp is not None:
                    watermark = max(watermark, stamp)
            next_token = after if isinstance(after, str) and after else token
            yield page, {"cursor": next_token, "watermark": watermark}
            if end:
                return
            if not after or not isinstance(after, str):
                raise SourceUnavailable(
                    f"{self.label}: export page says more follows but has no after_cursor"
                )
            guard.see(after)
            token = after

    def _remember_sideloads(self, page: dict[str, Any]) -> None:
        for user in page.get("users") or []:
            if isinstance(user, dict) and isinstance(user.get("id"), int):
                self._users[user["id"]] = user
        for org in page.get("organizations") or []:
            if isinstance(org, dict) and isinstance(org.get("id"), int):
                self._orgs[org["id"]] = org
        for cache in (self._users, self._orgs):
            while len(cache) > 20_000:
                cache.pop(next(iter(cache)))

    # -- mapping ----------------------------------------------------------------------------

    def _safe_map(self, item: Any, mapper: Any) -> SourceRecord:
        try:
            return mapper(item)
        except (MalformedInput, KeyError, TypeError, ValueError, AttributeError) as exc:
            source_id = _source_id(item)
            reason = f"{type(exc).__name__}: {exc}"[:500]
            log.warning(
                "zendesk_record_quarantined", source=self.name, source_id=source_id, reason=reason
            )
            return SourceRecord(
                source=self.name,
                source_id=source_id,
                kind="ticket",
                fields={"ticket_id": source_id.partition(":")[2]},
                quarantine_reason=reason,
            )

    def _map_ticket(self, ticket: Any) -> SourceRecord:
        if not isinstance(ticket, dict) or not isinstance(ticket.get("id"), int):
            raise MalformedInput("ticket without an integer id")
        ticket_id = str(ticket["id"])
        updated = parse_timestamp(ticket.get("updated_at"))
        created = parse_timestamp(ticket.get("created_at") or ticket.get("updated_at"))
        subject = ticket.get("subject") if ticket.get("subject") is not None else ""
        body = ticket.get("description") if ticket.get("description") is not None else ""
        if not isinstance(subject, str) or not isinstance(body, str):
            raise MalformedInput("subject and description must be strings")
        tags = ticket.get("tags") or []
        if not isinstance(tags, list):
            raise MalformedInput("tags must be a list")
        requester = self._users.get(ticket.get("requester_id") or -1) or {}
        org_id = ticket.get("organization_id") or requester.get("organization_id")
        org = self._orgs.get(org_id or -1)
        custom = {
            f["id"]: f.get("value")
            for f in ticket.get("custom_fields") or []
            if isinstance(f, dict) and "id" in f
        }
        owned = {name: custom.get(fid) for name, fid in self.settings.custom_fields.items()}
        fields: dict[str, Any] = {
            "subject": subject,
            "body": body,
            "sender_email": clean_str(requester.get("email")),
            "sender_name": clean_str(requester.get("name")),
            "sender_phone": clean_str(requester.get("phone")),
            "external_ids": (
                {"zendesk": str(ticket["requester_id"])} if ticket.get("requester_id") else {}
            ),
            "ticket_id": ticket_id,
            "status": ticket.get("status"),
            "priority": ticket.get("priority"),
            "tags": [str(t) for t in tags],
            "custom_fields": owned,
            "created_at": created.isoformat(),
            "updated_at": updated.isoformat(),
            "version": ticket.get("updated_at"),
            "company": self._company(org) if org else None,
            "contact": self._contact(requester) if requester else None,
            "message_id": synthetic_message_id("zendesk", "ticket", ticket_id),
            "channel": (ticket.get("via") or {}).get("channel"),
        }
        return SourceRecord(
            source=self.name,
            source_id=f"ticket:{ticket_id}",
            kind="ticket",
            fields=fields,
            size=len(body.encode()),
            received_at=created,
        )

    def _company(self, org: dict[str, Any]) -> dict[str, Any]:
        extra = org.get("organization_fields") or {}
        domains = org.get("domain_names") or []
        return {
            "name": clean_str(org.get("name")),
            "domain": domains[0] if domains else None,
            "tier": clean_str(extra.get(self.settings.org_tier_field)),
            "strategic": truthy(extra.get(self.settings.org_strategic_field)),
            "external_ids": {"zendesk": str(org.get("id"))},
        }

    def _contact(self, user: dict[str, Any]) -> dict[str, Any]:
        extra = user.get("user_fields") or {}
        return {
            "email": clean_str(user.get("email")),
            "name": clean_str(user.get("name")),
            "phone": clean_str(user.get("phone")),
            "tier": clean_str(extra.get(self.settings.user_tier_field)),
            "vip": truthy(extra.get(self.settings.user_vip_field)),
            "external_ids": {"zendesk": str(user.get("id"))},
            "organization_id": user.get("organization_id"),
        }


def _generated(item: Any) -> int | None:
    if not isinstance(item, dict):
        return None
    stamp = item.get("generated_timestamp")
    if isinstance(stamp, int) and not isinstance(stamp, bool):
        return stamp
    try:
        return int(parse_timestamp(item.get("updated_at")).timestamp())
    except MalformedInput:
        return None


def _source_id(item: Any) -> str:
    if isinstance(item, dict) and isinstance(item.get("id"), int):
        return f"ticket:{item['id']}"
    digest = hashlib.sha1(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()
    return f"ticket:invalid-{digest[:12]}"
