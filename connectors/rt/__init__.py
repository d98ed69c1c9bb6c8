"""Request Tracker 5 (REST 2): tickets in; priority, custom fields, tags and comments out."""

from __future__ import annotations

from functools import partial
from typing import Any

from connectors.base import ConnectorSpec
from connectors.rt.read_back import read_back
from connectors.rt.settings import RtSettings
from connectors.rt.sink import REFUSALS, SINK_ACTIONS, RtSink
from connectors.rt.source import RtSource
from connectors.rt.tags import actions_for


def make_source(name: str, settings: Any) -> RtSource:
    """An RT ticket source named `name`."""
    return RtSource(name, settings)


def make_sink(name: str, settings: Any) -> RtSink:
    """An RT write-back sink named `name`."""
    return RtSink(name, settings)


CONNECTOR = ConnectorSpec(
    name="rt",
    settings_model=RtSettings,
    make_source=make_source,
    make_sink=make_sink,
    capabilities=frozenset({"source", "sink", "tickets", "last_public_reply"}),
    actions=SINK_ACTIONS,
    actions_for=partial(actions_for, SINK_ACTIONS),
    refusals=REFUSALS,
    read_back=read_back,
    description="Request Tracker 5 through REST 2: tickets changed since the cursor; "
    "write-back of priority, custom fields, tags (tags_custom_field) and comments",
)

__all__ = ["CONNECTOR", "RtSettings", "RtSink", "RtSource"]
