"""One shared HTTP client for connectors: timeouts, rate limits, retries, and error taxonomy.

Only what can succeed later is retried (connection errors, 408, 423, 429, 477, 5xx), through
tenacity, never sooner than the server's Retry-After. HubSpot documents 423 Locked ("wait at
least 2 seconds") and 477 Migration in Progress (Retry-After, up to 24 hours): both refuse the
request without performing it. A 429 whose body names a daily policy (HubSpot
`policyName: DAILY`) is not retried in-process: it raises RateLimited at once, with the
server's Retry-After or an hour.

A request sent with `idempotent=False` (creating a note or a comment, where the vendor has
no idempotency key) is retried only when the server refused it without performing it (408,
423, 429, 477, a connection that never opened). After a 5xx or a broken connection the
outcome is unknown: the client raises OutcomeUnknown at once, so the caller reads back its
own idempotency key before it writes again. When the next wait would take the total past
`RetryPolicy.max_total_wait`, the client stops and raises RateLimited / SourceUnavailable
with `retry_after`, so the runtime reschedules the poll instead of a thread sleeping for hours.

Statuses become errors from bot.errors: 401/403 -> AuthError (naming the connector, never the
token); 400/404/409/422 and other 4xx -> HttpRejected, a MalformedInput carrying the vendor's
message, for the caller to skip that one record.
"""

from __future__ import annotations

import email.utils
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from bot.errors import AuthError, MalformedInput, RateLimited, SourceUnavailable
from connectors.kit.auth import Auth
from connectors.kit.clock import SYSTEM_CLOCK, Clock
from connectors.kit.ratelimit import TokenBucket

log = structlog.get_logger(__name__)

RETRIABLE_STATUSES = frozenset({408, 423, 429, 477})
NOT_PERFORMED_STATUSES = frozenset({408, 423, 429, 477})  # refused before doing anything
LOCKED_WAIT_SECONDS = 2.0  # HubSpot: "locks last for 2 seconds"
DAILY_LIMIT_WAIT_SECONDS = 3600.0  # daily limit without Retry-After: come back in an hour


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long the client keeps trying before handing the problem to the runtime."""

    max_attempts: int = 5  # for connection errors and 5xx
    max_rate_limited_attempts: int = 30  # for 429, bounded by max_total_wait anyway
    max_total_wait: float = 120.0  # seconds slept in retries for one request
    backoff_initial: float = 1.0
    backoff_max: float = 30.0


@dataclass(frozen=True, slots=True)
class Wait:
    """One sleep before a retry: why, how long, and what the server's Retry-After said."""

    reason: str  # "429", "503", "connect_error", ...
    seconds: float
    retry_after: float | None


class HttpRejected(MalformedInput):
    """The API rejected this one request (400/404/409/422, ...): skip it, keep the reason."""

    def __init__(
        self, message: str, *, status_code: int, vendor_message: str, category: str | None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.vendor_message = vendor_message
        self.category = category


class OutcomeUnknown(SourceUnavailable):
    """A non-idempotent write failed after it may have been performed (5xx, broken connection).

    The caller reads back its idempotency key before writing again.
    """


class _Transient(Exception):
    """Internal: one attempt failed in a way that may succeed later."""

    def __init__(
        self,
        reason: str,
        retry_after: float | None,
        status: int | None,
        *,
        performed: bool = True,
        daily: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.status = status
        self.performed = performed  # False: the server certainly did nothing
        self.daily = daily


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            return None
        return max(when.timestamp() - now, 0.0)
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return seconds


def connector_label(vendor: str, name: str) -> str:
    """How errors name a connector: its vendor, or 'vendor (name)' for a source named otherwise."""
    return vendor if name == vendor else f"{vendor} ({name})"


def vendor_error(response: httpx.Response) -> tuple[str, str | None]:
    """The vendor's error message and category from a JSON error body (HubSpot, Zendesk, RT)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return (text[:300] or response.reason_phrase or f"HTTP {response.status_code}", None)
    if not isinstance(body, dict):
        return (str(body)[:300], None)
    category = body.get("category")
    message: Any = body.get("message") or body.get("description") or body.get("detail")
    error = body.get("error")
    if not message and isinstance(error, dict):
        message = error.get("message") or error.get("title")
    if not message and error:
        message = error
    if not message and body.get("errors"):
        message = body["errors"]
    text = message if isinstance(message, str) else str(message or f"HTTP {response.status_code}")
    return (text[:500], category if isinstance(category, str) else None)


def _daily_policy(response: httpx.Response) -> bool:
    """True when a 429 body names a daily limit (HubSpot: `"policyName": "DAILY"`)."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and str(body.get("policyName", "")).upper() == "DAILY"


_SSL_CONTEXT: ssl.SSLContext | None = None
_SSL_LOCK = threading.Lock()


def shared_ssl_context() -> ssl.SSLContext:
    """One verifying SSL context for every client (loading CA certificates takes ~0.2 s)."""
    global _SSL_CONTEXT
    with _SSL_LOCK:
        if _SSL_CONTEXT is None:
            _SSL_CONTEXT = httpx.create_ssl_context()
        return _SSL_CONTEXT


def default_transport() -> httpx.HTTPTransport:
    """A transport with TCP_NODELAY (small JSON requests go out at once) and the shared TLS."""
    return httpx.HTTPTransport(
        verify=shared_ssl_context(),
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    )


class HttpClient:
    """An httpx client bound to one connector's base URL, credentials and rate limit."""

    def __init__(
        self,
        connector: str,
        base_url: str,
        *,
        auth: Auth | None = None,
        limiter: TokenBucket | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        error_parser: Callable[[httpx.Response], tuple[str, str | None]] = vendor_error,
    ) -> None:
        self.connector = connector
        self._auth = auth
        self._limiter = limiter
        self._retry = retry or RetryPolicy()
        self._clock = clock or SYSTEM_CLOCK
        self._error_parser = error_parser
        self._base_url = base_url
        self._timeout = timeout
        self._headers = dict(headers or {})
        self._transport = transport
        self._open_lock = threading.Lock()
        self._http = self._open()
        self.waits: list[Wait] = []
        self.calls: Counter[str] = Counter()

    # -- public -----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        limiters: Iterable[TokenBucket] = (),
        content: bytes | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send one request with rate limiting and retries; return a 2xx/3xx response or raise.

        `content` sends these exact bytes (e.g. a body that was signed) instead of json/data.
        `idempotent` defaults to True for every method; pass False for a write that must not
        happen twice (it is then retried only when the server certainly did not perform it).
        """
        buckets = [b for b in (self._limiter, *limiters) if b is not None]
        once = idempotent is False
        refreshed = False
        while True:
            response = self._send_with_retries(
                method, path, params, json, data, headers, buckets, content, once
            )
            if (
                response.status_code == 401
                and self._auth is not None
                and not refreshed
                and self._auth.refresh()
            ):
                refreshed = True
                log.info("http_auth_refreshed_after_401", connector=self.connector)
                continue
            return self._check(method, path, response)

    def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Like `request`, and decode the JSON body (an undecodable body is a SourceUnavailable)."""
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise SourceUnavailable(
                f"{self.connector}: {method} {path} returned a body that is not JSON"
            ) from None

    def get(self, path: str, **kwargs: Any) -> Any:
        """GET and decode JSON."""
        return self.request_json("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        """POST and decode JSON."""
        return self.request_json("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        """PUT and decode JSON."""
        return self.request_json("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        """PATCH and decode JSON."""
        return self.request_json("PATCH", path, **kwargs)

    def close(self) -> None:
        """Close connections (and the credential's); the next request opens new ones."""
        self._http.close()
        closer = getattr(self._auth, "close", None)
        if callable(closer):
            closer()

    # -- internals --------------------------------------------------------------------------

    def _open(self) -> httpx.Client:
        return httpx.Client(
            base_url=self._base_url,
            timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 10.0)),
            headers={"Accept": "application/json", **self._headers},
            transport=self._transport or default_transport(),
            follow_redirects=False,
        )

    def _client(self) -> httpx.Client:
        """The open httpx client; after `close()` (a source that failed) a new one."""
        with self._open_lock:
            if self._http.is_closed:
                self._http = self._open()
                log.debug("http_client_reopened", connector=self.connector)
            return self._http

    def _scrub(self, text: str) -> str:
        if self._auth is not None:
            for secret in self._auth.secrets():
                if secret:
                    text = text.replace(secret, "***")
        return text

    def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        buckets: list[TokenBucket],
        content: bytes | None = None,
    ) -> httpx.Response:
        for bucket in buckets:
            bucket.acquire()
        merged = dict(headers or {})
        if self._auth is not None:
            merged.update(self._auth.headers())
        self.calls[f"{method} {path}"] += 1
        try:
            response = self._client().request(
                method, path, params=params, json=json, data=data, headers=merged, content=content
            )
        except httpx.TransportError as exc:
            never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
            reason = type(exc).__name__
            raise _Transient(reason, None, None, performed=not never_sent) from None
        status = response.status_code
        if status in RETRIABLE_STATUSES or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock.time())
            if status == 423 and retry_after is None:
                retry_after = LOCKED_WAIT_SECONDS
            daily = status == 429 and _daily_policy(response)
            response.close()
            if status == 429 and not daily and retry_after is not None:
                # The vendor's budget is spent: every user of these buckets waits (every
                # replica, when the buckets are shared), not only this request's retry.
                for bucket in buckets:
                    bucket.pause(min(retry_after, self._retry.max_total_wait))
            raise _Transient(
                str(status),
                retry_after,
                status,
                performed=status not in NOT_PERFORMED_STATUSES,
                daily=daily,
            )
        return response

    def _wait_for(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return exc.retry_after
        policy = self._retry
        return min(policy.backoff_initial * 2 ** (state.attempt_number - 1), policy.backoff_max)

    def _stop(self, state: RetryCallState, once: bool = False) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        policy = self._retry
        if isinstance(exc, _Transient) and (exc.daily or (exc.performed and once)):
            return True  # a daily quota is not worth waiting for; an unknown outcome is read back
        limit = policy.max_attempts
        if isinstance(exc, _Transient) and exc.status == 429:
            limit = policy.max_rate_limited_attempts
        if state.attempt_number >= limit:
            return True
        return state.idle_for + self._wait_for(state) > policy.max_total_wait

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        seconds = state.next_action.sleep if state.next_action else 0.0
        reason = exc.reason if isinstance(exc, _Transient) else "error"
        retry_after = exc.retry_after if isinstance(exc, _Transient) else None
        self.waits.append(Wait(reason, seconds, retry_after))
        log.warning(
            "http_retry_scheduled",
            connector=self.connector,
            reason=reason,
            wait_seconds=round(seconds, 3),
            attempt=state.attempt_number,
        )

    def _give_up(self, state: RetryCallState, once: bool = False) -> httpx.Response:
        exc = state.outcome.exception() if state.outcome else None
        assert isinstance(exc, _Transient)
        attempts = state.attempt_number
        if exc.daily:
            raise RateLimited(
                f"{self.connector}: the daily API limit is reached (HTTP 429, daily policy)",
                retry_after=exc.retry_after or DAILY_LIMIT_WAIT_SECONDS,
            )
        retry_after = self._wait_for(state)
        if exc.performed and once:
            what = f"HTTP {exc.status}" if exc.status else exc.reason
            raise OutcomeUnknown(
                f"{self.connector}: a write failed ({what}) after it may have been performed",
                retry_after=retry_after,
            )
        if exc.status == 429:
            raise RateLimited(
                f"{self.connector}: still rate limited (HTTP 429) after {attempts} attempts",
                retry_after=retry_after,
            )
        what = f"HTTP {exc.status}" if exc.status else exc.reason
        raise SourceUnavailable(
            f"{self.connector}: the API is unavailable ({what}) after {attempts} attempts",
            retry_after=retry_after,
        )

    def _send_with_retries(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        buckets: list[TokenBucket],
        content: bytes | None = None,
        once: bool = False,
    ) -> httpx.Response:
        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            wait=self._wait_for,
            stop=lambda state: self._stop(state, once),
            sleep=self._clock.sleep,
            before_sleep=self._before_sleep,
            retry_error_callback=lambda state: self._give_up(state, once),
        )
        return retrying(self._attempt, method, path, params, json, data, headers, buckets, content)

    def _check(self, method: str, path: str, response: httpx.Response) -> httpx.Response:
        status = response.status_code
        if status < 400:
            return response
        message, category = self._error_parser(response)
        message = self._scrub(message)
        if status == 401:
            raise AuthError(
                f"{self.connector}: the API refused the credentials (HTTP 401: {message}); "
                "check the configured token"
            )
        if status == 403:
            raise AuthError(
                f"{self.connector}: the credentials lack permission for {method} {path} "
                f"(HTTP 403: {message}); check the token's scopes"
            )
        raise HttpRejected(
            f"{self.connector}: {method} {path} rejected (HTTP {status}): {message}",
            status_code=status,
            vendor_message=message,
            category=category,
        )
