"""Network checks shared by connectors: is a host this machine (plain text allowed there)."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str) -> bool:
    """True when `host` names this machine: `localhost` or a loopback IP address."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
