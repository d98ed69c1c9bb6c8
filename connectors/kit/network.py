"""Network checks shared by connectors: is a host this machine (plain text allowed there)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_host(host: str) -> bool:
    """True when `host` names this machine: `localhost` or a loopback IP address."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_http_url(url: str, setting: str) -> None:
    """Raise ValueError unless `url` is https, or http on this machine (a test or local server)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{setting} {url!r} is not an http(s) URL")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError(f"{setting} must use https unless it is on this machine (loopback)")
