"""HubSpot: tickets in through CRM search, crmbot's results out through batch updates and notes."""

from __future__ import annotations

from typing import Any

from connectors.base import ConnectorSpec
from connectors.hubspot.settings import HubSpotSettings
from connectors.hubspot.sink import SINK_ACTIONS


def make_source(name: str, settings: Any) -> Any:
    """The ticket source for one configured HubSpot account."""
    from connectors.hubspot.source import HubSpotSource

    return HubSpotSource(name, settings)


def make_sink(name: str, settings: Any) -> Any:
    """The write-back sink for one configured HubSpot account."""
    from connectors.hubspot.sink import HubSpotSink

    return HubSpotSink(name, settings)


def make_webhook(name: str, settings: Any) -> Any:
    """The checker of HubSpot's signed webhooks for one source (None without a secret)."""
    from connectors.hubspot.webhook import make_webhook as make

    return make(name, settings)


def read_back(settings: Any, action: Any) -> dict[str, str]:
    """The status and priority an action sets, as the HubSpot source reads them back."""
    from connectors.hubspot.rule_actions import read_back as values

    return values(settings, action)


def setup(name: str, settings: Any, create: bool) -> list[str]:
    """`crmbot setup hubspot`: crmbot's properties and the webhook subscriptions."""
    from connectors.hubspot.setup import setup as run

    return run(name, settings, create)


CONNECTOR = ConnectorSpec(
    name="hubspot",
    settings_model=HubSpotSettings,
    make_source=make_source,
    make_sink=make_sink,
    capabilities=frozenset({"source:tickets", "sink", "setup", "webhooks", "last_public_reply"}),
    actions=SINK_ACTIONS,
    webhook=make_webhook,
    setup=setup,
    read_back=read_back,
    description="HubSpot CRM tickets: search polling, batch write-back, notes, merge, "
    "priority, owner, queue, fields and tags from the rules",
)
