"""Credentials for HTTP APIs: a static bearer token, or an OAuth2 refresh-token flow."""

from __future__ import annotations

import base64
import hashlib
import threading
from typing import Literal, Protocol

import httpx
import structlog
from pydantic import SecretStr

from bot.errors import AuthError, SourceUnavailable
from connectors.kit import shared
from connectors.kit.clock import SYSTEM_CLOCK, Clock

log = structlog.get_logger(__name__)


def _reveal(value: str | SecretStr) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class Auth(Protocol):
    """What the HTTP client asks of a credential."""

    def headers(self) -> dict[str, str]:
        """Headers that authenticate one request (refreshing first if the token is stale)."""
        ...

    def refresh(self) -> bool:
        """Called once after a 401: get new credentials; True if the request is worth retrying."""
        ...

    def secrets(self) -> list[str]:
        """Every secret value held, so that messages can be scrubbed of them."""
        ...


class BearerToken:
    """A static token (a HubSpot private-app token, a Zendesk API token used as bearer, ...)."""

    def __init__(self, token: str | SecretStr, *, scheme: str = "Bearer") -> None:
        self._token = _reveal(token)
        self._scheme = scheme
        if not self._token:
            raise AuthError("an empty token was configured")

    def headers(self) -> dict[str, str]:
        """The Authorization header."""
        return {"Authorization": f"{self._scheme} {self._token}"}

    def refresh(self) -> bool:
        """A static token cannot be refreshed."""
        return False

    def secrets(self) -> list[str]:
        """The token."""
        return [self._token]


class BasicAuth:
    """HTTP Basic credentials (Request Tracker, Zendesk `email/token`)."""

    def __init__(self, username: str, password: str | SecretStr) -> None:
        self._username = username
        self._password = _reveal(password)

    def headers(self) -> dict[str, str]:
        """The Authorization header."""
        raw = f"{self._username}:{self._password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}

    def refresh(self) -> bool:
        """Basic credentials cannot be refreshed."""
        return False

    def secrets(self) -> list[str]:
        """The password."""
        return [self._password]


def credential_key(token_url: str, client_id: str, refresh_token: str) -> str:
    """A digest naming one OAuth2 credential (never the secret itself)."""
    raw = "\0".join((token_url, client_id, refresh_token)).encode()
    return hashlib.sha256(raw).hexdigest()


class OAuth2RefreshToken:
    """OAuth2 refresh-token grant: refresh before expiry, or once after a 401.

    The new access token (and a rotated refresh token, if the server sends one) is kept in
    memory, or, when built inside the runtime's `shared.sharing(...)` block, in the store that
    every replica shares: a refresh then happens under the store's lock, after re-reading
    what another replica may already have refreshed (and rotated). A refused refresh token is
    an AuthError; an unreachable token endpoint is a SourceUnavailable. `body` is how the
    token endpoint takes its parameters: "form" (RFC 6749, HubSpot's /oauth/v1/token) or
    "json" (Zendesk's /oauth/tokens).
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | SecretStr,
        refresh_token: str | SecretStr,
        *,
        access_token: str | SecretStr | None = None,
        expires_at: float | None = None,
        skew_seconds: float = 60.0,
        connector: str = "oauth2",
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        body: Literal["form", "json"] = "form",
    ) -> None:
        self._token_url = token_url
        self._body = body
        self._client_id = client_id
        self._client_secret = _reveal(client_secret)
        self._refresh_token = _reveal(refresh_token)
        self._seed = self._refresh_token
        self._access_token = _reveal(access_token) if access_token else None
        self._expires_at = expires_at
        self._skew = skew_seconds
        self._connector = connector
        self._clock = clock or SYSTEM_CLOCK
        self._transport = transport
        self._timeout = timeout
        self._http = httpx.Client(transport=transport, timeout=timeout)
        self._lock = threading.Lock()
        state = shared.current()
        self._shared = state.tokens if state is not None else None
        self._key = credential_key(token_url, client_id, self._seed)
        if self._shared is not None:
            self._shared.declare(self._key, connector)
        self._loaded = False
        self._version = -1
        self.refreshes = 0  # token requests this process sent
        self.adopted = 0  # tokens another replica refreshed, taken from the store

    def __repr__(self) -> str:
        return f"OAuth2RefreshToken(connector={self._connector!r}, url={self._token_url!r})"

    def _stale_at(self, access_token: str | None, expires_at: float | None) -> bool:
        if not access_token:
            return True
        return expires_at is not None and self._clock.time() >= expires_at - self._skew

    def _stale(self) -> bool:
        return self._stale_at(self._access_token, self._expires_at)

    def headers(self) -> dict[str, str]:
        """The Authorization header, refreshing first when the token is missing or near expiry."""
        with self._lock:
            if self._shared is not None and not self._loaded:
                self._adopt(self._shared.current(self._key, self._connector, self._seed))
                self._loaded = True
            if self._stale():
                self._refresh_locked(rejected=None)
            return {"Authorization": f"Bearer {self._access_token}"}

    def refresh(self) -> bool:
        """Get a new access token after a 401 (one another replica refreshed, if there is)."""
        with self._lock:
            self._refresh_locked(rejected=self._access_token)
        return True

    def secrets(self) -> list[str]:
        """Client secret, refresh and access tokens."""
        values = (self._client_secret, self._seed, self._refresh_token, self._access_token)
        return [s for s in values if s]

    def close(self) -> None:
        """Release the token endpoint's connections."""
        self._http.close()

    def _adopt(self, tokens: shared.TokenSet) -> None:
        self._access_token = tokens.access_token
        self._refresh_token = tokens.refresh_token
        self._expires_at = tokens.expires_at
        self._version = tokens.version

    def _refresh_locked(self, *, rejected: str | None) -> None:
        if self._shared is None:
            self._adopt(self._request_tokens(self._refresh_token))
            return

        def usable(tokens: shared.TokenSet) -> bool:
            if tokens.access_token is None or tokens.access_token == rejected:
                return False
            return not self._stale_at(tokens.access_token, tokens.expires_at)

        sent = self.refreshes
        tokens = self._shared.refresh(
            self._key, self._connector, self._seed, usable, self._request_tokens
        )
        if self.refreshes == sent:
            self.adopted += 1
            log.info("oauth2_token_adopted", connector=self._connector)
        self._adopt(tokens)

    def _request_tokens(self, refresh_token: str) -> shared.TokenSet:
        data = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "refresh_token": refresh_token,
        }
        if self._http.is_closed:  # closed with its source after an outage: reopen
            self._http = httpx.Client(transport=self._transport, timeout=self._timeout)
        try:
            if self._body == "json":
                response = self._http.post(self._token_url, json=data)
            else:
                response = self._http.post(self._token_url, data=data)
        except httpx.TransportError as exc:
            raise SourceUnavailable(
                f"{self._connector}: the OAuth2 token endpoint is unreachable "
                f"({type(exc).__name__})"
            ) from None
        if response.status_code in (400, 401, 403):
            raise AuthError(
                f"{self._connector}: the OAuth2 refresh token was refused "
                f"(HTTP {response.status_code}); re-authorise the app"
            )
        if response.status_code >= 300:
            raise SourceUnavailable(
                f"{self._connector}: the OAuth2 token endpoint answered HTTP {response.status_code}"
            )
        try:
            body = response.json()
            token = str(body["access_token"])
        except (ValueError, KeyError, TypeError):
            raise AuthError(
                f"{self._connector}: the OAuth2 token endpoint sent no access_token"
            ) from None
        expires_in = body.get("expires_in")
        expires_at = (
            self._clock.time() + float(expires_in) if isinstance(expires_in, int | float) else None
        )
        rotated = body.get("refresh_token")
        self.refreshes += 1
        log.info(
            "oauth2_token_refreshed",
            connector=self._connector,
            expires_in=expires_in,
            refresh_token_rotated=bool(rotated) and str(rotated) != refresh_token,
        )
        return shared.TokenSet(
            token,
            str(rotated) if rotated else refresh_token,
            expires_at,
            self._version + 1,
        )
