"""Assemble the runtime from settings: store, sources, sinks, rules, pipeline, worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from bot.errors import ConfigError
from bot.pipeline import Pipeline
from bot.registry import build_sink, build_source
from bot.settings import Settings
from bot.shared import StoreSharing, sealer_from_settings
from bot.stages import DEFAULT_STAGES
from bot.store import Store, open_store
from bot.worker import Worker
from connectors.base import ConnectorSettings, Sink, Source
from connectors.kit.shared import sharing as kit_sharing

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Runtime:
    """Everything `crmbot run` needs, built and validated."""

    settings: Settings
    store: Store
    sources: dict[str, tuple[Source, ConnectorSettings]]
    sinks: dict[str, Sink]
    rules: Callable[[], Any]

    def worker(self) -> Worker:
        """A worker over this runtime with the default pipeline."""
        return Worker(
            self.settings,
            self.store,
            self.sources,
            Pipeline(DEFAULT_STAGES),
            sinks=self.sinks,
            rules=self.rules,
        )

    def close(self) -> None:
        """Close sources, sinks and the store."""
        for source, _ in self.sources.values():
            source.close()
        for sink in self.sinks.values():
            sink.close()
        self.store.dispose()


def rules_provider(settings: Settings) -> Callable[[], Any]:
    """The current rule set, hot-reloaded from settings.rules_dir (default pack otherwise)."""
    from bot.routing import case_only, refuse_unperformable, write_back_settings
    from rules.reload import RulesWatcher

    routes = write_back_settings(settings)
    watcher = RulesWatcher(
        settings.rules_dir, check=lambda ruleset: refuse_unperformable(routes, ruleset)
    )
    # Validate now: broken rules, or an action no configured sink performs, stop start-up
    # with file:line errors; a reload that breaks either keeps the previous rules.
    ruleset = watcher.current()
    local = case_only(routes, ruleset.action_uses())
    if local:
        log.info(
            "rules_actions_case_only",
            actions=sorted({f"{u.rule_id}:{u.action_type}" for u in local}),
            why="no sink of their kind is configured: they change crmbot's case only",
        )
    return watcher.current


def build_runtime(settings: Settings, *, migrate: bool = True) -> Runtime:
    """Validate connector settings, load rules, and open the store."""
    sources: dict[str, tuple[Source, ConnectorSettings]] = {}
    sinks: dict[str, Sink] = {}
    # The connectors' rate limits and OAuth2 tokens live in the store, shared by replicas.
    sharing = StoreSharing(sealer=sealer_from_settings(settings))
    with kit_sharing(sharing.state()):
        for name, raw in settings.sources.items():
            sources[name] = build_source(name, raw)
        for name, raw in settings.sinks.items():
            sinks[name] = build_sink(name, raw)[0]
    for name, (_, conf) in sources.items():
        target = conf.write_back
        if target is not None and target not in sinks:
            raise ConfigError(f"sources.{name}.write_back: no sink named {target!r}")
    rules = rules_provider(settings)
    store = open_store(
        settings.store.url,
        echo=settings.store.echo,
        run_migrations=migrate and settings.store.auto_migrate,
        wait_for_schema=settings.store.schema_wait_seconds,
    )
    sharing.bind(store)
    try:
        sharing.check_at_rest()  # no clear OAuth2 token in a shared store; a wrong key: fatal
    except BaseException:
        store.dispose()
        raise
    return Runtime(settings, store, sources, sinks, rules)
