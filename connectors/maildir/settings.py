"""Settings of the Maildir source: the folder, and what to do with what was read."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from connectors.base import ConnectorSettings


class MaildirSettings(ConnectorSettings):
    """A local Maildir folder."""

    type: Literal["maildir"] = "maildir"
    path: Path
    max_message_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    grace_seconds: float = Field(default=300.0, ge=0)
    after_processing: Literal["none", "mark_seen"] = "none"
