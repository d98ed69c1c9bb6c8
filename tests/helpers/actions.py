"""End-to-end helpers for actions: a one-rule pack, a worker over a CRM source, outbox states."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from bot.app import rules_provider
from bot.pipeline import Pipeline
from bot.registry import build_sink, build_source
from bot.settings import Settings
from bot.stages import DEFAULT_STAGES
from bot.store import Store
from bot.store.schema import outbox
from bot.worker import Worker


def one_rule_pack(directory: Path, actions: list[dict[str, Any]], **settings: Any) -> Path:
    """A rules pack whose only automation plans `actions` for every new case."""
    directory.mkdir(parents=True, exist_ok=True)
    pack: dict[str, Any] = {
        "version": 1,
        "automations": [{"id": "under_test", "events": ["case.created"], "actions": actions}],
    }
    if settings:
        pack["settings"] = settings
    (directory / "automations.yaml").write_text(yaml.safe_dump(pack, allow_unicode=True))
    return directory


def crm_worker(
    store: Store,
    store_url: str,
    rules_dir: Path,
    source: dict[str, Any],
    sinks: dict[str, dict[str, Any]],
) -> Worker:
    """A worker over one CRM source (named "crm") that writes back to the given sinks."""
    settings = Settings(
        store={"url": store_url},
        sources={"crm": source},
        sinks=sinks,
        rules_dir=str(rules_dir),
    )
    built = {name: build_sink(name, conf)[0] for name, conf in sinks.items()}
    return Worker(
        settings,
        store,
        {"crm": build_source("crm", source)},
        Pipeline(DEFAULT_STAGES),
        sinks=built,
        rules=rules_provider(settings),
    )


def outbox_rows(store: Store) -> list[dict[str, Any]]:
    """Every outbox row: action, sink, state, result."""
    with store.connect() as conn:
        rows = conn.execute(
            select(outbox.c.action, outbox.c.sink, outbox.c.state, outbox.c.result).order_by(
                outbox.c.id
            )
        )
        return [dict(r._mapping) for r in rows]


def not_done(store: Store) -> list[dict[str, Any]]:
    """Outbox rows that did not reach their sink's system, with why."""
    return [r for r in outbox_rows(store) if r["state"] != "done"]
