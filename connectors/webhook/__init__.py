"""Webhook: a rule's `webhook` action as a signed HTTPS request to an allow-listed host."""

from __future__ import annotations

from typing import Any

from connectors.base import ConnectorSpec
from connectors.webhook.settings import WebhookSettings
from connectors.webhook.sink import SINK_ACTIONS, WebhookSink


def make_sink(name: str, settings: Any) -> WebhookSink:
    """A webhook sink named `name`."""
    return WebhookSink(name, settings)


CONNECTOR = ConnectorSpec(
    name="webhook",
    settings_model=WebhookSettings,
    make_sink=make_sink,
    capabilities=frozenset({"sink"}),
    actions=SINK_ACTIONS,
    description="Webhooks: signed (HMAC-SHA256) JSON to allow-listed HTTPS hosts, with an "
    "idempotency key, retries with backoff, private addresses refused",
)

__all__ = ["CONNECTOR", "WebhookSettings", "WebhookSink"]
