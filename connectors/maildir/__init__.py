"""Maildir source: a local Maildir folder (hosts that deliver to Maildir, and the quickstart)."""

from __future__ import annotations

from connectors.base import ConnectorSpec
from connectors.maildir.settings import MaildirSettings
from connectors.maildir.source import MaildirSource

CONNECTOR = ConnectorSpec(
    name="maildir",
    settings_model=MaildirSettings,
    make_source=MaildirSource,
    capabilities=frozenset({"source"}),
    description="Reads mail delivered to a local Maildir folder, oldest first.",
)

__all__ = ["CONNECTOR", "MaildirSettings", "MaildirSource"]
