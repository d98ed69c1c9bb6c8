"""What the HTTP endpoint reads outside the store: the running connectors and the rules.

The runtime registers its sources and sinks once (`register_runtime`); the metrics read the
API call counters their HTTP clients already keep. Nothing here is written per request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from connectors.kit.http import HttpClient

_lock = threading.Lock()
_connectors: dict[str, Any] = {}
_rules: Callable[[], Any] | None = None


def register_runtime(connectors: dict[str, Any], rules: Callable[[], Any] | None) -> None:
    """Remember the running connectors (name -> source or sink) and the rules provider."""
    global _rules
    with _lock:
        _connectors.clear()
        _connectors.update(connectors)
        _rules = rules


def rules_provider() -> Callable[[], Any] | None:
    """The registered rules provider, if any."""
    return _rules


def _clients(obj: Any, depth: int = 2) -> Iterator[HttpClient]:
    if isinstance(obj, HttpClient):
        yield obj
        return
    if depth == 0:
        return
    for value in list(getattr(obj, "__dict__", {}).values()):
        if isinstance(value, HttpClient) or hasattr(value, "__dict__"):
            yield from _clients(value, depth - 1)


def api_calls() -> dict[str, tuple[int, int]]:
    """connector type -> (HTTP calls made, HTTP 429 answers) over every registered client."""
    totals: dict[str, tuple[int, int]] = {}
    with _lock:
        objects = list(_connectors.values())
    seen: set[int] = set()
    for obj in objects:
        for client in _clients(obj):
            if id(client) in seen:
                continue
            seen.add(id(client))
            calls, limited = totals.get(client.connector, (0, 0))
            n_429 = sum(1 for w in client.waits if w.reason == "429")
            totals[client.connector] = (calls + sum(client.calls.values()), limited + n_429)
    return totals
