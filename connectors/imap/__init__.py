"""IMAP connector: a source that reads new mail from one mailbox folder."""

from __future__ import annotations

from connectors.base import ConnectorSpec
from connectors.imap.settings import ImapSettings
from connectors.imap.source import ImapSource

CONNECTOR = ConnectorSpec(
    name="imap",
    settings_model=ImapSettings,
    make_source=ImapSource,
    capabilities=frozenset({"source"}),
    description=(
        "Reads new mail from one IMAP folder by UID (UIDVALIDITY + last UID cursor) without "
        "marking it read; optionally flags or moves it once stored."
    ),
)

__all__ = ["CONNECTOR", "ImapSettings", "ImapSource"]
