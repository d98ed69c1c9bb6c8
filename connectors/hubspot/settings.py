"""Settings of the HubSpot connector: credentials, published rate limits, what to read."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from connectors.base import ConnectorSettings


class HubSpotSettings(ConnectorSettings):
    """One HubSpot account, read through CRM search and written back through batch APIs."""

    type: Literal["hubspot"]
    base_url: str = "https://api.hubapi.com"
    token: SecretStr | None = None  # a private-app access token
    oauth_client_id: str | None = None
    oauth_client_secret: SecretStr | None = None
    oauth_refresh_token: SecretStr | None = None
    requests_per_10s: int = Field(default=100, ge=1, le=1000)  # 100 free/starter, 190 pro+
    search_requests_per_second: int = Field(default=5, ge=1, le=50)
    page_size: int = Field(default=200, ge=1, le=200)  # CRM search maximum
    # CRM search trails writes by an unbounded delay: every poll re-reads this far behind its
    # cursor and drops what it already read (same id and version)
    search_overlap_seconds: float = Field(default=900.0, ge=0)
    search_lag_seconds: float = Field(default=0.0, ge=0)  # optional hold-back of the newest
    pipeline: str | None = None  # only tickets of this pipeline id
    contact_tier_property: str | None = None
    contact_vip_property: str | None = None
    company_tier_property: str | None = None
    company_strategic_property: str | None = None
    poll: Literal["tickets", "contacts"] = "tickets"  # contacts: identity and tier only
    read_contacts: bool = True
    read_companies: bool = True
    enable_merge: bool = False
    # What a rule's actions become (connectors/hubspot/rule_actions.py).
    priority_map: dict[str, str] = Field(
        default_factory=lambda: {"P1": "URGENT", "P2": "HIGH", "P3": "MEDIUM", "P4": "LOW"}
    )
    owners: dict[str, str] = Field(default_factory=dict)  # assign owner name -> owner id
    queue_stages: dict[str, str] = Field(default_factory=dict)  # queue -> pipeline stage id
    escalation_queue: str | None = None  # escalate without a queue moves the ticket here
    field_properties: dict[str, str] = Field(default_factory=dict)  # case field -> property
    # A case from a mailbox that writes back here gets a ticket (see case_tickets.py).
    open_tickets_for_cases: bool = True
    new_ticket_stage: str = "1"  # the stage of `pipeline` (default pipeline "0") it opens in
    note_idempotency: bool = True  # needs `crmbot setup hubspot` (the crmbot_key note property)
    # Webhooks (connectors/hubspot/webhook.py): the app's client secret signs them (the
    # OAuth client secret when not given); `webhook_url` is the public URL HubSpot calls
    # (…/webhooks/hubspot/<source name>), needed behind a proxy and by `crmbot setup`.
    webhook_secret: SecretStr | None = None
    webhook_url: str | None = None
    webhook_app_id: int | None = None  # a public app's id: `setup` creates the subscriptions
    developer_api_key: SecretStr | None = None  # with this developer key (webhooks API v3)
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_total_retry_wait: float = Field(default=120.0, ge=0)

    @model_validator(mode="after")
    def _one_credential(self) -> HubSpotSettings:
        oauth = (self.oauth_client_id, self.oauth_client_secret, self.oauth_refresh_token)
        if self.token is None and not all(oauth):
            raise ValueError(
                "hubspot needs `token` (a private-app token) or all of oauth_client_id, "
                "oauth_client_secret and oauth_refresh_token"
            )
        if self.token is not None and any(oauth):
            raise ValueError("hubspot: give either `token` or the oauth_* settings, not both")
        return self
