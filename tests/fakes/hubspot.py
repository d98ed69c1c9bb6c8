"""A stateful fake of the HubSpot CRM API v3/v4 endpoints crmbot uses, on a loopback port.

It follows HubSpot's public API reference for every endpoint served: request validation,
response shapes, `after` paging tokens, the 10,000-result search window, 100-input batch
limits, error bodies (`status`, `message`, `correlationId`, `category`), 429s with
Retry-After and X-HubSpot-RateLimit-* headers, and search results that lag behind writes.
Time comes from an injectable clock so tests never really wait.

Control (Python methods): create records, simulate an agent's edit, inject 429 storms, 5xx,
a malformed record, a paging loop, a revoked token; count requests per endpoint.

The hard answers HubSpot documents, each switchable per test: 207 Multi-Status batch answers
with `errors` and some results missing (`drop_batch_results`, `missing_ids_answer="207"`),
v4 association batch reads that page per result (`assoc_page_size`: `results[].paging.next
.after`, sent back as `inputs[].after`), batch results in no particular order
(`shuffle_results`), 423 Locked and 477 Migration in Progress (`fail_with_status`), 429 bodies
for the ten-secondly and the daily limit (`fail_with_429(policy=...)`), a search index that
trails writes by `search_lag` seconds, and a write performed whose answer is lost
(`fail_after_performing`).

The public app's webhooks API v3 (`hubspot_webhooks.py`: settings and subscriptions, with its
400/401/404/409 answers): once `crmbot setup hubspot` set them, and `app_client_secret` is
given, the fake calls the target URL with the subscribed events, signed as HubSpot does.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

from connectors.kit.clock import SYSTEM_CLOCK, Clock
from tests.fakes.hubspot_webhooks import WebhookApiError, WebhookApp
from tests.fakes.loopback import LoopbackHttpServer
from tests.fakes.webhooks import WebhookSender

SEARCH_WINDOW = 10_000
SEARCH_MAX_LIMIT = 200
BATCH_MAX = 100
MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS_TOTAL = 25
NOTE_TO_TICKET = 228
TICKET_TO_CONTACT = 16
TICKET_TO_COMPANY = 26  # primary company
EMAIL_TO_TICKET = 223  # HUBSPOT_DEFINED email -> ticket (ticket -> email is 224)
CONTACT_TO_COMPANY = 1

READ_ONLY = frozenset(
    {
        "hs_object_id",
        "createdate",
        "hs_lastmodifieddate",
        "lastmodifieddate",
        "hs_merged_object_ids",
    }
)

DEFAULT_PROPERTIES: dict[str, dict[str, str]] = {
    "tickets": {
        "subject": "string",
        "content": "string",
        "hs_pipeline": "string",
        "hs_pipeline_stage": "string",
        "hs_ticket_priority": "enumeration",
        "hs_ticket_category": "enumeration",
        "hubspot_owner_id": "enumeration",
        "createdate": "datetime",
        "hs_lastmodifieddate": "datetime",
        "hs_object_id": "number",
        "hs_merged_object_ids": "enumeration",
    },
    "contacts": {
        "email": "string",
        "firstname": "string",
        "lastname": "string",
        "phone": "string",
        "address": "string",
        "company": "string",
        "hs_lead_status": "enumeration",
        "createdate": "datetime",
        "lastmodifieddate": "datetime",
        "hs_object_id": "number",
    },
    "companies": {
        "name": "string",
        "domain": "string",
        "createdate": "datetime",
        "hs_lastmodifieddate": "datetime",
        "hs_object_id": "number",
    },
    "emails": {
        "hs_timestamp": "datetime",
        "hs_email_direction": "enumeration",
        "hs_email_text": "string",
        "hs_email_subject": "string",
        "hs_email_status": "enumeration",
        "hubspot_owner_id": "enumeration",
        "createdate": "datetime",
        "hs_lastmodifieddate": "datetime",
        "hs_object_id": "number",
    },
    "notes": {
        "hs_note_body": "string",
        "hs_timestamp": "datetime",
        "createdate": "datetime",
        "hs_lastmodifieddate": "datetime",
        "hs_object_id": "number",
    },
}
SEARCH_DEFAULTS = {
    "tickets": [
        "content",
        "hs_pipeline",
        "hs_pipeline_stage",
        "hs_ticket_category",
        "hs_ticket_priority",
        "subject",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
    ],
}
VALID_FIELD_TYPES = {
    "string": {"text", "textarea", "html", "phonenumber", "file"},
    "number": {"number"},
    "datetime": {"date"},
    "date": {"date"},
    "enumeration": {"select", "radio", "checkbox", "booleancheckbox"},
    "bool": {"booleancheckbox"},
}


def iso(epoch: float) -> str:
    """HubSpot's timestamp form: ISO 8601 UTC with milliseconds and Z."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_when(value: Any) -> float | None:
    """Epoch seconds from epoch-ms digits or ISO 8601; None if neither."""
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text) / 1000
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class ApiError(Exception):
    """An error response, in HubSpot's body shape."""

    def __init__(
        self,
        status: int,
        message: str,
        category: str,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.category = category
        self.headers = headers or {}
        self.extra = extra or {}


def validation(message: str, **extra: Any) -> ApiError:
    """A 400 VALIDATION_ERROR."""
    return ApiError(400, message, "VALIDATION_ERROR", extra=extra)


@dataclass
class Obj:
    """One CRM record."""

    id: str
    properties: dict[str, str | None]
    created: float
    updated: float
    archived: bool = False
    # search index versions: (visible_at, properties snapshot, updated)
    index: list[tuple[float, dict[str, str | None], float]] = field(default_factory=list)

    def body(self, names: list[str] | None) -> dict[str, Any]:
        """The record as the API returns it, with only `names` (plus the always-sent ones)."""
        return _shape(self.id, self.properties, self.created, self.updated, names)


def _shape(
    oid: str,
    props: dict[str, str | None],
    created: float,
    updated: float,
    names: list[str] | None,
) -> dict[str, Any]:
    keep = set(names or []) | {"hs_object_id", "createdate", "hs_lastmodifieddate"}
    return {
        "id": oid,
        "properties": {k: props.get(k) for k in sorted(keep) if k in props or k in (names or [])},
        "createdAt": iso(created),
        "updatedAt": iso(updated),
        "archived": False,
    }


@dataclass
class Faults:
    """Injected failures."""

    status: int = 0
    times: int = 0
    retry_after: float | None = None
    policy: str = "TEN_SECONDLY_ROLLING"
    loop_pagination: bool = False
    revoked: bool = False
    drop_results: int = 0  # next batch update/create: leave out this many results (207)
    after_performing: list[tuple[str, int]] = field(default_factory=list)  # (route, status)


class FakeHubSpot(LoopbackHttpServer):
    """The fake server and its control API; use as a context manager or start()/stop()."""

    def __init__(
        self,
        token: str = "pat-na1-fake-token",
        *,
        clock: Clock | None = None,
        search_lag: float = 0.0,
        enforce_rate_limits: bool = True,
        limit_per_10s: int = 100,
        search_per_second: int = 5,
        search_window: int = SEARCH_WINDOW,
        oauth_client: tuple[str, str, str] | None = None,
        rotate_refresh_tokens: bool = False,
        token_expires_in: int = 1800,
    ) -> None:
        self.token = token
        self.clock = clock or SYSTEM_CLOCK
        self.search_lag = search_lag
        self.enforce_rate_limits = enforce_rate_limits
        self.limit_per_10s = limit_per_10s
        self.search_per_second = search_per_second
        self.search_window = search_window
        self.oauth_client = oauth_client  # (client_id, client_secret, refresh_token)
        self.tokens_issued = 0
        # OAuth: each refresh may hand out a new refresh token and retire the one it used
        # (rotation); a retired refresh token sent again is counted and refused.
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.token_expires_in = token_expires_in
        self.token_expires_at: float | None = None
        self.retired_refresh_tokens: set[str] = set()
        self.stale_refresh_reuses = 0
        # Arrival time of every request counted against the ten-secondly limit.
        self.general_arrivals: list[float] = []
        self.objects: dict[str, dict[str, Obj]] = {t: {} for t in DEFAULT_PROPERTIES}
        self.property_defs: dict[str, dict[str, dict[str, Any]]] = {
            t: {n: {"name": n, "type": ty, "groupName": "default"} for n, ty in d.items()}
            for t, d in DEFAULT_PROPERTIES.items()
        }
        self.groups: dict[str, set[str]] = {t: {"default"} for t in DEFAULT_PROPERTIES}
        # (from_type, from_id, to_type) -> {to_id: [typeIds]}
        self.assoc: dict[tuple[str, str, str], dict[str, list[int]]] = {}
        self.merged: dict[str, str] = {}
        self.requests: Counter[str] = Counter()
        self.rejected_429 = 0
        self._faults = Faults()
        self._ids = itertools.count(1001)
        self._lock = threading.RLock()
        self._not_before = 0.0
        self._early = 0
        self._general_times: list[float] = []
        self._search_times: list[float] = []
        # switchable vendor answers
        self.assoc_page_size: int | None = None  # v4 batch read: associations per result page
        self.shuffle_results = False  # batch answers in an order of HubSpot's choosing
        self.missing_ids_answer = "400"  # batch update naming unknown ids: "400" or "207"
        self._random = random.Random(9)
        self._hooks: list[tuple[str, Callable[[], Any]]] = []
        self.fault_share = 0.0  # this share of requests answered with one of fault_statuses
        self.fault_statuses: tuple[int, ...] = (429, 423)
        self.lost_share = 0.0  # this share of requests performed, then answered 502
        self.lost_answers = 0
        self.injected_faults: dict[int, int] = {}
        self.webhooks: WebhookSender | None = None  # see send_webhooks
        # the property changes the app subscribed to (what `crmbot setup hubspot` creates)
        self.webhook_properties = {"subject", "content", "hs_pipeline_stage", "email"}
        # the public app's webhooks API v3 (hubspot_webhooks.py): `crmbot setup hubspot`
        # creates its settings and subscriptions; events are signed with its client secret
        self.webhook_app = WebhookApp()
        self.app_client_secret: str | None = None
        self._app_sender: WebhookSender | None = None
        self._event_ids = itertools.count(1)

    # -- control: webhooks ------------------------------------------------------------------

    def send_webhooks(self, url: str, client_secret: str, *, delay: float = 0.0) -> WebhookSender:
        """From now on, POST signed (v3) events to `url` on ticket and contact creation and
        property change, as a HubSpot app's webhook subscriptions do; returns the sender
        (its `lose_next`, `duplicate_next` and `delay` are the test's control)."""

        def sign(target: str, body: bytes) -> dict[str, str]:
            from connectors.hubspot.webhook import signature_v3

            stamp = str(int(time.time() * 1000))
            return {
                "X-HubSpot-Signature-v3": signature_v3(client_secret, "POST", target, body, stamp),
                "X-HubSpot-Request-Timestamp": stamp,
                "X-HubSpot-Signature-Version": "v3",
            }

        def merge(bodies: list[bytes]) -> bytes:
            return json.dumps([e for b in bodies for e in json.loads(b)]).encode()

        self.webhooks = WebhookSender(url, sign, delay=delay, merge=merge)
        return self.webhooks

    def stop(self) -> None:
        """Stop calling the app's webhook (if its settings started it), then the server."""
        if self._app_sender is not None:
            self._app_sender.close()
            self._app_sender = None
        super().stop()

    def _event(self, otype: str, oid: str, kind: str, changes: dict[str, Any] | None) -> None:
        sender = self.webhooks
        if sender is None or otype not in ("tickets", "contacts"):
            return
        app = self.webhook_app
        kind_name = f"{otype[:-1]}.{kind}"
        if app.subscriptions:  # subscribed through the webhooks API: only what it asked for
            if changes is None and not app.wants(kind_name, None):
                return
            if changes is not None:
                changes = {k: v for k, v in changes.items() if app.wants(kind_name, k)}
        elif changes is not None:  # only the properties the app subscribed to
            changes = {k: v for k, v in changes.items() if k in self.webhook_properties}
        base = {
            "subscriptionId": 1,
            "portalId": 62515,
            "appId": 54321,
            "occurredAt": int(time.time() * 1000),
            "subscriptionType": f"{otype[:-1]}.{kind}",
            "attemptNumber": 0,
            "objectId": int(oid),
            "changeSource": "CRM",
        }
        events = (
            [{**base, "eventId": next(self._event_ids), "changeFlag": "NEW"}]
            if changes is None
            else [
                {**base, "eventId": next(self._event_ids), "propertyName": k, "propertyValue": v}
                for k, v in changes.items()
            ]
        )
        if events:
            sender.emit(json.dumps(events).encode())

    # -- lifecycle --------------------------------------------------------------------------

    # -- control: data ----------------------------------------------------------------------

    def _new_id(self) -> str:
        return str(next(self._ids))

    def _put(
        self, otype: str, props: dict[str, Any], oid: str | None = None, *, notify: bool = True
    ) -> Obj:
        now = self.clock.time()
        with self._lock:
            oid = oid or self._new_id()
            clean = {k: (None if v is None else str(v)) for k, v in props.items()}
            clean.update(hs_object_id=oid, createdate=iso(now), hs_lastmodifieddate=iso(now))
            if otype == "contacts":
                clean["lastmodifieddate"] = clean.pop("hs_lastmodifieddate")
            obj = Obj(oid, clean, now, now)
            self.objects[otype][oid] = obj
            self._reindex(obj, now)
        if notify:
            self._event(otype, oid, "creation", None)
        return obj

    def _reindex(self, obj: Obj, now: float) -> None:
        obj.index.append((now + self.search_lag, dict(obj.properties), obj.updated))

    def _touch(self, obj: Obj, changes: dict[str, Any]) -> None:
        now = self.clock.time()
        for k, v in changes.items():
            obj.properties[k] = None if v is None or v == "" else str(v)
        obj.updated = max(now, obj.updated + 0.001)
        stamp = "lastmodifieddate" if "lastmodifieddate" in obj.properties else None
        obj.properties[stamp or "hs_lastmodifieddate"] = iso(obj.updated)
        self._reindex(obj, now)
        otype = next((t for t, objs in self.objects.items() if objs.get(obj.id) is obj), "")
        self._event(otype, obj.id, "propertyChange", {k: str(v) for k, v in changes.items()})

    def _link(self, a_type: str, a_id: str, b_type: str, b_id: str, type_id: int) -> None:
        self.assoc.setdefault((a_type, a_id, b_type), {}).setdefault(b_id, []).append(type_id)
        self.assoc.setdefault((b_type, b_id, a_type), {}).setdefault(a_id, []).append(type_id + 1)

    def create_company(self, name: str, domain: str | None = None, **props: Any) -> str:
        """A company; extra properties must be defined (see `define_property`)."""
        return self._put("companies", {"name": name, "domain": domain, **props}).id

    def create_contact(
        self,
        email: str | None,
        firstname: str | None = None,
        lastname: str | None = None,
        phone: str | None = None,
        company_id: str | None = None,
        **props: Any,
    ) -> str:
        """A contact, optionally associated with a company."""
        fields = {"email": email, "firstname": firstname, "lastname": lastname, "phone": phone}
        obj = self._put("contacts", {**fields, **props})
        if company_id:
            with self._lock:
                self._link("contacts", obj.id, "companies", company_id, CONTACT_TO_COMPANY)
        return obj.id

    def create_ticket(
        self,
        subject: str,
        content: str = "",
        *,
        contact_id: str | None = None,
        company_id: str | None = None,
        **props: Any,
    ) -> str:
        """A ticket in the default pipeline, associated with a contact and company if given."""
        base = {"subject": subject, "content": content, "hs_pipeline": "0"}
        obj = self._put("tickets", {**base, "hs_pipeline_stage": "1", **props}, notify=False)
        with self._lock:
            if contact_id:
                self._link("tickets", obj.id, "contacts", contact_id, TICKET_TO_CONTACT)
            if company_id:
                self._link("tickets", obj.id, "companies", company_id, TICKET_TO_COMPANY)
        self._event("tickets", obj.id, "creation", None)
        return obj.id

    def add_email(
        self,
        ticket_id: str,
        text: str,
        *,
        direction: str = "EMAIL",
        owner_id: str | None = None,
        at: float | None = None,
        subject: str = "",
    ) -> str:
        """An e-mail engagement on a ticket: sent from HubSpot (`EMAIL`, by `owner_id`) or
        received (`INCOMING_EMAIL`); associated both ways (email→ticket 223, ticket→email 224)."""
        when = self.clock.time() if at is None else at
        props = {
            "hs_timestamp": iso(when),
            "hs_email_direction": direction,
            "hs_email_text": text,
            "hs_email_subject": subject,
            "hs_email_status": "SENT",
            "hubspot_owner_id": owner_id,
        }
        obj = self._put("emails", props)
        with self._lock:
            self._link("emails", obj.id, "tickets", ticket_id, EMAIL_TO_TICKET)
        return obj.id

    def agent_update(self, otype: str, oid: str, **props: Any) -> None:
        """Someone edits a record in HubSpot's UI: properties change, the record is modified."""
        with self._lock:
            self._touch(self.objects[otype][oid], props)

    def define_property(self, otype: str, name: str, type_: str = "string") -> None:
        """Declare a custom property (as an admin would in HubSpot's settings)."""
        with self._lock:
            self.property_defs[otype][name] = {"name": name, "type": type_, "groupName": "default"}

    def ticket(self, oid: str) -> dict[str, str | None]:
        """A ticket's current properties."""
        with self._lock:
            return dict(self.objects["tickets"][oid].properties)

    def notes_for_ticket(self, ticket_id: str) -> list[str]:
        """Bodies of the notes associated with a ticket."""
        with self._lock:
            linked = self.assoc.get(("tickets", ticket_id, "notes"), {})
            return [self.objects["notes"][n].properties["hs_note_body"] or "" for n in linked]

    # -- control: faults (the contract's ServerControl) ------------------------------------

    def add_records(self, count: int) -> list[str]:
        """Create `count` tickets, each modified after the previous; return their source_ids."""
        out = []
        for i in range(count):
            self._tick()
            tid = self.create_ticket(f"Request {i}", f"Body {i}")
            out.append(f"ticket:{tid}")
        self._tick()
        return out

    def _tick(self) -> None:
        advance = getattr(self.clock, "advance", None)
        if callable(advance):
            advance(0.001)

    def add_malformed_record(self) -> str:
        """A ticket stored with a corrupt `createdate`, as a broken import might leave it."""
        self._tick()
        tid = self.create_ticket("Corrupt", "x")
        with self._lock:
            obj = self.objects["tickets"][tid]
            obj.properties["createdate"] = "31/02/2024 25:61"
            obj.index[-1][1]["createdate"] = "31/02/2024 25:61"
        self._tick()
        return f"ticket:{tid}"

    def fail_with_429(
        self, times: int, retry_after: float | None, policy: str = "TEN_SECONDLY_ROLLING"
    ) -> None:
        """Answer the next `times` requests with 429 (policy TEN_SECONDLY_ROLLING or DAILY)."""
        with self._lock:
            self._faults.status, self._faults.times = 429, times
            self._faults.retry_after = retry_after
            self._faults.policy = policy

    def fail_with_status(self, status: int, times: int, retry_after: float | None = None) -> None:
        """Answer the next `times` requests with `status` (423, 477 with Retry-After, 5xx)."""
        with self._lock:
            self._faults.status, self._faults.times = status, times
            self._faults.retry_after = retry_after

    def before_next(self, route_prefix: str, hook: Callable[[], Any]) -> None:
        """Run `hook` once, just before the next request whose "METHOD route" starts so."""
        with self._lock:
            self._hooks.append((route_prefix, hook))

    def drop_batch_results(self, count: int) -> None:
        """The next batch update or create answers 207 with `count` results left out."""
        with self._lock:
            self._faults.drop_results = count

    def fail_after_performing(self, route_prefix: str, status: int = 502) -> None:
        """Perform the next request whose "METHOD route" starts with the prefix, answer `status`."""
        with self._lock:
            self._faults.after_performing.append((route_prefix, status))

    def clear_faults(self) -> None:
        """Stop injecting errors and loops (a revoked token stays revoked)."""
        with self._lock:
            revoked = self._faults.revoked
            self._faults = Faults(revoked=revoked)

    def revoke_credentials(self) -> None:
        """Answer 401 to every request from now on."""
        with self._lock:
            self._faults.revoked = True

    def loop_pagination(self) -> None:
        """Search answers hand back the same `after` token forever."""
        with self._lock:
            self._faults.loop_pagination = True

    def expire_access_token(self) -> None:
        """The current access token stops working (as an OAuth token does after 30 min)."""
        with self._lock:
            self.token = f"expired-{uuid.uuid4()}"

    def early_retries(self) -> int:
        """Requests that came before a Retry-After this server gave had passed."""
        with self._lock:
            return self._early

    def calls(self, prefix: str = "") -> int:
        """Requests received whose "METHOD /path-pattern" starts with `prefix`."""
        with self._lock:
            return sum(n for k, n in self.requests.items() if k.startswith(prefix))

    # -- request handling -------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        """Route one request; returns (status, JSON body, headers)."""
        now = self.clock.time()
        with self._lock:
            if now < self._not_before - 1e-9:
                self._early += 1
            if path.startswith("/webhooks/v3/"):
                return self._webhooks_api(method, path, query, body, now)
            route, handler, args = self._route(method, path)
            for hook in [h for h in self._hooks if f"{method} {route}".startswith(h[0])]:
                self._hooks.remove(hook)
                hook[1]()
            self.requests[f"{method} {route}"] += 1
            if route == _TOKEN_ROUTE:
                status, out = handler(query, body)
                return status, out, {}
            expired = self.token_expires_at is not None and now >= self.token_expires_at
            if (
                self._faults.revoked
                or expired
                or headers.get("Authorization") != f"Bearer {self.token}"
            ):
                raise ApiError(
                    401,
                    "Authentication credentials not found. This API supports OAuth 2.0 "
                    "authentication and you can find more details at "
                    "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                    "INVALID_AUTHENTICATION",
                )
            if self._faults.times > 0:
                self._faults.times -= 1
                raise self._injected(now)
            if self.fault_share and self._random.random() < self.fault_share:
                status = self._random.choice(self.fault_statuses)
                self.injected_faults[status] = self.injected_faults.get(status, 0) + 1
                raise self._injected(now, status, 2.0 if status == 423 else 1.0)
            limit_headers = self._rate_limit(route, now)
            status, out = handler(query, body, *args)
            if self.lost_share and self._random.random() < self.lost_share:
                self.lost_answers += 1
                raise ApiError(502, "upstream request timeout", "INTERNAL_ERROR")
            key = f"{method} {route}"
            for item in self._faults.after_performing:
                if key.startswith(item[0]):
                    self._faults.after_performing.remove(item)
                    raise ApiError(item[1], "upstream request timeout", "INTERNAL_ERROR")
            return status, out, limit_headers

    def _injected(
        self, now: float, status: int | None = None, retry_after: float | None = None
    ) -> ApiError:
        """The queued (or given) fault, as HubSpot answers it."""
        if status is None:
            status, retry_after = self._faults.status, self._faults.retry_after
        headers = {"Retry-After": _num(retry_after)} if retry_after is not None else {}
        if status == 429:
            daily = self._faults.policy == "DAILY"
            if retry_after is None and not daily:
                retry_after = 1.0
                headers = {"Retry-After": "1"}
            self._not_before = now + (retry_after or 0.0)
            self.rejected_429 += 1
            return ApiError(
                429,
                "You have reached your daily limit."
                if daily
                else "You have reached your ten_secondly_rolling limit.",
                "RATE_LIMITS",
                headers=headers,
                extra={
                    "errorType": "RATE_LIMIT",
                    "policyName": self._faults.policy,
                    "requestId": str(uuid.uuid4()),
                },
            )
        if status == 423:
            return ApiError(
                423,
                "This record is locked by a concurrent write; retry in 2 seconds.",
                "LOCKED",
                headers=headers,
            )
        if status == 477:
            self._not_before = now + (retry_after or 0.0)
            return ApiError(
                477,
                "This account is being migrated between data hosting locations.",
                "MIGRATION_IN_PROGRESS",
                headers=headers,
            )
        return ApiError(status, "internal error", "INTERNAL_ERROR", headers=headers)

    def _rate_limit(self, route: str, now: float) -> dict[str, str]:
        self._general_times = [t for t in self._general_times if t > now - 10.0]
        if route.endswith("/search"):
            self._search_times = [t for t in self._search_times if t > now - 1.0]
            if self.enforce_rate_limits and len(self._search_times) >= self.search_per_second:
                wait = self._search_times[0] + 1.0 - now
                self._not_before = now + wait
                self.rejected_429 += 1
                raise ApiError(
                    429,
                    "You have reached your secondly limit.",
                    "RATE_LIMITS",
                    headers={"Retry-After": _num(wait)},
                    extra={
                        "errorType": "RATE_LIMIT",
                        "policyName": "SECONDLY",
                        "requestId": str(uuid.uuid4()),
                    },
                )
            self._search_times.append(now)
            return {}
        if self.enforce_rate_limits and len(self._general_times) >= self.limit_per_10s:
            wait = self._general_times[0] + 10.0 - now
            self._not_before = now + wait
            self.rejected_429 += 1
            raise ApiError(
                429,
                "You have reached your ten_secondly_rolling limit.",
                "RATE_LIMITS",
                headers={
                    "Retry-After": _num(wait),
                    "X-HubSpot-RateLimit-Max": str(self.limit_per_10s),
                    "X-HubSpot-RateLimit-Remaining": "0",
                    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                },
                extra={
                    "errorType": "RATE_LIMIT",
                    "policyName": "TEN_SECONDLY_ROLLING",
                    "requestId": str(uuid.uuid4()),
                },
            )
        self._general_times.append(now)
        self.general_arrivals.append(now)
        return {
            "X-HubSpot-RateLimit-Max": str(self.limit_per_10s),
            "X-HubSpot-RateLimit-Remaining": str(self.limit_per_10s - len(self._general_times)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        }

    def _route(self, method: str, path: str) -> tuple[str, Callable[..., Any], tuple[str, ...]]:
        for verb, pattern, name in _ROUTES:
            if verb != method:
                continue
            match = re.fullmatch(pattern, path)
            if match:
                return pattern, getattr(self, name), match.groups()
        self.requests[f"{method} {path}"] += 1
        raise ApiError(404, f"No route for {method} {path}", "OBJECT_NOT_FOUND")

    # -- OAuth ------------------------------------------------------------------------------

    def _webhooks_api(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, now: float
    ) -> tuple[int, Any, dict[str, str]]:
        """The app's webhook settings and subscriptions (hubspot_webhooks.py); once the app
        has a target URL and subscriptions, events go there, signed with its client secret."""
        self.requests[f"{method} /webhooks/v3/{{appId}}/{'/'.join(path.split('/')[4:5])}"] += 1
        try:
            status, out = self.webhook_app.handle(
                method, path, query, body, iso(now), self.property_defs
            )
        except WebhookApiError as err:
            raise ApiError(err.status, err.message, err.category) from None
        settings = self.webhook_app.settings
        secret = self.app_client_secret
        if method != "GET" and settings and secret and self.webhook_app.subscriptions:
            target = settings["targetUrl"]
            if self.webhooks is None or self.webhooks.url != target:
                if self.webhooks is not None:
                    self.webhooks.close()
                self._app_sender = self.send_webhooks(target, secret)
        return status, out, {}

    def _oauth_token(self, _q: Any, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or self.oauth_client is None:
            raise ApiError(400, "missing or unknown grant", "BAD_REQUEST")
        client_id, secret, refresh = self.oauth_client
        if body.get("grant_type") != "refresh_token":
            raise ApiError(400, "grant_type must be refresh_token", "BAD_GRANT_TYPE")
        if (body.get("client_id"), body.get("client_secret")) != (client_id, secret):
            raise ApiError(400, "invalid client", "BAD_CLIENT_ID")
        if body.get("refresh_token") != refresh:
            if body.get("refresh_token") in self.retired_refresh_tokens:
                self.stale_refresh_reuses += 1
            raise ApiError(400, "missing or unknown refresh token", "BAD_REFRESH_TOKEN")
        self.tokens_issued += 1
        self.token = f"oauth-access-{self.tokens_issued}-{uuid.uuid4().hex[:8]}"
        self.token_expires_at = self.clock.time() + self.token_expires_in
        if self.rotate_refresh_tokens:
            self.retired_refresh_tokens.add(refresh)
            refresh = f"oauth-refresh-{self.tokens_issued}-{uuid.uuid4().hex[:8]}"
            self.oauth_client = (client_id, secret, refresh)
        return 200, {
            "token_type": "bearer",
            "refresh_token": refresh,
            "access_token": self.token,
            "expires_in": self.token_expires_in,
        }

    def token_refreshes(self) -> int:
        """Requests that reached the OAuth token endpoint."""
        return self.calls(f"POST {_TOKEN_ROUTE}")

    def busiest_window(self, seconds: float = 10.0) -> int:
        """The most ten-secondly-limited requests that arrived within any `seconds` window."""
        with self._lock:
            times = sorted(self.general_arrivals)
        best, start = 0, 0
        for end, moment in enumerate(times):
            while times[start] <= moment - seconds:
                start += 1
            best = max(best, end - start + 1)
        return best

    # -- properties -------------------------------------------------------------------------

    def _check_type(self, otype: str) -> None:
        if otype not in self.objects:
            raise validation(f"Unable to infer object type from: {otype}")

    def _create_group(self, _q: Any, body: Any, otype: str) -> tuple[int, Any]:
        self._check_type(otype)
        name = _require(body, "name")
        _require(body, "label")
        if name in self.groups[otype]:
            raise ApiError(
                409, f"A property group named '{name}' already exists.", "OBJECT_ALREADY_EXISTS"
            )
        self.groups[otype].add(name)
        return 201, {"name": name, "label": body["label"], "displayOrder": -1, "archived": False}

    def _create_property(self, _q: Any, body: Any, otype: str) -> tuple[int, Any]:
        self._check_type(otype)
        name = _require(body, "name")
        for key in ("label", "type", "fieldType", "groupName"):
            _require(body, key)
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise validation(f"Property name '{name}' is invalid")
        if body["type"] not in VALID_FIELD_TYPES:
            raise validation(f"Invalid type '{body['type']}'")
        if body["fieldType"] not in VALID_FIELD_TYPES[body["type"]]:
            raise validation(f"fieldType {body['fieldType']} is invalid for type {body['type']}")
        if body["groupName"] not in self.groups[otype]:
            raise validation(f"Property group '{body['groupName']}' does not exist")
        if body["type"] == "enumeration" and not body.get("options"):
            raise validation("Enumeration properties need options")
        if name in self.property_defs[otype]:
            raise ApiError(
                409,
                f"Property with name '{name}' already exists in {otype}",
                "OBJECT_ALREADY_EXISTS",
            )
        self.property_defs[otype][name] = {
            "name": name,
            "type": body["type"],
            "groupName": body["groupName"],
            "options": body.get("options", []),
        }
        return 201, {**body, "archived": False, "hidden": False}

    def _list_properties(self, _q: Any, _b: Any, otype: str) -> tuple[int, Any]:
        self._check_type(otype)
        return 200, {"results": list(self.property_defs[otype].values())}

    # -- objects ----------------------------------------------------------------------------

    def _validate_props(self, otype: str, props: Any, *, creating: bool) -> dict[str, Any]:
        if not isinstance(props, dict):
            raise validation("Invalid input JSON: properties must be an object")
        errors = []
        for name, value in props.items():
            spec = self.property_defs[otype].get(name)
            if spec is None:
                errors.append(
                    {
                        "isValid": False,
                        "message": f'Property "{name}" does not exist',
                        "error": "PROPERTY_DOESNT_EXIST",
                        "name": name,
                    }
                )
            elif name in READ_ONLY:
                errors.append(
                    {
                        "isValid": False,
                        "message": f'"{name}" is a read only property; its value cannot be set.',
                        "error": "READ_ONLY_VALUE",
                        "name": name,
                    }
                )
            elif value not in (None, "") and not _valid_value(spec, value):
                errors.append(
                    {
                        "isValid": False,
                        "message": f"{value!r} is not a valid {spec['type']} for {name}",
                        "error": "INVALID_" + spec["type"].upper(),
                        "name": name,
                    }
                )
        if errors:
            raise validation(f"Property values were not valid: {json.dumps(errors)}")
        return props

    def _get(self, otype: str, oid: str) -> Obj:
        oid = self.merged.get(oid, oid)
        obj = self.objects[otype].get(oid)
        if obj is None or obj.archived:
            raise ApiError(404, "", "OBJECT_NOT_FOUND")
        return obj

    def _get_object(
        self, q: dict[str, list[str]], _b: Any, otype: str, oid: str
    ) -> tuple[int, Any]:
        self._check_type(otype)
        names = _csv(q.get("properties", []))
        return 200, self._get(otype, oid).body(names or None)

    def _create_object(self, _q: Any, body: Any, otype: str) -> tuple[int, Any]:
        self._check_type(otype)
        props, links = self._check_create(otype, body)
        return 201, self._create(otype, props, links)

    def _batch_create(self, _q: Any, body: Any, otype: str) -> tuple[int, Any]:
        self._check_type(otype)
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            raise validation("Invalid input JSON: inputs is required")
        if len(body["inputs"]) > BATCH_MAX:
            raise validation(f"Batch input is limited to {BATCH_MAX} inputs")
        traced = all(isinstance(i, dict) and i.get("objectWriteTraceId") for i in body["inputs"])
        if not traced:  # without trace ids one bad input fails the whole batch (400)
            checked = [self._check_create(otype, item) for item in body["inputs"]]
            results = [self._create(otype, props, links) for props, links in checked]
            return self._batch_answer(results, [], created=True)
        # with objectWriteTraceId on every input: multi-status, one error per failed input
        results, errors = [], []
        for item in body["inputs"]:
            trace = str(item["objectWriteTraceId"])
            try:
                props, links = self._check_create(otype, item)
            except ApiError as err:
                errors.append(
                    {
                        "status": "error",
                        "category": err.category,
                        "message": err.message,
                        "context": {"objectWriteTraceId": [trace]},
                    }
                )
                continue
            made = self._create(otype, props, links)
            made["objectWriteTraceId"] = trace
            results.append(made)
        return self._batch_answer(results, errors, created=True)

    def _create(
        self, otype: str, props: dict[str, Any], links: list[tuple[str, str, int]]
    ) -> dict[str, Any]:
        obj = self._put(otype, props)
        for target, to_id, type_id in links:
            self._link(otype, obj.id, target, to_id, type_id)
        return obj.body(list(props))

    def _check_create(
        self, otype: str, body: Any
    ) -> tuple[dict[str, Any], list[tuple[str, str, int]]]:
        if not isinstance(body, dict):
            raise validation("Invalid input JSON")
        props = self._validate_props(otype, body.get("properties", {}), creating=True)
        if otype == "notes" and not props.get("hs_timestamp"):
            raise validation(
                'Property values were not valid: [{"isValid":false,"message":"hs_timestamp is '
                'required","error":"REQUIRED_PROPERTY","name":"hs_timestamp"}]'
            )
        links = []
        for item in body.get("associations") or []:
            to_id = str(((item or {}).get("to") or {}).get("id", ""))
            types = (item or {}).get("types") or []
            if not types:
                raise validation("associations need at least one type")
            for t in types:
                if t.get("associationCategory") not in {"HUBSPOT_DEFINED", "USER_DEFINED"}:
                    raise validation(f"invalid associationCategory {t.get('associationCategory')}")
                type_id = t.get("associationTypeId")
                allowed = {
                    "notes": {NOTE_TO_TICKET: "tickets"},
                    "tickets": {TICKET_TO_CONTACT: "contacts"},
                }
                target = allowed.get(otype, {}).get(type_id)
                if target is None:
                    raise validation(f"association type id {type_id} is not valid for {otype}")
                if to_id not in self.objects[target]:
                    raise validation(f"One or more associations are invalid: {to_id} not found")
                links.append((target, to_id, type_id))
        return props, links

    def _batch_inputs(self, body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            raise validation("Invalid input JSON: inputs is required")
        inputs = body["inputs"]
        if len(inputs) > BATCH_MAX:
            raise validation(f"Batch input is limited to {BATCH_MAX} inputs; got {len(inputs)}")
        for item in inputs:
            if not isinstance(item, dict) or not str(item.get("id", "")).strip():
                raise validation("Each input needs an id")
        return inputs

    def _by_email(self, otype: str, email: str) -> str:
        if otype != "contacts":
            raise validation("idProperty email is for contacts")
        with self._lock:
            for obj in self.objects["contacts"].values():
                if (obj.properties.get("email") or "").lower() == email.lower():
                    return obj.id
        raise ApiError(404, "not found", "OBJECT_NOT_FOUND")

    def _batch_read(self, _q: Any, body: Any, otype: str) -> tuple[int, Any]:
        self._check_type(otype)
        inputs = self._batch_inputs(body)
        names = body.get("properties") or []
        id_property = body.get("idProperty")
        if id_property is not None and id_property not in ("hs_object_id", "email"):
            raise validation(f"{id_property} is not a unique identifier property")
        results, missing = [], []
        for item in inputs:
            oid = str(item["id"])
            try:
                if id_property == "email":  # contacts only: unique, matched case-insensitively
                    oid = self._by_email(otype, oid)
                results.append(self._get(otype, oid).body(names))
            except ApiError:
                missing.append(str(item["id"]))
        if self.shuffle_results:
            self._random.shuffle(results)
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, **_times(self.clock)}
        if missing:
            out["numErrors"] = 1
            out["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": f"Could not get some {otype.upper()[:-1]} objects, they may be "
                    "deleted or not exist. Check that ids are valid.",
                    "context": {"ids": missing},
                }
            ]
            return 207, out
        return 200, out

    def _batch_update(self, _q: Any, body: Any, otype: str) -> tuple[int, Any]:
        self._check_type(otype)
        inputs = self._batch_inputs(body)
        ids = [str(i["id"]) for i in inputs]
        if len(set(ids)) != len(ids):
            raise validation("Duplicate IDs found in batch input: " + ",".join(sorted(ids)))
        for item in inputs:
            self._validate_props(otype, item.get("properties", {}), creating=False)
        found: list[tuple[Obj, dict[str, Any]]] = []
        missing: list[str] = []
        for oid, item in zip(ids, inputs, strict=True):
            try:
                found.append((self._get(otype, oid), item))
            except ApiError:
                if self.missing_ids_answer != "207":
                    msg = f"Object {oid} does not exist"
                    raise validation(msg, subCategory="OBJECT_NOT_FOUND") from None
                missing.append(oid)
        results = []
        for obj, item in found:
            self._touch(obj, item.get("properties", {}))
            results.append(obj.body(list(item.get("properties", {}))))
        errors = []
        if missing:
            errors.append(
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": f"Could not get some {otype} objects, they may be deleted or "
                    "not exist. Check that ids are valid.",
                    "context": {"ids": missing},
                }
            )
        return self._batch_answer(results, errors)

    def _batch_answer(
        self, results: list[dict[str, Any]], errors: list[dict[str, Any]], created: bool = False
    ) -> tuple[int, Any]:
        """A batch answer: 200/201, or 207 with `errors` when some inputs failed or got lost."""
        if self._faults.drop_results:
            count = min(self._faults.drop_results, len(results))
            self._faults.drop_results = 0
            if count:
                results = results[:-count]  # performed, but absent from the answer
                errors = [
                    *errors,
                    {
                        "status": "error",
                        "category": "INTERNAL_ERROR",
                        "message": "Some results could not be returned",
                        "context": {},
                    },
                ]
        if self.shuffle_results:
            results = list(results)
            self._random.shuffle(results)
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, **_times(self.clock)}
        if errors:
            out["numErrors"] = len(errors)
            out["errors"] = errors
            return 207, out
        return (201 if created else 200), out

    def _patch_object(self, _q: Any, body: Any, otype: str, oid: str) -> tuple[int, Any]:
        self._check_type(otype)
        if not isinstance(body, dict):
            raise validation("Invalid input JSON")
        props = self._validate_props(otype, body.get("properties", {}), creating=False)
        obj = self._get(otype, oid)
        self._touch(obj, props)
        return 200, obj.body(list(props))

    def _merge(self, _q: Any, body: Any, otype: str) -> tuple[int, Any]:
        self._check_type(otype)
        primary = str(_require(body, "primaryObjectId"))
        other = str(_require(body, "objectIdToMerge"))
        if primary == other:
            raise validation("Cannot merge an object into itself")
        keep = self._get(otype, primary)
        gone = self._get(otype, other)
        gone.archived = True
        self.merged[other] = primary
        for (a_type, a_id, b_type), links in list(self.assoc.items()):
            if a_type == otype and a_id == other:
                for b_id, types in links.items():
                    for t in types:
                        self._link(otype, primary, b_type, b_id, t)
        merged = [m for m in (keep.properties.get("hs_merged_object_ids") or "").split(";") if m]
        self._touch(keep, {"hs_merged_object_ids": ";".join([*merged, other])})
        return 200, keep.body(None)

    # -- search -----------------------------------------------------------------------------

    def _search(self, _q: Any, body: Any, otype: str) -> tuple[int, Any]:
        self._check_type(otype)
        if not isinstance(body, dict):
            raise validation("Invalid input JSON")
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or not 1 <= limit <= SEARCH_MAX_LIMIT:
            raise validation(f"limit must be between 1 and {SEARCH_MAX_LIMIT}")
        after_raw = body.get("after") or "0"
        if not str(after_raw).isdigit():
            raise validation(f"Invalid paging token after={after_raw}")
        after = int(after_raw)
        if after + limit > self.search_window:
            raise validation(
                f"Cannot page beyond {self.search_window} results; narrow the search",
                subCategory="SEARCH_PAGING_LIMIT",
            )
        groups = body.get("filterGroups") or []
        if len(groups) > MAX_FILTER_GROUPS:
            raise validation(f"Too many filter groups (max {MAX_FILTER_GROUPS})")
        total_filters = 0
        for group in groups:
            filters = group.get("filters") or []
            total_filters += len(filters)
            if len(filters) > MAX_FILTERS_PER_GROUP:
                raise validation(f"Too many filters in a group (max {MAX_FILTERS_PER_GROUP})")
            for f in filters:
                if f.get("propertyName") not in self.property_defs[otype]:
                    raise validation(f"Unknown property {f.get('propertyName')}")
                if f.get("operator") not in _OPERATORS:
                    raise validation(f"Unknown operator {f.get('operator')}")
        if total_filters > MAX_FILTERS_TOTAL:
            raise validation(f"Too many filters (max {MAX_FILTERS_TOTAL})")
        sorts = body.get("sorts") or []
        if len(sorts) > 1:
            raise validation("Only one sort is supported")
        names = body.get("properties") or SEARCH_DEFAULTS.get(otype, [])
        now = self.clock.time()
        rows = []
        for obj in self.objects[otype].values():
            visible = [v for v in obj.index if v[0] <= now]
            if not visible or obj.archived:
                continue
            _, props, updated = visible[-1]
            if groups and not any(_matches(props, g.get("filters") or []) for g in groups):
                continue
            rows.append((obj, props, updated))
        if sorts:
            name = sorts[0].get("propertyName")
            desc = sorts[0].get("direction") == "DESCENDING"
            rows.sort(key=lambda r: (_sort_key(r[1].get(name)), int(r[0].id)), reverse=desc)
        else:
            rows.sort(key=lambda r: int(r[0].id))
        page = rows[after : after + limit]
        out: dict[str, Any] = {
            "total": len(rows),
            "results": [_shape(o.id, p, o.created, u, names) for o, p, u in page],
        }
        if self._faults.loop_pagination:
            out["paging"] = {"next": {"after": str(after or limit)}}
        elif after + limit < len(rows):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return 200, out

    # -- associations v4 --------------------------------------------------------------------

    def _assoc_batch_read(self, _q: Any, body: Any, from_type: str, to_type: str) -> Any:
        self._check_type(from_type)
        self._check_type(to_type)
        inputs = self._batch_inputs(body)
        results = []
        for item in inputs:
            fid = str(item["id"])
            links = list(self.assoc.get((from_type, fid, to_type), {}).items())
            if not links:
                continue
            start = _assoc_offset(item.get("after"))
            size = self.assoc_page_size or len(links)
            page = links[start : start + size]
            result: dict[str, Any] = {
                "from": {"id": fid},
                "to": [
                    {
                        "toObjectId": int(tid),
                        "associationTypes": [
                            {"category": "HUBSPOT_DEFINED", "typeId": t, "label": None}
                            for t in types
                        ],
                    }
                    for tid, types in page
                ],
            }
            if start + size < len(links):  # "paging" is present only when there is more
                result["paging"] = {"next": {"after": _assoc_token(start + size), "link": None}}
            results.append(result)
        if self.shuffle_results:
            self._random.shuffle(results)
        return 200, {"status": "COMPLETE", "results": results, **_times(self.clock)}


_OPERATORS = {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "HAS_PROPERTY", "NOT_HAS_PROPERTY", "IN"}

_TOKEN_ROUTE = r"/oauth/v1/token"
_ROUTES: list[tuple[str, str, str]] = [
    ("POST", _TOKEN_ROUTE, "_oauth_token"),
    ("POST", r"/crm/v3/properties/(\w+)/groups", "_create_group"),
    ("POST", r"/crm/v3/properties/(\w+)", "_create_property"),
    ("GET", r"/crm/v3/properties/(\w+)", "_list_properties"),
    ("POST", r"/crm/v3/objects/(\w+)/search", "_search"),
    ("POST", r"/crm/v3/objects/(\w+)/batch/read", "_batch_read"),
    ("POST", r"/crm/v3/objects/(\w+)/batch/update", "_batch_update"),
    ("POST", r"/crm/v3/objects/(\w+)/merge", "_merge"),
    ("POST", r"/crm/v3/objects/(\w+)/batch/create", "_batch_create"),
    ("POST", r"/crm/v3/objects/(\w+)", "_create_object"),
    ("GET", r"/crm/v3/objects/(\w+)/(\d+)", "_get_object"),
    ("PATCH", r"/crm/v3/objects/(\w+)/(\d+)", "_patch_object"),
    ("POST", r"/crm/v4/associations/(\w+)/(\w+)/batch/read", "_assoc_batch_read"),
]


def _assoc_token(offset: int) -> str:
    """An opaque per-result paging token (HubSpot's look base64; callers must not parse them)."""
    return base64.urlsafe_b64encode(f"assoc-{offset}".encode()).decode()


def _assoc_offset(token: Any) -> int:
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(str(token).encode()).decode()
        return int(raw.removeprefix("assoc-"))
    except (ValueError, UnicodeDecodeError):
        raise validation(f"Invalid paging token after={token}") from None


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def _times(clock: Clock) -> dict[str, str]:
    stamp = iso(clock.time())
    return {"startedAt": stamp, "completedAt": stamp}


def _require(body: Any, key: str) -> Any:
    if not isinstance(body, dict) or body.get(key) in (None, ""):
        raise validation(f"Missing required field: {key}")
    return body[key]


def _csv(values: list[str]) -> list[str]:
    return [p for v in values for p in v.split(",") if p]


def _valid_value(spec: dict[str, Any], value: Any) -> bool:
    kind = spec["type"]
    if kind == "number":
        try:
            float(str(value))
        except ValueError:
            return False
        return True
    if kind in {"datetime", "date"}:
        return parse_when(value) is not None
    if kind == "enumeration" and spec.get("options"):
        allowed = {o.get("value") for o in spec["options"]}
        return all(part in allowed for part in str(value).split(";"))
    return True


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (1, 0)
    when = parse_when(value)
    if when is not None:
        return (0, when)
    return (0, str(value))


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "HAS_PROPERTY":
        return actual not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return actual in (None, "")
    if actual in (None, ""):
        return False
    left, right = parse_when(actual), parse_when(expected)
    if left is None or right is None:
        left, right = str(actual), str(expected)
    return {
        "EQ": left == right,
        "NEQ": left != right,
        "LT": left < right,
        "LTE": left <= right,
        "GT": left > right,
        "GTE": left >= right,
    }.get(op, False)


def _matches(props: dict[str, Any], filters: list[dict[str, Any]]) -> bool:
    for f in filters:
        op = f["operator"]
        actual = props.get(f["propertyName"])
        if op == "IN":
            if str(actual) not in {str(v) for v in f.get("values") or []}:
                return False
        elif not _compare(actual, op, f.get("value")):
            return False
    return True


class _Handler(BaseHTTPRequestHandler):
    """Serves FakeHubSpot over HTTP."""

    owner: FakeHubSpot
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        """Send small responses at once (no Nagle delay on loopback)."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers: dict[str, str] = {}
        try:
            body = _decode(raw, self.headers.get("Content-Type") or "")
        except ValueError:
            status, out = 400, _error_body(validation("Invalid input JSON"))
        else:
            try:
                status, out, headers = self.owner.handle(
                    method, parts.path, parse_qs(parts.query), self.headers, body
                )
            except ApiError as err:
                status, out, headers = err.status, _error_body(err), err.headers
        payload = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        """GET."""
        self._serve("GET")

    def do_POST(self) -> None:
        """POST."""
        self._serve("POST")

    def do_PATCH(self) -> None:
        """PATCH."""
        self._serve("PATCH")

    def do_PUT(self) -> None:
        """PUT."""
        self._serve("PUT")


def _decode(raw: bytes, content_type: str) -> Any:
    """A request body: form fields (the OAuth token endpoint) or JSON."""
    if "x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(raw.decode()))
    return json.loads(raw) if raw else None


def _error_body(err: ApiError) -> dict[str, Any]:
    return {
        "status": "error",
        "message": err.message,
        "correlationId": str(uuid.uuid4()),
        "category": err.category,
        **err.extra,
    }


def settings_for(fake: FakeHubSpot, **overrides: Any) -> Any:
    """HubSpotSettings pointing at `fake` with its token (test helper)."""
    from connectors.hubspot.settings import HubSpotSettings

    values: dict[str, Any] = {
        "type": "hubspot",
        "base_url": fake.url,
        "token": fake.token,
        "search_lag_seconds": 5.0,
    }
    values.update(overrides)
    return HubSpotSettings(**values)


FakeHubSpot.handler_class = _Handler
