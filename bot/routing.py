"""Which configured sink performs an action, and which rules no configured sink can perform.

Routing follows each sink's declaration (`ConnectorSpec.actions`, or `actions_for` its
settings when they decide, e.g. RT's `tags_custom_field`):
- an explicit sink (a planned action that names one) performs it, if it declares the type;
- `send_reply` and `webhook` go to the first sink that declares them (SMTP, webhook);
- every other action (the write-back family) goes to the write-back sink of the source the
  request came from, which must declare it.

A rule whose action would reach a sink that does not perform it, or a webhook with no
webhook sink, is refused when the rules are loaded (`crmbot rules check --settings`, worker
start-up, hot reload). An action with no sink of its kind at all (a mailbox with no
write-back, no SMTP sink) changes only crmbot's own case: it is listed as such, not refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.actions import RECORD_ACTIONS
from bot.errors import ConfigError
from connectors.base import ConnectorSettings
from connectors.kit.writeback import WriteBackSettings

if TYPE_CHECKING:
    from bot.settings import Settings

BY_TYPE_ONLY = frozenset({"send_reply", "webhook"})  # routed by type, not by source
NEEDS_A_SINK = frozenset({"webhook"})  # has no meaning inside crmbot's own case


@dataclass(frozen=True, slots=True)
class Route:
    """Where an action goes: a sink name, or why it is refused (both None: no sink of its kind)."""

    sink: str | None = None
    refusal: str | None = None


def write_back_settings(
    settings: Settings, sources: Mapping[str, ConnectorSettings] | None = None
) -> WriteBackSettings:
    """The typed write-back of the configured connectors (ConfigError if a sink is invalid).

    `sources`: the sources' validated settings (the worker's); of any other source only
    its `write_back` is read. Every sink is validated with its connector's model.
    """
    from bot.registry import validate_connector_settings

    sinks = {
        name: validate_connector_settings("sinks", name, raw)
        for name, raw in settings.sinks.items()
    }
    known: dict[str, ConnectorSettings | Mapping[str, Any]] = dict(settings.sources)
    known.update(sources or {})
    return WriteBackSettings.of(known, sinks)


def performs(conf: ConnectorSettings | Mapping[str, Any] | None) -> frozenset[str]:
    """The action types a sink with these settings declares (empty when unknown or invalid).

    Raw settings (a tool's, a test's) are validated with the connector's model first.
    """
    from bot.registry import get_connector, validate_connector_settings

    if conf is None:
        return frozenset()
    try:
        if not isinstance(conf, ConnectorSettings):
            conf = validate_connector_settings("sinks", "?", dict(conf))
        spec = get_connector(conf.type)
    except ConfigError:
        return frozenset()
    if spec.actions_for is not None:
        return spec.actions_for(conf)
    return spec.actions


def why_not(name: str, conf: ConnectorSettings, action_type: str) -> str:
    """The refusal sentence for a sink that does not perform `action_type`."""
    from bot.registry import get_connector

    try:
        spec = get_connector(conf.type)
    except ConfigError as exc:
        return f"sink {name!r}: {exc}"
    because = spec.refusals.get(action_type)
    declared = ", ".join(sorted(performs(conf))) or "nothing"
    head = f"sink {name!r} ({conf.type}) cannot perform {action_type}"
    return f"{head}: {because}" if because else f"{head} (it performs: {declared})"


def route(
    write_back: WriteBackSettings, action_type: str, source: str | None, explicit: str = ""
) -> Route:
    """The sink that performs an action planned for a request of `source`."""
    sinks = write_back.sinks
    if explicit:
        if explicit not in sinks:
            return Route(refusal=f"no sink named {explicit!r} is configured")
        if action_type not in performs(sinks[explicit]):
            return Route(refusal=why_not(explicit, sinks[explicit], action_type))
        return Route(sink=explicit)
    if action_type in BY_TYPE_ONLY:
        name = next((n for n, c in sinks.items() if action_type in performs(c)), None)
        return Route(sink=name)
    if action_type not in RECORD_ACTIONS:
        return Route(refusal=f"unknown action type {action_type!r}")
    target = write_back.sink_for(source)
    if not target:
        return Route()
    if target not in sinks:
        return Route(refusal=f"write-back sink {target!r} is not configured")
    if action_type not in performs(sinks[target]):
        return Route(refusal=why_not(target, sinks[target], action_type))
    return Route(sink=target)


@dataclass(frozen=True, slots=True)
class ActionUse:
    """One action of one rule, where it is written."""

    rule_id: str
    action_type: str
    file: str = ""
    line: int = 0
    key: str = ""


def refusals(
    write_back: WriteBackSettings, uses: Iterable[ActionUse]
) -> list[tuple[ActionUse, str]]:
    """Each rule action no configured sink can perform, with the sentence that says why."""
    out: list[tuple[ActionUse, str]] = []
    for use in uses:
        kind = use.action_type
        head = f"rule {use.rule_id!r}: action {kind}"
        if kind in BY_TYPE_ONLY:
            if kind in NEEDS_A_SINK and route(write_back, kind, None).sink is None:
                out.append((use, f"{head}: no configured sink performs {kind} (add a {kind} sink)"))
            continue
        for name in write_back.write_back_sinks():
            conf = write_back.sinks.get(name)
            if conf is not None and kind not in performs(conf):
                out.append((use, f"{head}: {why_not(name, conf, kind)}"))
    return out


def case_only(write_back: WriteBackSettings, uses: Iterable[ActionUse]) -> list[ActionUse]:
    """Rule actions that reach no sink here: they change crmbot's own case only."""
    has_write_back = bool(write_back.targets)
    out = []
    for use in uses:
        if use.action_type in BY_TYPE_ONLY:
            if route(write_back, use.action_type, None).sink is None:
                out.append(use)
        elif not has_write_back:
            out.append(use)
    return out


def refuse_unperformable(write_back: WriteBackSettings, ruleset: Any) -> None:
    """Raise RulesError (file:line, rule, action, sink) if a rule's action cannot be performed."""
    from rules.loader import RuleIssue, RulesError

    found = refusals(write_back, ruleset.action_uses())
    if found:
        raise RulesError(
            [RuleIssue(use.file, use.line, use.key, message) for use, message in found]
        )
