"""OAuth2 refresh-token flow: refresh before expiry, once after a 401, never leak tokens."""

from __future__ import annotations

import httpx
import pytest

from bot.errors import AuthError
from connectors.kit import FakeClock, HttpClient, OAuth2RefreshToken


class TokenServer:
    """An OAuth2 token endpoint plus an API that accepts only the newest access token."""

    def __init__(self, expires_in: int = 1800, refuse: bool = False) -> None:
        self.issued = 0
        self.expires_in = expires_in
        self.refuse = refuse
        self.refresh_tokens_seen: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/v1/token":
            form = dict(httpx.QueryParams(request.content.decode()))
            self.refresh_tokens_seen.append(form["refresh_token"])
            if self.refuse or form["grant_type"] != "refresh_token":
                return httpx.Response(400, json={"status": "BAD_REFRESH_TOKEN"})
            self.issued += 1
            return httpx.Response(
                200,
                json={
                    "access_token": f"access-{self.issued}",
                    "refresh_token": f"refresh-{self.issued}",
                    "expires_in": self.expires_in,
                },
            )
        if request.headers.get("Authorization") != f"Bearer access-{self.issued}":
            return httpx.Response(401, json={"message": "expired"})
        return httpx.Response(200, json={"ok": True})


def make(server: TokenServer, clock: FakeClock, **kw: object) -> HttpClient:
    transport = httpx.MockTransport(server.handler)
    auth = OAuth2RefreshToken(
        "https://api.example.test/oauth/v1/token",
        "client",
        "client-secret",
        "refresh-0",
        clock=clock,
        transport=transport,
        connector="acme",
        **kw,  # type: ignore[arg-type]
    )
    return HttpClient(
        "acme", "https://api.example.test", auth=auth, clock=clock, transport=transport
    )


def test_first_request_fetches_a_token_and_rotated_refresh_token_is_kept() -> None:
    server = TokenServer()
    clock = FakeClock()
    client = make(server, clock)
    assert client.get("/x") == {"ok": True}
    clock.advance(1800)
    assert client.get("/x") == {"ok": True}
    assert server.refresh_tokens_seen == ["refresh-0", "refresh-1"]


def test_token_is_refreshed_before_it_expires() -> None:
    server = TokenServer(expires_in=600)
    clock = FakeClock()
    client = make(server, clock)
    client.get("/x")
    clock.advance(600 - 30)  # inside the 60 s skew
    client.get("/x")
    assert server.issued == 2


def test_a_401_refreshes_once_and_retries() -> None:
    server = TokenServer()
    clock = FakeClock()
    client = make(server, clock, access_token="stale", expires_at=clock.time() + 3600)
    assert client.get("/x") == {"ok": True}
    assert server.issued == 1


def test_refused_refresh_token_is_auth_error_without_secrets() -> None:
    server = TokenServer(refuse=True)
    client = make(server, FakeClock())
    with pytest.raises(AuthError) as caught:
        client.get("/x")
    text = str(caught.value)
    assert "acme" in text
    assert "refresh-0" not in text and "client-secret" not in text
