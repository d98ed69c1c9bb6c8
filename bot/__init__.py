"""crmbot: the unattended worker between request channels and the CRM."""

from __future__ import annotations

__version__ = "0.1.0"
