"""SMTP: crmbot's automated replies to customers, threaded and marked as auto-replies."""

from __future__ import annotations

from typing import Any

from connectors.base import ConnectorSpec
from connectors.smtp.settings import SmtpSettings
from connectors.smtp.sink import SINK_ACTIONS, SmtpSink


def make_sink(name: str, settings: Any) -> SmtpSink:
    """An SMTP reply sink named `name`."""
    return SmtpSink(name, settings)


CONNECTOR = ConnectorSpec(
    name="smtp",
    settings_model=SmtpSettings,
    make_sink=make_sink,
    capabilities=frozenset({"sink"}),
    actions=SINK_ACTIONS,
    description="SMTP submission: threaded plain-text replies (send_reply), marked "
    "Auto-Submitted, never sent to automated or own addresses, rate-limited",
)

__all__ = ["CONNECTOR", "SmtpSettings", "SmtpSink"]
