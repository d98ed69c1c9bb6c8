"""Request Tracker 5 source: tickets changed since the cursor, through REST 2 and TicketSQL.

Paging is by key, not by page number: every page is a fresh search for tickets after the
cursor (LastUpdated, id), ordered by LastUpdated then id, so a ticket updated while we read
moves to the end instead of shifting the pages under us. LastUpdated has one-second
resolution, so the tie-break on id is exact, and the current second is held back (a ticket
saved later in that same second could otherwise slip behind the cursor).

TicketSQL reads dates in the RT user's time zone and silently ignores a date it cannot parse
(the query then matches every ticket), so dates are always sent as 'YYYY-MM-DD HH:MM:SS' in
the configured `timezone`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from pydantic import Field, SecretStr, field_validator, model_validator

from bot.errors import MalformedInput, SourceUnavailable
from bot.models import SourceRecord
from connectors.base import Batch, ConnectorSettings, Cursor
from connectors.kit.auth import Auth, BasicAuth, BearerToken
from connectors.kit.clock import SYSTEM_CLOCK, Clock
from connectors.kit.http import HttpClient
from connectors.kit.mapping import clean_str, parse_timestamp, synthetic_message_id, truthy
from connectors.kit.network import is_loopback_host
from connectors.kit.pagination import LoopGuard
from connectors.kit.ratelimit import TokenBucket
from connectors.kit.shared import account_budget

log = structlog.get_logger(__name__)

MAX_PAGE = 100  # REST 2 caps per_page at 100
REQUESTOR_FIELDS = "EmailAddress,RealName,Name,Organization,MobilePhone,WorkPhone,HomePhone"
TICKET_FIELDS = "Subject,Status,Priority,LastUpdated,Created,Queue,Requestor,CustomFields"
DEFAULT_PRIORITY_MAP = {"P1": 90, "P2": 70, "P3": 50, "P4": 20}


class RtSettings(ConnectorSettings):
    """One Request Tracker instance: where it is, how to sign in, which queues, what to map."""

    type: Literal["rt"]
    url: str  # RT's base URL; REST 2 is at {url}/REST/2.0/
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None  # an RT auth token ("Authorization: token ...")
    queues: list[str] = Field(default_factory=list)  # empty: every queue
    timezone: str = "UTC"  # the RT user's time zone, in which TicketSQL reads dates
    requests_per_minute: int = Field(default=600, ge=1)
    start_time: datetime | None = None
    initial_lookback_days: float = Field(default=30.0, ge=0)
    hold_back_seconds: float = Field(default=1.0, ge=0)
    fetch_body: bool = True  # one request per ticket for its first message
    custom_fields: dict[str, str] = Field(default_factory=dict)  # crmbot name -> RT CF name
    # The ticket custom field that holds add_tag/remove_tag tags (one free-form value,
    # space-separated, sorted); None: RT has no tags here and rules that plan them are refused.
    tags_custom_field: str | None = "crmbot_tags"
    priority_map: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_PRIORITY_MAP))
    escalation_queue: str | None = None  # escalate without a queue moves the ticket here
    user_tier_field: str = "Tier"  # an RT user custom field, when there is one
    user_vip_field: str = "VIP"
    dedupe_notes: bool = True
    timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name, e.g. UTC)") from None
        return value

    @field_validator("queues")
    @classmethod
    def _plain_queue_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name.strip() or "'" in name or "\\" in name:
                raise ValueError(f"queue name {name!r} is empty or has a quote or backslash")
        return value

    @model_validator(mode="after")
    def _one_way_in(self) -> RtSettings:
        parts = urlsplit(self.url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"url {self.url!r} is not an http(s) URL")
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            raise ValueError("url must use https unless RT runs on this machine (loopback)")
        if (self.token is None) == (self.password is None):
            raise ValueError("set either token, or username and password")
        if self.password is not None and not self.username:
            raise ValueError("password needs username")
        return self

    @property
    def rest_url(self) -> str:
        """The REST 2 base URL."""
        return self.url.rstrip("/") + "/REST/2.0"


def connector_label(name: str) -> str:
    """How errors name this connector: 'rt', or 'rt (name)' for a named source."""
    return "rt" if name == "rt" else f"rt ({name})"


def make_auth(settings: RtSettings) -> Auth:
    """Basic credentials, or an RT auth token."""
    if settings.token is not None:
        return BearerToken(settings.token, scheme="token")
    assert settings.password is not None
    return BasicAuth(settings.username or "", settings.password)


def make_client(
    name: str, settings: RtSettings, *, clock: Clock | None = None, transport: Any = None
) -> HttpClient:
    """The kit's HTTP client on RT's REST 2."""
    clock = clock or SYSTEM_CLOCK
    return HttpClient(
        connector_label(name),
        settings.rest_url,
        auth=make_auth(settings),
        # one budget per RT server, whatever the source or sink on it is called
        limiter=TokenBucket.per_window(
            settings.requests_per_minute,
            60.0,
            clock=clock,
            name=f"{account_budget('rt', settings.url)}:requests",
        ),
        clock=clock,
        timeout=settings.timeout_seconds,
        transport=transport,
    )


def ticketsql_time(moment: datetime, zone: str) -> str:
    """A TicketSQL date literal body: 'YYYY-MM-DD HH:MM:SS' in the RT user's time zone."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


def after_query(last_updated: datetime, last_id: int, queues: list[str], zone: str) -> str:
    """TicketSQL for tickets strictly after (last_updated, last_id)."""
    at = ticketsql_time(last_updated, zone)
    before = ticketsql_time(last_updated - timedelta(seconds=1), zone)
    query = f"(LastUpdated > '{at}' OR (LastUpdated > '{before}' AND id > {int(last_id)}))"
    if queues:
        query += " AND (" + " OR ".join(f"Queue = '{q}'" for q in queues) + ")"
    return query


class RtSource:
    """Polls RT tickets changed since the cursor {"last_updated": ISO, "id": n}."""

    def __init__(
        self,
        name: str,
        settings: RtSettings,
        *,
        clock: Clock | None = None,
        transport: Any = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.clock = clock or SYSTEM_CLOCK
        self.label = connector_label(name)
        self.http = make_client(name, settings, clock=self.clock, transport=transport)
        self._users: dict[str, dict[str, Any]] = {}

    def check(self) -> str:
        """Sign in and count the queues we can see."""
        data = self.http.get("/queues/all")
        return f"{self.label}: signed in to {self.settings.url}, {data.get('total', 0)} queue(s)"

    def close(self) -> None:
        """Release connections."""
        self.http.close()

    def _start(self, cursor: Cursor | None) -> tuple[datetime, int]:
        """The position to read after, at RT's one-second resolution."""
        if cursor and cursor.get("last_updated"):
            at = parse_timestamp(cursor["last_updated"])
            return at.replace(microsecond=0), int(cursor.get("id") or 0)
        if self.settings.start_time is not None:
            start = self.settings.start_time
            start = start if start.tzinfo else start.replace(tzinfo=UTC)
        else:
            now = datetime.fromtimestamp(self.clock.time(), UTC)
            start = now - timedelta(days=self.settings.initial_lookback_days)
        return start.replace(microsecond=0), 0  # id 0: every ticket of that second

    def poll(self, cursor: Cursor | None, batch_size: int) -> Iterator[Batch]:
        """Yield one Batch per page of tickets after the cursor, oldest first."""
        per_page = max(1, min(batch_size, MAX_PAGE))
        position = self._start(cursor)
        guard = LoopGuard(self.label, "search position")
        while True:
            guard.see(position)
            horizon = datetime.fromtimestamp(
                self.clock.time() - self.settings.hold_back_seconds, UTC
            ).replace(microsecond=0)
            query = after_query(*position, self.settings.queues, self.settings.timezone)
            query += f" AND LastUpdated < '{ticketsql_time(horizon, self.settings.timezone)}'"
            data = self.http.get(
                "/tickets",
                params={
                    "query": query,
                    "orderby": ["LastUpdated", "id"],
                    "order": ["ASC", "ASC"],
                    "per_page": per_page,
                    "page": 1,
                    "fields": TICKET_FIELDS,
                    "fields[Requestor]": REQUESTOR_FIELDS,
                    "fields[Queue]": "Name",
                },
            )
            items = data.get("items") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise SourceUnavailable(f"{self.label}: ticket search answered no items list")
            records: list[SourceRecord] = []
            for item in items:
                key = _position(item)
                if key is None or key <= position:
                    if key is None:
                        records.append(self._quarantine(item, "no id or LastUpdated"))
                    continue
                records.append(self._safe_map(item))
                position = key
            if items and not records:
                # A full answer with nothing after the cursor: the search is going round.
                guard.see(position)
            if records:
                cursor_out = {"last_updated": position[0].isoformat(), "id": position[1]}
                log.info("rt_tickets_read", source=self.name, count=len(records))
                yield Batch(records=records, cursor=cursor_out)
            if len(items) < per_page:
                return

    # -- mapping ----------------------------------------------------------------------------

    def _quarantine(self, item: Any, reason: str) -> SourceRecord:
        raw_id = item.get("id") if isinstance(item, dict) else None
        source_id = f"ticket:{raw_id}" if raw_id else "ticket:unknown"
        log.warning("rt_record_quarantined", source=self.name, source_id=source_id, reason=reason)
        return SourceRecord(
            source=self.name,
            source_id=source_id,
            kind="ticket",
            fields={"ticket_id": str(raw_id or "")},
            quarantine_reason=reason,
        )

    def _safe_map(self, item: dict[str, Any]) -> SourceRecord:
        try:
            return self._map(item)
        except (MalformedInput, KeyError, TypeError, ValueError, AttributeError) as exc:
            return self._quarantine(item, f"{type(exc).__name__}: {exc}"[:500])

    def _map(self, item: dict[str, Any]) -> SourceRecord:
        ticket_id = str(int(item["id"]))
        updated = parse_timestamp(item.get("LastUpdated"))
        created = parse_timestamp(item.get("Created") or item.get("LastUpdated"))
        subject = item.get("Subject") or ""
        if not isinstance(subject, str):
            raise MalformedInput("Subject is not a string")
        requestors = [r for r in item.get("Requestor") or [] if isinstance(r, dict)]
        first = requestors[0] if requestors else {}
        user = self._user(first) if first else {}
        custom = {
            str(cf.get("name")): (cf.get("values") or [None])[0]
            for cf in item.get("CustomFields") or []
            if isinstance(cf, dict)
        }
        owned = {name: custom.get(cf) for name, cf in self.settings.custom_fields.items()}
        email = clean_str(first.get("EmailAddress"))
        organization = clean_str(first.get("Organization"))
        body = self._body(ticket_id) if self.settings.fetch_body else ""
        user_cfs = _user_custom_fields(user)
        fields: dict[str, Any] = {
            "subject": subject,
            "body": body,
            "sender_email": email,
            "sender_name": clean_str(first.get("RealName")),
            "sender_phone": clean_str(
                first.get("MobilePhone") or first.get("WorkPhone") or first.get("HomePhone")
            ),
            "external_ids": {"rt": str(user["id"])} if user.get("id") else {},
            "ticket_id": ticket_id,
            "status": item.get("Status"),
            "priority": _int_or_none(item.get("Priority")),
            "queue": (item.get("Queue") or {}).get("Name") or (item.get("Queue") or {}).get("id"),
            "custom_fields": owned,
            "created_at": created.isoformat(),
            "updated_at": updated.isoformat(),
            "version": item.get("LastUpdated"),
            "company": (
                {"name": organization, "domain": _domain(email), "tier": None, "strategic": False}
                if organization
                else None
            ),
            "contact": {
                "email": email,
                "name": clean_str(first.get("RealName")),
                "tier": clean_str(user_cfs.get(self.settings.user_tier_field)),
                "vip": truthy(user_cfs.get(self.settings.user_vip_field)),
                "external_ids": {"rt": str(user["id"])} if user.get("id") else {},
            }
            if first
            else None,
            "message_id": synthetic_message_id("rt", "ticket", ticket_id),
        }
        return SourceRecord(
            source=self.name,
            source_id=f"ticket:{ticket_id}",
            kind="ticket",
            fields=fields,
            size=len(body.encode()),
            received_at=created,
        )

    def _user(self, requestor: dict[str, Any]) -> dict[str, Any]:
        """The requestor's user record (numeric id, custom fields), cached by name."""
        name = str(requestor.get("id") or requestor.get("Name") or "")
        if not name:
            return {}
        if name not in self._users:
            data = self.http.get(f"/user/{quote(name, safe='@')}")
            self._users[name] = data if isinstance(data, dict) else {}
            if len(self._users) > 20_000:
                self._users.pop(next(iter(self._users)))
        return self._users[name]

    def _body(self, ticket_id: str) -> str:
        """The ticket's first text part (its creating message)."""
        data = self.http.get(
            f"/ticket/{ticket_id}/attachments",
            params={
                "fields": "Content,ContentType,TransactionId",
                "orderby": "id",
                "order": "ASC",
                "per_page": "10",
            },
        )
        for attachment in (data or {}).get("items") or []:
            kind = str(attachment.get("ContentType") or "")
            content = attachment.get("Content")
            if kind.startswith("text/plain") and isinstance(content, str) and content.strip():
                return content
        return ""


def _position(item: Any) -> tuple[datetime, int] | None:
    if not isinstance(item, dict):
        return None
    try:
        return parse_timestamp(item.get("LastUpdated")), int(item["id"])
    except (MalformedInput, KeyError, TypeError, ValueError):
        return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _domain(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].lower()


def _user_custom_fields(user: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for cf in user.get("CustomFields") or []:
        if isinstance(cf, dict) and cf.get("name"):
            values = cf.get("values") or []
            out[str(cf["name"])] = values[0] if values else None
    return out
