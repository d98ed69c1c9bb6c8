"""structlog set-up: JSON lines in a container, readable console on a terminal, secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog

REDACTED = "***"
_SECRET_KEYS = re.compile(r"pass(word)?|secret|token|api[_-]?key|authorization|cookie", re.I)
_SECRET_IN_TEXT = re.compile(
    r"(?i)(password|passwd|pwd|token|secret|api[_-]?key|authorization)(\s*[=:]\s*)"
    r"(bearer\s+|basic\s+)?[^\s,;'\"&]+"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_URL_CREDENTIALS = re.compile(r"(?<=://)([^/:@\s]+):([^@/\s]+)@")
_known_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is masked wherever it appears in a log line."""
    if value and len(value) >= 4:
        _known_secrets.add(value)


def redact_text(text: str) -> str:
    """Mask `password=...` pairs, credentials in URLs, and known secret values.

    The patterns go first: a known secret that is also a key name (a password "password")
    must not hide the key that tells the pattern what to mask.
    """
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}:{REDACTED}@", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _SECRET_IN_TEXT.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if _SECRET_KEYS.search(key) and value not in (None, "", False):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: no token or password reaches a log line."""
    for key in list(event_dict):
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


class _CurrentStderr:
    """Whatever sys.stderr is at write time (test runners swap and close it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(level: str = "info", fmt: str = "auto", stream: Any = None) -> None:
    """Configure structlog and the stdlib root logger once, for the whole process."""
    stream = stream or _CurrentStderr()
    use_console = fmt == "console" or (fmt == "auto" and stream.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=stream.isatty())
        if use_console
        else structlog.processors.JSONRenderer()
    )
    numeric = getattr(logging, level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=stream, force=True)


class Heartbeat:
    """Logs `worker_heartbeat` every `seconds`, so that quiet polls still show a live worker.

    `snapshot()` gives the counters to log (polls, records, failing sources); the line carries
    them and what changed since the previous beat.
    """

    def __init__(self, seconds: float, snapshot: Callable[[], dict[str, int]]) -> None:
        self.seconds = seconds
        self._snapshot = snapshot
        self._last: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)

    def beat(self) -> None:
        """Log one heartbeat line now."""
        now = self._snapshot()
        since = {f"{k}_since_last": v - self._last.get(k, 0) for k, v in now.items()}
        self._last = now
        structlog.get_logger("bot.heartbeat").info("worker_heartbeat", **now, **since)

    def start(self) -> None:
        """Beat every `seconds` on a daemon thread (nothing when seconds is 0)."""
        if self.seconds > 0:
            self._thread.start()

    def stop(self) -> None:
        """Stop beating."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self.beat()
            except Exception:  # a heartbeat must never take the worker down
                continue
