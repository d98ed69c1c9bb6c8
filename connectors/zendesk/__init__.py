"""Zendesk Support: incremental export of tickets in, priority/tags/fields/notes/merge out."""

from __future__ import annotations

from typing import Any

from connectors.base import ConnectorSpec
from connectors.zendesk.read_back import read_back
from connectors.zendesk.settings import ZendeskSettings
from connectors.zendesk.sink import SINK_ACTIONS, ZendeskSink
from connectors.zendesk.source import ZendeskSource


def make_source(name: str, settings: Any) -> ZendeskSource:
    """A Zendesk ticket source named `name`."""
    return ZendeskSource(name, settings)


def make_sink(name: str, settings: Any) -> ZendeskSink:
    """A Zendesk write-back sink named `name`."""
    return ZendeskSink(name, settings)


def make_webhook(name: str, settings: Any) -> Any:
    """The checker of Zendesk's signed webhooks for one source (None without a secret)."""
    from connectors.zendesk.webhook import make_webhook as make

    return make(name, settings)


def setup(name: str, settings: Any, create: bool) -> list[str]:
    """`crmbot setup zendesk`: the signed webhook and the trigger that calls it."""
    from connectors.zendesk.setup import setup as run

    return run(name, settings, create)


CONNECTOR = ConnectorSpec(
    name="zendesk",
    settings_model=ZendeskSettings,
    make_source=make_source,
    make_sink=make_sink,
    capabilities=frozenset({"source", "sink", "tickets", "users", "merge", "last_public_reply"}),
    actions=SINK_ACTIONS,
    webhook=make_webhook,
    setup=setup,
    read_back=read_back,
    description="Zendesk Support: incremental ticket export; write-back of priority, tags, "
    "custom fields, internal notes, group/assignee, escalation and merges",
)

__all__ = ["CONNECTOR", "ZendeskSettings", "ZendeskSink", "ZendeskSource"]
