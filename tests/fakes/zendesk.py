"""A stateful fake of the Zendesk Support API on loopback, for tests that cannot reach Zendesk.

It follows the public API reference for the endpoints crmbot uses, and rejects what the real
API rejects:

- `GET /api/v2/incremental/tickets/cursor.json` and `/incremental/users/cursor.json`:
  `start_time` (first call) or `cursor`, `per_page` <= 1000, `include=users,organizations`
  sideloads; items changed in the last minute are held back; `after_cursor`, `after_url`,
  `end_of_stream`; 10 requests per minute, then 429 with `Retry-After`.
- `GET /api/v2/tickets/{id}.json`, `GET /api/v2/tickets/show_many.json?ids=` (<= 100),
  `PUT /api/v2/tickets/{id}.json` (comment, priority, tags, additional_tags, remove_tags,
  group_id, assignee_id, assignee_email, custom_fields,
  `safe_update` + `updated_stamp` -> 409 UpdateConflict),
  `PUT /api/v2/tickets/update_many.json` (<= 100 tickets, else 400; answers a job_status),
  `POST /api/v2/tickets/{id}/merge.json` (<= 5 sources; answers a job_status),
  `GET /api/v2/job_statuses/{id}.json`, `GET /api/v2/tickets/{id}/comments.json`,
  `GET /api/v2/users/me.json`.
- The webhooks and triggers APIs `crmbot setup zendesk` uses (`zendesk_webhooks.py`); a
  trigger that notifies a webhook makes the fake call it, signed, as Zendesk does.
- Basic auth `email/token:TOKEN` or `Authorization: Bearer TOKEN`; anything else is 401 with
  `{"error": "Couldn't authenticate you"}`. Errors are `{"error": ..., "description": ...}`.

Control methods (for tests and the contract suite) change the state directly, inject faults,
and count requests. Time comes from a kit `Clock` so a test can share a FakeClock with the
client: Retry-After, the one-minute hold-back and the rate windows all follow it.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import json
import math
import random
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connectors.kit.clock import SYSTEM_CLOCK, Clock
from tests.fakes.loopback import ByteHandler, LoopbackHttpServer
from tests.fakes.webhooks import WebhookSender
from tests.fakes.zendesk_webhooks import Hooks, ZendeskApiError

EMAIL = "agent@example.com"
TOKEN = "zd-test-token-0123456789"
OAUTH_TOKEN = "zd-oauth-access-0123456789"

PRIORITIES = (None, "low", "normal", "high", "urgent")
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
MAX_EXPORT_PAGE = 1000
MAX_BULK = 100
MAX_MERGE_SOURCES = 5


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _encode_cursor(stamp: int, item_id: int) -> str:
    return base64.urlsafe_b64encode(f"{stamp}.0||{item_id}|".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, int] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, rest = raw.partition("||")
        return int(float(stamp)), int(rest.strip("|"))
    except (ValueError, UnicodeDecodeError):
        return None


class _JobFailed(Exception):
    """A background job ends with status "failed"; the message is the job's `message`."""


class ApiError(Exception):
    """An error answer: HTTP status, Zendesk's `error` and `description`, extra headers."""

    def __init__(
        self,
        status: int,
        error: str,
        description: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        details: Any = None,
        text: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.description = description
        self.headers = headers or {}
        self.details = details
        self.text = text
        self.body = body  # an answer of another shape (the webhooks API's `errors`)


@dataclass
class Fault:
    """A queued failure: answer `remaining` API requests with `status` (and Retry-After)."""

    status: int
    remaining: int
    retry_after: float | None = None


@dataclass
class RequestLog:
    """One request the fake answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int
    at: float


@dataclass
class _State:
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    organizations: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # generated_timestamp of each exportable item, per resource
    stamps: dict[str, dict[int, int]] = field(default_factory=lambda: {"tickets": {}, "users": {}})


class FakeZendesk(LoopbackHttpServer):
    """The fake server: start it, point a connector at `url`, drive it with the control methods."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        email: str = EMAIL,
        token: str = TOKEN,
        oauth_token: str = OAUTH_TOKEN,
        requests_per_minute: int = 700,
        export_requests_per_minute: int = 10,
        hold_back_seconds: float = 60.0,
        job_polls_before_done: int = 1,
        oauth_client: tuple[str, str, str] | None = None,
    ) -> None:
        self.clock = clock or SYSTEM_CLOCK
        self.email = email
        self.token = token
        self.oauth_token = oauth_token
        self.requests_per_minute = requests_per_minute
        self.export_requests_per_minute = export_requests_per_minute
        self.hold_back_seconds = hold_back_seconds
        self.job_polls_before_done = job_polls_before_done
        self.lock = threading.RLock()
        self.state = _State()
        self.requests: list[RequestLog] = []
        self._faults: deque[Fault] = deque()
        self._revoked = False
        self._loop_cursor = False
        self._hooks: list[tuple[str, str, Callable[[], Any]]] = []
        self._unavailable: set[str] = set()  # path prefixes answered 503 until made available
        self._general_window: deque[float] = deque()
        self._export_window: deque[float] = deque()
        self._retry_not_before = 0.0
        self._early = 0
        self._next_id = 1000
        self._job_seq = 0
        self.oauth_client = oauth_client  # (client_id, client_secret, refresh_token)
        self.tokens_issued = 0
        self.token_requests: list[tuple[str, bytes]] = []  # (content type, body)
        # switchable vendor answers (see the control methods below)
        self.fail_merge_jobs: str | None = None  # job "failed" with this message
        self.fail_update_jobs: str | None = None  # whole update_many job "failed"
        self._fail_after: list[tuple[str, str, int]] = []  # performed, then answered an error
        self.fault_share = 0.0  # this share of API requests answered 429 with Retry-After
        self.lost_share = 0.0  # this share performed, then answered 502
        self.lost_answers = 0
        self.injected_faults: dict[int, int] = {}
        self._random = random.Random(9)
        self.webhooks: WebhookSender | None = None  # see send_webhooks
        # webhooks and triggers created through the API (zendesk_webhooks.py), and the senders
        # that call those webhooks, per (endpoint, signing secret)
        self.hooks = Hooks()
        self._trigger_senders: dict[tuple[str, str], WebhookSender] = {}

    # -- control: webhooks ------------------------------------------------------------------

    def send_webhooks(self, url: str, signing_secret: str, *, delay: float = 0.0) -> WebhookSender:
        """From now on, POST a signed notification to `url` when a ticket is created or
        changed, as a webhook and its trigger do; returns the sender (the test's control)."""

        self.webhooks = _signed_sender(url, signing_secret, delay)
        return self.webhooks

    def _notify(self, ticket_id: int, event: str) -> None:
        if self.webhooks is not None:
            body = {"ticket_id": ticket_id, "event": event}
            self.webhooks.emit(json.dumps(body).encode())
        update_type = "Create" if event == "ticket.created" else "Change"
        for endpoint, secret, payload in self.hooks.notifications(ticket_id, update_type):
            sender = self._trigger_senders.get((endpoint, secret))
            if sender is None:  # the first call of a webhook a trigger set up through the API
                sender = self._trigger_senders[(endpoint, secret)] = _signed_sender(
                    endpoint, secret
                )
            sender.emit(payload)

    def stop(self) -> None:
        """Stop the webhooks that triggers call, then the server."""
        for sender in self._trigger_senders.values():
            sender.close()
        self._trigger_senders.clear()
        super().stop()

    # -- lifecycle --------------------------------------------------------------------------

    # -- control: data ----------------------------------------------------------------------

    def now(self) -> float:
        """The fake's wall time (from its clock)."""
        return self.clock.time()

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _touch(self, resource: str, item: dict[str, Any]) -> None:
        now = self.now()
        item["updated_at"] = _iso(now)
        self.state.stamps[resource][item["id"]] = int(now)
        if resource == "tickets":
            item["generated_timestamp"] = int(now)

    def add_organization(
        self,
        name: str,
        *,
        domain_names: list[str] | None = None,
        tier: str | None = None,
        strategic: bool = False,
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        """Create an organization with `organization_fields` tier/strategic."""
        with self.lock:
            org_id = self._new_id()
            org = {
                "id": org_id,
                "url": f"{self.url}/api/v2/organizations/{org_id}.json",
                "name": name,
                "domain_names": list(domain_names or []),
                "tags": list(tags or []),
                "organization_fields": {"tier": tier, "strategic": strategic},
                "created_at": _iso(self.now()),
                "updated_at": _iso(self.now()),
            }
            self.state.organizations[org_id] = org
            return dict(org)

    def add_user(
        self,
        name: str,
        email: str | None,
        *,
        phone: str | None = None,
        organization_id: int | None = None,
        tier: str | None = None,
        vip: bool = False,
        role: str = "end-user",
    ) -> dict[str, Any]:
        """Create a user with `user_fields` tier/vip."""
        with self.lock:
            user_id = self._new_id()
            user = {
                "id": user_id,
                "url": f"{self.url}/api/v2/users/{user_id}.json",
                "name": name,
                "email": email,
                "phone": phone,
                "role": role,
                "organization_id": organization_id,
                "tags": [],
                "user_fields": {"tier": tier, "vip": vip},
                "active": True,
                "created_at": _iso(self.now()),
            }
            self._touch("users", user)
            self.state.users[user_id] = user
            return dict(user)

    def _search_users(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        """`query=email:<address>` (the only form crmbot uses), exact and case-insensitive."""
        text = query.get("query", [""])[0]
        if not text.startswith("email:"):
            raise ApiError(400, "InvalidQuery", "only email: queries are faked")
        address = text.removeprefix("email:").lower()
        found = [u for u in self.state.users.values() if (u.get("email") or "").lower() == address]
        return [dict(u) for u in found]

    def _update_user(self, user_id: str, payload: Any) -> dict[str, Any]:
        """PUT users/{id}: top-level attributes and `user_fields` merged in."""
        user = self.state.users.get(int(user_id)) if user_id.isdigit() else None
        if user is None:
            raise ApiError(404, "RecordNotFound", "Not found")
        changes = dict((payload or {}).get("user") or {})
        fields = changes.pop("user_fields", None) or {}
        user.update({k: v for k, v in changes.items() if k in ("email", "phone", "name")})
        user["user_fields"] = {**(user.get("user_fields") or {}), **fields}
        self._touch("users", user)
        return dict(user)

    def add_ticket(
        self,
        subject: str,
        description: str,
        *,
        requester_id: int,
        status: str = "new",
        priority: str | None = None,
        tags: list[str] | None = None,
        custom_fields: dict[int, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a ticket whose first comment is `description` (as an end user would)."""
        with self.lock:
            ticket_id = self._new_id()
            requester = self.state.users.get(requester_id)
            ticket = {
                "id": ticket_id,
                "url": f"{self.url}/api/v2/tickets/{ticket_id}.json",
                "external_id": None,
                "type": None,
                "subject": subject,
                "raw_subject": subject,
                "description": description,
                "priority": priority,
                "status": status,
                "requester_id": requester_id,
                "submitter_id": requester_id,
                "assignee_id": None,
                "organization_id": requester.get("organization_id") if requester else None,
                "group_id": None,
                "tags": list(tags or []),
                "custom_fields": [
                    {"id": fid, "value": value} for fid, value in (custom_fields or {}).items()
                ],
                "via": {"channel": "web"},
                "created_at": _iso(self.now()),
            }
            self._touch("tickets", ticket)
            self.state.tickets[ticket_id] = ticket
            self.state.comments[ticket_id] = [
                {
                    "id": self._new_id(),
                    "type": "Comment",
                    "author_id": requester_id,
                    "body": description,
                    "public": True,
                    "created_at": ticket["created_at"],
                }
            ]
        self._notify(ticket_id, "ticket.created")
        return dict(ticket)

    def add_raw_ticket(self, ticket: dict[str, Any]) -> int:
        """Store a ticket exactly as given (for malformed records); it is exported like others."""
        with self.lock:
            ticket_id = int(ticket.get("id") or self._new_id())
            stored = {**ticket, "id": ticket_id}
            self.state.tickets[ticket_id] = stored
            now = int(self.now())
            self.state.stamps["tickets"][ticket_id] = now
            stored.setdefault("generated_timestamp", now)
            self.state.comments.setdefault(ticket_id, [])
            return ticket_id

    def agent_update(self, ticket_id: int, **changes: Any) -> dict[str, Any]:
        """Change a ticket as an agent would in the UI (bumps updated_at)."""
        with self.lock:
            ticket = self.state.tickets[ticket_id]
            if "custom_fields" in changes:
                _set_custom_fields(ticket, changes.pop("custom_fields"))
            ticket.update(changes)
            self._touch("tickets", ticket)
        self._notify(ticket_id, "ticket.changed")
        return dict(ticket)

    def add_comment(
        self, ticket_id: int, body: str, *, author_id: int, public: bool = True
    ) -> dict[str, Any]:
        """A comment on a ticket as its author would write it (an agent's reply or note, an
        end user's message); the ticket's updated_at moves."""
        with self.lock:
            comment = {
                "id": self._new_id(),
                "type": "Comment",
                "author_id": author_id,
                "body": body,
                "public": public,
                "created_at": _iso(self.now()),
            }
            self.state.comments.setdefault(ticket_id, []).append(comment)
            self._touch("tickets", self.state.tickets[ticket_id])
            return dict(comment)

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        """A copy of the stored ticket."""
        with self.lock:
            return json.loads(json.dumps(self.state.tickets[ticket_id]))

    def comments(self, ticket_id: int) -> list[dict[str, Any]]:
        """A copy of the ticket's comments, oldest first."""
        with self.lock:
            return json.loads(json.dumps(self.state.comments.get(ticket_id, [])))

    # -- control: faults and counters -------------------------------------------------------

    def fail_next(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next `times` API requests with `status` (429/5xx), with Retry-After."""
        with self.lock:
            self._faults.append(Fault(status, times, retry_after))

    def clear_faults(self) -> None:
        """Forget queued faults, revoked credentials and cursor loops."""
        with self.lock:
            self._faults.clear()
            self._revoked = False
            self._loop_cursor = False
            self._retry_not_before = 0.0

    def revoke_credentials(self) -> None:
        """Answer 401 to every request from now on."""
        with self.lock:
            self._revoked = True

    def fail_after_performing(self, method: str, path_prefix: str, status: int = 502) -> None:
        """Perform the next matching request, then answer `status` (the outcome looks unknown)."""
        with self.lock:
            self._fail_after.append((method, path_prefix, status))

    def fail_jobs(self, *, merge: str | None = None, update: str | None = None) -> None:
        """Make every later merge / update_many job end "failed" with this message (None: off)."""
        with self.lock:
            self.fail_merge_jobs = merge
            self.fail_update_jobs = update

    def loop_cursor(self, enabled: bool = True) -> None:
        """Make incremental exports hand back the cursor they were given, forever."""
        with self.lock:
            self._loop_cursor = enabled

    def make_unavailable(self, path_prefix: str, unavailable: bool = True) -> None:
        """Answer 503 to every request under `path_prefix` (an endpoint that is down)."""
        with self.lock:
            if unavailable:
                self._unavailable.add(path_prefix)
            else:
                self._unavailable.discard(path_prefix)

    def before_next(self, method: str, path_prefix: str, hook: Callable[[], Any]) -> None:
        """Run `hook` once, just before the next matching request is handled (a race)."""
        with self.lock:
            self._hooks.append((method, path_prefix, hook))

    def early_retries(self) -> int:
        """Requests that came before a Retry-After given earlier had passed."""
        with self.lock:
            return self._early

    def count(self, method: str | None = None, path_prefix: str = "") -> int:
        """Requests answered so far, optionally filtered by method and path prefix."""
        with self.lock:
            return sum(
                1
                for r in self.requests
                if (method is None or r.method == method) and r.path.startswith(path_prefix)
            )

    # -- request handling (called by the handler thread) ------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request: (status, headers, body)."""
        parts = urlsplit(raw_path)
        path = parts.path
        query = parse_qs(parts.query, keep_blank_values=True)
        payload: Any = None
        if method == "POST" and path == "/oauth/tokens":
            with self.lock:
                return self._oauth_token(headers, body)
        with self.lock:
            for hook in [h for h in self._hooks if h[0] == method and path.startswith(h[1])]:
                self._hooks.remove(hook)
                hook[2]()
            now_mono = self.clock.monotonic()
            if now_mono < self._retry_not_before:
                self._early += 1
            try:
                if body:
                    try:
                        payload = json.loads(body)
                    except ValueError:
                        raise ApiError(400, "InvalidJSON", "The request body is not JSON") from None
                self._authenticate(headers)
                if any(path.startswith(prefix) for prefix in self._unavailable):
                    raise ApiError(503, "ServiceUnavailable", text="Service Unavailable")
                self._fault(now_mono)
                if self.fault_share and self._random.random() < self.fault_share:
                    self.injected_faults[429] = self.injected_faults.get(429, 0) + 1
                    self._retry_not_before = now_mono + 1.0
                    raise ApiError(
                        429,
                        "TooManyRequests",
                        headers={"Retry-After": "1"},
                        text="Too Many Requests",
                    )
                self._rate_limit(path, now_mono)
                status, answer = self._route(method, path, query, payload)
                if self.lost_share and self._random.random() < self.lost_share:
                    self.lost_answers += 1
                    self._fail_after.append((method, path, 502))
                lost = [f for f in self._fail_after if f[0] == method and path.startswith(f[1])]
                if lost:  # the work is done, but the answer is lost on the way back
                    self._fail_after.remove(lost[0])
                    if isinstance(answer, dict) and "job_status" in answer:
                        job_id = answer["job_status"]["id"]
                        while self._job(job_id)["status"] not in ("completed", "failed"):
                            pass  # the job runs to its end regardless of the lost answer
                    raise ApiError(lost[0][2], "InternalServerError", "upstream timed out")
                out = json.dumps(answer).encode()
                out_headers = {"Content-Type": "application/json; charset=utf-8"}
            except ApiError as exc:
                status = exc.status
                out_headers = dict(exc.headers)
                if exc.text is not None:
                    out = exc.text.encode()
                    out_headers["Content-Type"] = "text/plain; charset=utf-8"
                elif exc.body is not None:
                    out = json.dumps(exc.body).encode()
                    out_headers["Content-Type"] = "application/json; charset=utf-8"
                else:
                    error: dict[str, Any] = {"error": exc.error}
                    if exc.description is not None:
                        error["description"] = exc.description
                    if exc.details is not None:
                        error["details"] = exc.details
                    out = json.dumps(error).encode()
                    out_headers["Content-Type"] = "application/json; charset=utf-8"
            out_headers["X-Rate-Limit"] = str(self.requests_per_minute)
            out_headers["X-Rate-Limit-Remaining"] = str(
                max(self.requests_per_minute - len(self._general_window), 0)
            )
            self.requests.append(RequestLog(method, path, query, payload, status, self.now()))
            return status, out_headers, out

    def _oauth_token(
        self, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """POST /oauth/tokens (grant types): a JSON body, as Zendesk's reference shows."""
        content_type = headers.get("content-type", "")
        self.token_requests.append((content_type, body))
        self.requests.append(RequestLog("POST", "/oauth/tokens", {}, None, 0, self.now()))

        def answer(status: int, out: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
            self.requests[-1].status = status
            return status, {"Content-Type": "application/json"}, json.dumps(out).encode()

        try:
            params = json.loads(body) if "json" in content_type else None
        except ValueError:
            params = None
        if not isinstance(params, dict):
            return answer(
                400,
                {"error": "invalid_request", "error_description": "The request body is not JSON"},
            )
        if self.oauth_client is None:
            return answer(401, {"error": "invalid_client"})
        client_id, secret, refresh = self.oauth_client
        if params.get("grant_type") != "refresh_token":
            return answer(400, {"error": "unsupported_grant_type"})
        if (params.get("client_id"), params.get("client_secret")) != (client_id, secret):
            return answer(401, {"error": "invalid_client"})
        if params.get("refresh_token") != refresh:
            return answer(400, {"error": "invalid_grant"})
        self.tokens_issued += 1
        self.oauth_token = f"zd-oauth-{self.tokens_issued}"
        return answer(
            200,
            {
                "access_token": self.oauth_token,
                "refresh_token": refresh,
                "token_type": "bearer",
                "scope": "read write",
                "expires_in": 172800,
            },
        )

    def _authenticate(self, headers: dict[str, str]) -> None:
        value = headers.get("authorization", "")
        scheme, _, credential = value.partition(" ")
        ok = False
        if scheme.lower() == "basic":
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                user, _, secret = base64.b64decode(credential).decode().partition(":")
                ok = user == f"{self.email}/token" and secret == self.token
        elif scheme.lower() == "bearer":
            ok = credential == self.oauth_token
        if self._revoked or not ok:
            raise ApiError(401, "Couldn't authenticate you")

    def _fault(self, now_mono: float) -> None:
        if not self._faults:
            return
        fault = self._faults[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            self._faults.popleft()
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = _retry_after_header(fault.retry_after)
            self._retry_not_before = now_mono + fault.retry_after
        if fault.status == 429:
            raise ApiError(429, "TooManyRequests", headers=headers, text="Too Many Requests")
        raise ApiError(
            fault.status,
            HTTPStatus(fault.status).phrase.replace(" ", ""),
            "The server could not answer, try again later",
            headers=headers,
        )

    def _rate_limit(self, path: str, now_mono: float) -> None:
        windows = [(self._general_window, self.requests_per_minute)]
        if path.startswith("/api/v2/incremental/"):
            windows.append((self._export_window, self.export_requests_per_minute))
        for window, limit in windows:
            while window and window[0] <= now_mono - 60.0:
                window.popleft()
            if len(window) >= limit:
                wait = window[0] + 60.0 - now_mono
                self._retry_not_before = now_mono + wait
                raise ApiError(
                    429,
                    "TooManyRequests",
                    headers={"Retry-After": _retry_after_header(wait)},
                    text="Number of allowed API requests per minute exceeded",
                )
        for window, _ in windows:
            window.append(now_mono)

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], payload: Any
    ) -> tuple[int, Any]:
        segments = path.strip("/").split("/")
        if segments[:2] != ["api", "v2"]:
            raise ApiError(404, "InvalidEndpoint", "Not found")
        rest = segments[2:]
        if not rest:
            raise ApiError(404, "InvalidEndpoint", "Not found")
        rest[-1] = rest[-1].removesuffix(".json")
        match method, rest:
            case "GET", ["users", "me"]:
                return 200, {"user": {"id": 1, "name": "API agent", "email": self.email}}
            case "GET", ["users", "search"]:
                return 200, {"users": self._search_users(query)}
            case "PUT", ["users", user_id]:
                return 200, {"user": self._update_user(user_id, payload)}
            case "GET", ["incremental", "tickets", "cursor"]:
                return 200, self._export("tickets", query)
            case "GET", ["incremental", "users", "cursor"]:
                return 200, self._export("users", query)
            case "GET", ["tickets", "show_many"]:
                return 200, {"tickets": [self._public(t) for t in self._show_many(query)]}
            case "PUT", ["tickets", "update_many"]:
                return 200, {"job_status": self._update_many(query, payload)}
            case "GET", ["tickets", ticket_id]:
                return 200, {"ticket": self._public(self._get_ticket(ticket_id))}
            case "PUT", ["tickets", ticket_id]:
                ticket = self._get_ticket(ticket_id)
                self._update_ticket(ticket, _ticket_payload(payload))
                return 200, {"ticket": self._public(ticket), "audit": {"events": []}}
            case "GET", ["tickets", ticket_id, "comments"]:
                return 200, self._list_comments(self._get_ticket(ticket_id), query)
            case "POST", ["tickets", ticket_id, "merge"]:
                return 200, {"job_status": self._merge(self._get_ticket(ticket_id), payload)}
            case "GET", ["job_statuses", job_id]:
                return 200, {"job_status": self._job(job_id)}
        try:
            answered = self.hooks.route(method, rest, query, payload, _iso(self.now()))
        except ZendeskApiError as exc:
            raise ApiError(exc.status, str(exc.body.get("error", "")), body=exc.body) from None
        if answered is not None:
            return answered
        raise ApiError(404, "InvalidEndpoint", "Not found")

    # -- endpoints --------------------------------------------------------------------------

    def _export(self, resource: str, query: dict[str, list[str]]) -> dict[str, Any]:
        per_page = _int_param(query, "per_page", MAX_EXPORT_PAGE)
        if not 1 <= per_page <= MAX_EXPORT_PAGE:
            raise ApiError(400, "InvalidPaginationParameter", "per_page must be 1..1000")
        cursor = query.get("cursor", [None])[0]
        start_time = query.get("start_time", [None])[0]
        now = int(self.now())
        if cursor:
            position = _decode_cursor(cursor)
            if position is None:
                raise ApiError(422, "InvalidPaginationParameter", "cursor is invalid")
            after = position
        elif start_time is not None:
            try:
                start = int(start_time)
            except ValueError:
                raise ApiError(400, "InvalidValue", "start_time must be an epoch time") from None
            if start > now - 60:
                raise ApiError(
                    400, "InvalidValue", "start_time must be more than one minute in the past"
                )
            after = (start, -1)
        else:
            raise ApiError(400, "InvalidValue", "start_time or cursor is required")
        horizon = now - int(self.hold_back_seconds)
        stamps = self.state.stamps[resource]
        ready = sorted(
            (stamp, item_id)
            for item_id, stamp in stamps.items()
            if (stamp, item_id) > after and stamp <= horizon
        )
        page = ready[:per_page]
        end_of_stream = len(ready) <= per_page
        last = page[-1] if page else after
        if last[1] < 0:  # nothing yet: the cursor still points at start_time
            last = (last[0], 0)
        after_cursor = _encode_cursor(*last)
        if self._loop_cursor and cursor:
            after_cursor, end_of_stream = cursor, False
        store = self.state.tickets if resource == "tickets" else self.state.users
        items = [self._public(store[item_id]) for _, item_id in page]
        answer: dict[str, Any] = {
            resource: items,
            "after_cursor": after_cursor,
            "after_url": f"{self.url}/api/v2/incremental/{resource}/cursor.json"
            f"?cursor={after_cursor}",
            "before_cursor": None,
            "before_url": None,
            "end_of_stream": end_of_stream,
        }
        includes = {p for v in query.get("include", []) for p in v.split(",") if p}
        if resource == "tickets" and "users" in includes:
            ids = {t.get("requester_id") for t in items} - {None}
            answer["users"] = [self.state.users[i] for i in sorted(ids) if i in self.state.users]
        if "organizations" in includes:
            ids = {t.get("organization_id") for t in items} - {None}
            orgs = self.state.organizations
            answer["organizations"] = [orgs[i] for i in sorted(ids) if i in orgs]
        return answer

    def _list_comments(self, ticket: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
        """List Comments: offset (`per_page`) or cursor pagination (`page[size]`, `page[after]`,
        answered with `meta` and `links`), `sort_order`, and `include=users` sideloading."""
        comments = [
            {**c, "plain_body": c.get("plain_body", c.get("body"))}
            for c in self.state.comments.get(ticket["id"], [])
        ]
        if query.get("sort_order", ["asc"])[0] == "desc":
            comments.reverse()
        out: dict[str, Any]
        if "page[size]" in query:
            size = _int_param(query, "page[size]", 100)
            if not 1 <= size <= 100:
                raise ApiError(400, "InvalidPaginationParameter", "page[size] must be 1..100")
            after = query.get("page[after]", [None])[0]
            start = 0
            if after:
                ids = [str(c["id"]) for c in comments]
                token = base64.urlsafe_b64decode(after.encode()).decode()
                if token not in ids:
                    raise ApiError(400, "InvalidPaginationParameter", "invalid cursor")
                start = ids.index(token) + 1
            page = comments[start : start + size]
            more = start + size < len(comments)
            last = str(page[-1]["id"]) if page else None
            cursor = base64.urlsafe_b64encode(last.encode()).decode() if last else None
            base = f"{self.url}/api/v2/tickets/{ticket['id']}/comments.json?page[size]={size}"
            out = {
                "comments": page,
                "meta": {"has_more": more, "after_cursor": cursor, "before_cursor": None},
                "links": {"next": f"{base}&page[after]={cursor}" if more else None, "prev": None},
            }
        else:
            per_page = _int_param(query, "per_page", 100)
            if not 1 <= per_page <= 100:
                raise ApiError(400, "InvalidPaginationParameter", "per_page must be 1..100")
            page = comments[:per_page]
            out = {"comments": page, "next_page": None, "count": len(comments)}
        if "users" in query.get("include", [""])[0].split(","):
            authors = {c.get("author_id") for c in page}
            out["users"] = [
                self._public(u) for uid, u in self.state.users.items() if uid in authors
            ]
        return out

    def _get_ticket(self, raw_id: str) -> dict[str, Any]:
        try:
            ticket_id = int(raw_id)
        except ValueError:
            raise ApiError(404, "RecordNotFound", "Not found") from None
        ticket = self.state.tickets.get(ticket_id)
        if ticket is None:
            raise ApiError(404, "RecordNotFound", "Not found")
        return ticket

    def _show_many(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        ids = _ids_param(query)
        if len(ids) > MAX_BULK:
            raise ApiError(400, "InvalidValue", f"ids: at most {MAX_BULK} ids are allowed")
        return [self.state.tickets[i] for i in ids if i in self.state.tickets]

    def _update_ticket(self, ticket: dict[str, Any], changes: dict[str, Any]) -> None:
        """Validate and apply one ticket update (raises ApiError like Zendesk)."""
        changes = dict(changes)
        if changes.pop("safe_update", False):
            stamp = changes.pop("updated_stamp", None)
            if stamp is None:
                raise ApiError(422, "RecordInvalid", "updated_stamp is required with safe_update")
            if stamp != ticket.get("updated_at"):
                raise ApiError(
                    409,
                    "UpdateConflict",
                    "Safe Update prevented the update due to outdated ticket data. "
                    "Please fetch the latest ticket data and try again.",
                )
        else:
            changes.pop("updated_stamp", None)
        if ticket.get("status") == "closed":
            raise ApiError(422, "RecordInvalid", "Status: closed prevents ticket update")
        errors: dict[str, list[dict[str, str]]] = {}
        if "priority" in changes and changes["priority"] not in PRIORITIES:
            errors["priority"] = [
                {"description": "Priority: is not valid", "error": "InvalidValue"}
            ]
        if "status" in changes and changes["status"] not in STATUSES:
            errors["status"] = [{"description": "Status: is not valid", "error": "InvalidValue"}]
        comment = changes.pop("comment", None)
        if comment is not None and (
            not isinstance(comment, dict) or not str(comment.get("body") or "").strip()
        ):
            errors["comment"] = [{"description": "Comment: body is blank", "error": "BlankValue"}]
        if errors:
            raise ApiError(422, "RecordInvalid", "Record validation errors", details=errors)
        if "assignee_email" in changes:  # Zendesk resolves an agent's address to its id
            address = str(changes.pop("assignee_email")).lower()
            agent = next(
                (u for u in self.state.users.values() if (u.get("email") or "").lower() == address),
                None,
            )
            if agent is None:
                raise ApiError(
                    422,
                    "RecordInvalid",
                    "Record validation errors",
                    details={"assignee": [{"description": "Assignee: is not an agent"}]},
                )
            ticket["assignee_id"] = agent["id"]
        for key in ("priority", "status", "subject", "type", "group_id", "assignee_id"):
            if key in changes:
                ticket[key] = changes.pop(key)
        if "tags" in changes:
            ticket["tags"] = _tags(changes.pop("tags"))
        if "additional_tags" in changes:
            extra = _tags(changes.pop("additional_tags"))
            ticket["tags"] = ticket.get("tags", []) + [t for t in extra if t not in ticket["tags"]]
        if "remove_tags" in changes:
            gone = set(_tags(changes.pop("remove_tags")))
            ticket["tags"] = [t for t in ticket.get("tags", []) if t not in gone]
        if "custom_fields" in changes:
            _set_custom_fields(ticket, changes.pop("custom_fields"))
        if comment is not None:
            self.state.comments.setdefault(ticket["id"], []).append(
                {
                    "id": self._new_id(),
                    "type": "Comment",
                    "author_id": 1,
                    "body": str(comment["body"]),
                    "public": bool(comment.get("public", True)),
                    "created_at": _iso(self.now()),
                }
            )
        self._touch("tickets", ticket)

    def _update_many(self, query: dict[str, list[str]], payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise ApiError(400, "InvalidValue", "a JSON object is required")
        if "tickets" in payload:
            updates = payload["tickets"]
            if not isinstance(updates, list) or not all(isinstance(u, dict) for u in updates):
                raise ApiError(400, "InvalidValue", "tickets must be a list of objects")
            pairs = [(u.get("id"), {k: v for k, v in u.items() if k != "id"}) for u in updates]
        elif "ticket" in payload and "ids" in query:
            change = _ticket_payload(payload)
            pairs = [(i, dict(change)) for i in _ids_param(query)]
        else:
            raise ApiError(400, "InvalidValue", "tickets, or ticket with ?ids=, is required")
        if len(pairs) > MAX_BULK:
            raise ApiError(
                400, "TooManyValues", f"You can update at most {MAX_BULK} tickets per request"
            )

        def run() -> list[dict[str, Any]]:
            if self.fail_update_jobs is not None:
                raise _JobFailed(self.fail_update_jobs)
            results: list[dict[str, Any]] = []
            for index, (ticket_id, change) in enumerate(pairs):
                ticket = self.state.tickets.get(ticket_id) if isinstance(ticket_id, int) else None
                if ticket is None:
                    results.append(
                        {"index": index, "id": ticket_id, "error": "TicketNotFound", "details": ""}
                    )
                    continue
                try:
                    self._update_ticket(ticket, change)
                except ApiError as exc:
                    results.append(
                        {
                            "index": index,
                            "id": ticket_id,
                            "error": (
                                "UpdateConflict" if exc.status == 409 else "TicketUpdateFailed"
                            ),
                            "details": exc.description or exc.error,
                        }
                    )
                    continue
                results.append(
                    {"id": ticket_id, "action": "update", "success": True, "status": "Updated"}
                )
            return results

        return self._new_job("bulk_update", run, len(pairs))

    def _merge(self, target: dict[str, Any], payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict) or not isinstance(payload.get("ids"), list):
            raise ApiError(400, "InvalidValue", "ids is required")
        ids = payload["ids"]
        if not ids or len(ids) > MAX_MERGE_SOURCES:
            raise ApiError(
                400, "InvalidValue", f"ids: 1 to {MAX_MERGE_SOURCES} source tickets are allowed"
            )
        if any(not isinstance(raw, int) for raw in ids):
            raise ApiError(400, "InvalidValue", "ids must be integers")

        def run() -> list[dict[str, Any]]:
            # Zendesk validates a merge in the background job, not in the request: a closed or
            # missing source fails the whole job (status "failed", the reason in `message`).
            if self.fail_merge_jobs is not None:
                raise _JobFailed(self.fail_merge_jobs)
            sources = []
            for raw in ids:
                source = self.state.tickets.get(raw)
                if source is None or raw == target["id"]:
                    raise _JobFailed(f"Ticket {raw} cannot be merged: not found")
                if source.get("status") == "closed":
                    raise _JobFailed(f"Ticket {raw} is closed and cannot be merged")
                sources.append(source)
            if target.get("status") == "closed":
                raise _JobFailed(f"Ticket {target['id']} is closed and cannot be merged into")
            self._apply_merge(target, sources, payload)
            return [{"id": target["id"], "success": True}]

        return self._new_job("merge", run, 1)

    def _apply_merge(
        self, target: dict[str, Any], sources: list[dict[str, Any]], payload: dict[str, Any]
    ) -> None:
        target_comment = payload.get("target_comment") or (
            "Requests " + ", ".join(f"#{s['id']}" for s in sources) + " were closed and merged"
        )
        self.state.comments.setdefault(target["id"], []).append(
            {
                "id": self._new_id(),
                "type": "Comment",
                "author_id": 1,
                "body": target_comment,
                "public": bool(payload.get("target_comment_is_public", False)),
                "created_at": _iso(self.now()),
            }
        )
        self._touch("tickets", target)
        for source in sources:
            body = payload.get("source_comment") or f"Closed and merged into #{target['id']}"
            self.state.comments.setdefault(source["id"], []).append(
                {
                    "id": self._new_id(),
                    "type": "Comment",
                    "author_id": 1,
                    "body": body,
                    "public": bool(payload.get("source_comment_is_public", False)),
                    "created_at": _iso(self.now()),
                }
            )
            source["status"] = "closed"
            source["tags"] = [*source.get("tags", []), "closed_by_merge"]
            self._touch("tickets", source)

    def _new_job(
        self, job_type: str, run: Callable[[], list[dict[str, Any]]], total: int
    ) -> dict[str, Any]:
        """Queue a background job; `run` does the work when the job completes (on a poll)."""
        self._job_seq += 1
        job_id = f"{self._job_seq:032x}"
        job = {
            "id": job_id,
            "job_type": job_type,
            "url": f"{self.url}/api/v2/job_statuses/{job_id}.json",
            "total": total,
            "progress": 0,
            "status": "queued",
            "message": None,
            "results": None,
            "_run": run,
            "_polls": 0,
        }
        self.state.jobs[job_id] = job
        return _public_job(job)

    def _job(self, job_id: str) -> dict[str, Any]:
        job = self.state.jobs.get(job_id)
        if job is None:
            raise ApiError(404, "RecordNotFound", "Not found")
        if job["status"] in ("completed", "failed"):
            return _public_job(job)
        job["_polls"] += 1
        if job["_polls"] >= self.job_polls_before_done:
            try:
                results = job["_run"]()
            except _JobFailed as failed:
                job["status"] = "failed"
                job["message"] = str(failed)
                return _public_job(job)
            job["status"] = "completed"
            job["progress"] = job["total"]
            job["results"] = results
            job["message"] = f"Completed at {_iso(self.now())}"
        else:
            job["status"] = "working"
        return _public_job(job)

    def _public(self, item: dict[str, Any]) -> dict[str, Any]:
        return json.loads(json.dumps(item))


class _Handler(ByteHandler):
    owner: FakeZendesk

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header, from the fake's clock."""
        return email.utils.formatdate(
            self.owner.now() if timestamp is None else timestamp, usegmt=True
        )


def _signed_sender(url: str, signing_secret: str, delay: float = 0.0) -> WebhookSender:
    """A sender that signs each POST as Zendesk signs a webhook's requests."""

    def sign(_target: str, body: bytes) -> dict[str, str]:
        from connectors.zendesk.webhook import signature

        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "X-Zendesk-Webhook-Signature": signature(signing_secret, stamp, body),
            "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        }

    return WebhookSender(url, sign, delay=delay)


def _retry_after_header(seconds: float) -> str:
    return str(max(math.ceil(seconds), 0))


def _int_param(query: dict[str, list[str]], name: str, default: int) -> int:
    raw = query.get(name, [None])[0]
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "InvalidValue", f"{name} must be an integer") from None


def _ids_param(query: dict[str, list[str]]) -> list[int]:
    raw = ",".join(query.get("ids", []))
    try:
        return [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise ApiError(400, "InvalidValue", "ids must be integers") from None


def _ticket_payload(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("ticket"), dict):
        raise ApiError(400, "InvalidValue", "a ticket object is required")
    return dict(payload["ticket"])


def _tags(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list):
        raise ApiError(422, "RecordInvalid", "tags must be a list")
    out: list[str] = []
    for tag in value:
        text = str(tag).strip().lower().replace(" ", "_")
        if text and text not in out:
            out.append(text)
    return out


def _set_custom_fields(ticket: dict[str, Any], values: Any) -> None:
    if isinstance(values, dict):
        values = [{"id": int(k), "value": v} for k, v in values.items()]
    if not isinstance(values, list):
        raise ApiError(422, "RecordInvalid", "custom_fields must be a list")
    current = {f["id"]: f for f in ticket.setdefault("custom_fields", [])}
    for entry in values:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), int):
            raise ApiError(422, "RecordInvalid", "custom_fields entries need an integer id")
        if entry["id"] in current:
            current[entry["id"]]["value"] = entry.get("value")
        else:
            ticket["custom_fields"].append({"id": entry["id"], "value": entry.get("value")})


def _public_job(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if not k.startswith("_")}


@contextlib.contextmanager
def running(**kwargs: Any) -> Iterator[FakeZendesk]:
    """A started fake, stopped on exit."""
    fake = FakeZendesk(**kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()


FakeZendesk.handler_class = _Handler
