"""RT's REST 2 as the source and sink use it: the kit's HTTP client, RT's sign-in and limit."""

from __future__ import annotations

from typing import Any

from connectors.kit.auth import Auth, BasicAuth, BearerToken
from connectors.kit.clock import SYSTEM_CLOCK, Clock
from connectors.kit.http import HttpClient, connector_label
from connectors.kit.ratelimit import TokenBucket
from connectors.kit.shared import account_budget
from connectors.rt.settings import RtSettings


def label(name: str) -> str:
    """How errors name this connector: 'rt', or 'rt (name)' for a named source or sink."""
    return connector_label("rt", name)


def make_auth(settings: RtSettings) -> Auth:
    """Basic credentials, or an RT auth token."""
    if settings.token is not None:
        return BearerToken(settings.token, scheme="token")
    assert settings.password is not None
    return BasicAuth(settings.username or "", settings.password)


def make_client(
    name: str, settings: RtSettings, *, clock: Clock | None = None, transport: Any = None
) -> HttpClient:
    """The kit's HTTP client on RT's REST 2 (errors mapped by the kit: bot/errors.py)."""
    clock = clock or SYSTEM_CLOCK
    return HttpClient(
        label(name),
        settings.rest_url,
        auth=make_auth(settings),
        limiter=TokenBucket.per_window(
            # one budget per RT server, whatever the source or sink on it is called
            settings.requests_per_minute,
            60.0,
            clock=clock,
            name=f"{account_budget('rt', settings.url)}:requests",
        ),
        clock=clock,
        timeout=settings.timeout_seconds,
        transport=transport,
    )
