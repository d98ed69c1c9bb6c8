"""Find connectors (entry points `crmbot.connectors`) and build configured sources and sinks."""

from __future__ import annotations

import difflib
from functools import cache
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

import structlog
from pydantic import ValidationError

from bot.errors import ConfigError
from bot.logging import register_secret
from bot.settings import format_validation_error
from connectors.base import ConnectorSettings, ConnectorSpec, Sink, Source

log = structlog.get_logger(__name__)
GROUP = "crmbot.connectors"
BUILTIN = {
    "imap": "connectors.imap:CONNECTOR",
    "maildir": "connectors.maildir:CONNECTOR",
    "hubspot": "connectors.hubspot:CONNECTOR",
    "zendesk": "connectors.zendesk:CONNECTOR",
    "rt": "connectors.rt:CONNECTOR",
    "smtp": "connectors.smtp:CONNECTOR",
    "webhook": "connectors.webhook:CONNECTOR",
}


def _load(target: str) -> ConnectorSpec:
    module, _, attr = target.partition(":")
    return getattr(import_module(module), attr)


@cache
def connector_targets() -> dict[str, str]:
    """Connector name -> 'module:attribute', built-ins overridden by installed entry points."""
    targets = dict(BUILTIN)
    for ep in entry_points(group=GROUP):
        targets[ep.name] = ep.value
    return targets


def get_connector(name: str) -> ConnectorSpec:
    """The connector spec for a type name; a ConfigError suggests the nearest known name."""
    targets = connector_targets()
    if name not in targets:
        near = difflib.get_close_matches(name, list(targets), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ConfigError(f"unknown connector type {name!r}{hint}; known: {sorted(targets)}")
    try:
        return _load(targets[name])
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"connector {name!r} cannot be loaded: {exc}") from exc


def validate_connector_settings(section: str, name: str, raw: dict[str, Any]) -> ConnectorSettings:
    """Validate one source's or sink's settings with its connector's own model."""
    spec = get_connector(str(raw.get("type")))
    try:
        settings = spec.settings_model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            f"invalid settings for {section}.{name}:\n"
            + format_validation_error(exc, root=f"{section}.{name}", model=spec.settings_model)
        ) from exc
    for value in settings.__dict__.values():
        secret = getattr(value, "get_secret_value", None)
        if secret is not None:
            register_secret(secret())
    return settings


def build_source(name: str, raw: dict[str, Any]) -> tuple[Source, ConnectorSettings]:
    """A configured source and its validated settings."""
    settings = validate_connector_settings("sources", name, raw)
    spec = get_connector(settings.type)
    if spec.make_source is None:
        raise ConfigError(f"sources.{name}: connector {settings.type!r} cannot be a source")
    return spec.make_source(name, settings), settings


def build_sink(name: str, raw: dict[str, Any]) -> tuple[Sink, ConnectorSettings]:
    """A configured sink and its validated settings."""
    settings = validate_connector_settings("sinks", name, raw)
    spec = get_connector(settings.type)
    if spec.make_sink is None:
        raise ConfigError(f"sinks.{name}: connector {settings.type!r} cannot be a sink")
    return spec.make_sink(name, settings), settings
