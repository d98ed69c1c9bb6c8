"""Zendesk's API as the source and sink use it: the kit's HTTP client, sign-in, two limits.

Errors are mapped by the kit's client (bot/errors.py): 429 and 5xx are retriable and honour
Retry-After, 401/403 are AuthError, any other 4xx is HttpRejected with Zendesk's message.
"""

from __future__ import annotations

from typing import Any

from bot.errors import ConfigError, SourceUnavailable
from connectors.kit.auth import Auth, BasicAuth, BearerToken, OAuth2RefreshToken
from connectors.kit.clock import SYSTEM_CLOCK, Clock
from connectors.kit.http import HttpClient, connector_label
from connectors.kit.ratelimit import TokenBucket
from connectors.kit.shared import account_budget
from connectors.zendesk.settings import ZendeskSettings


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
        self.label = connector_label("zendesk", name)
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
