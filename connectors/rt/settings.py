"""Settings of the Request Tracker connector: where RT is, how to sign in, what to map."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.base import ConnectorSettings
from connectors.kit.network import check_http_url

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
        check_http_url(self.url, "url")
        if (self.token is None) == (self.password is None):
            raise ValueError("set either token, or username and password")
        if self.password is not None and not self.username:
            raise ValueError("password needs username")
        return self

    @property
    def rest_url(self) -> str:
        """The REST 2 base URL."""
        return self.url.rstrip("/") + "/REST/2.0"
