"""Build a worker over Maildir sources for pipeline tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.pipeline import Pipeline
from bot.registry import build_source
from bot.settings import Settings
from bot.stages import DEFAULT_STAGES
from bot.store import Store
from bot.worker import Worker
from connectors.base import ConnectorSettings, Source


def make_settings(store_url: str, sources: dict[str, dict[str, Any]], **extra: Any) -> Settings:
    """Settings with no file and no environment: only what the test says."""
    return Settings(store={"url": store_url}, sources=sources, **extra)


def maildir_worker(
    settings: Settings,
    store: Store,
    *,
    rules: Callable[[], Any] | None = None,
    extra_sources: dict[str, tuple[Source, ConnectorSettings]] | None = None,
    sinks: dict[str, Any] | None = None,
) -> Worker:
    """A worker over the configured sources with the default pipeline."""
    sources = {name: build_source(name, raw) for name, raw in settings.sources.items()}
    sources.update(extra_sources or {})
    return Worker(settings, store, sources, Pipeline(DEFAULT_STAGES), rules=rules, sinks=sinks)


def maildir_source(path: Path, **extra: Any) -> dict[str, Any]:
    """Settings for a Maildir source."""
    return {"type": "maildir", "path": str(path), "interval_seconds": 1, **extra}


class RunningWorker:
    """`worker.run_forever()` on a background thread, stopped (and joined) on exit."""

    def __init__(self, worker: Worker, join_seconds: float = 60.0) -> None:
        self.worker = worker
        self.join_seconds = join_seconds  # an upper bound for a hand-off, not a measured time
        self.thread = threading.Thread(target=worker.run_forever, daemon=True)

    def __enter__(self) -> RunningWorker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.worker.stop_event.set()
        self.thread.join(timeout=self.join_seconds)
        assert not self.thread.is_alive(), "the worker did not stop"
