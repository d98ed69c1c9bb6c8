"""Settings of the Zendesk connector: the account, how to sign in, how fast to go, what to map."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from connectors.base import ConnectorSettings
from connectors.kit.network import check_http_url

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
            check_http_url(self.base_url, "base_url")
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
