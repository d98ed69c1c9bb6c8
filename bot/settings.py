"""Settings: environment variables (CRMBOT_*), mounted secret files, and an optional YAML/TOML file.

Precedence, highest first: explicit arguments, environment, secret files, settings file.
Connector settings stay raw dicts here; each connector validates its own part (see
`bot.registry.validate_connector_settings`) so that a third-party connector brings its model.
"""

from __future__ import annotations

import difflib
import os
import socket
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from bot.errors import ConfigError
from bot.identity.matcher import IdentitySettings

ENV_PREFIX = "CRMBOT_"
SETTINGS_FILE_ENV = "CRMBOT_SETTINGS_FILE"
SECRETS_DIR_ENV = "CRMBOT_SECRETS_DIR"
_settings_file: ContextVar[str | None] = ContextVar("crmbot_settings_file", default=None)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreSettings(_Section):
    """Where crmbot keeps cursors, requests, cases, the outbox and the audit trail."""

    url: str = "sqlite:///crmbot.db"
    raw_max_bytes: int = Field(default=2 * 1024 * 1024, ge=0)
    # After this many days a request's raw bytes are dropped (its parsed content stays); 0 keeps
    # them for ever (bot/store/retention.py).
    raw_retention_days: int = Field(default=90, ge=0)
    echo: bool = False
    auto_migrate: bool = True  # false: wait for `crmbot db upgrade` to bring the schema to head
    schema_wait_seconds: float = Field(default=300.0, ge=0)


class LogSettings(_Section):
    """Log level and format (auto: console on a terminal, JSON lines otherwise)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
    heartbeat_seconds: float = Field(default=300.0, ge=0)  # worker_heartbeat; 0: none


class WorkerSettings(_Section):
    """The worker loop: identity of this replica, batch size, leases."""

    instance_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    batch_size: int = Field(default=100, ge=1, le=10_000)
    lease_seconds: float = Field(default=120.0, gt=0)
    tick_seconds: float = Field(default=1.0, gt=0)
    health_file: Path | None = None


class DispatchSettings(_Section):
    """The outbox dispatcher: small claims per sink, short leases kept alive, real attempts."""

    batch_size: int = Field(default=100, ge=1, le=1_000)  # rows claimed per sink at a time
    lease_seconds: float = Field(default=60.0, gt=0)  # renewed while the rows are worked on
    max_attempts: int = Field(default=8, ge=1)  # real failed attempts before a row is dead
    retry_base_seconds: float = Field(default=5.0, gt=0)
    retry_max_seconds: float = Field(default=3600.0, gt=0)
    outage_max_seconds: float = Field(default=300.0, gt=0)  # longest wait while a sink is down
    round_seconds: float = Field(default=30.0, gt=0)  # one dispatch round, then the loop goes on


class CaseSettings(_Section):
    """How cases are referenced and threaded."""

    reference_prefix: str = Field(default="CB", pattern=r"^[A-Z][A-Z0-9]{0,9}$")
    max_body_chars: int = Field(default=200_000, ge=1_000)
    reopen_window_days: float = Field(default=30.0, ge=0)


class DedupSettings(_Section):
    """When a request from the same contact is the same request again, or a chase."""

    duplicate_window_hours: float = Field(default=72.0, ge=0)
    follow_up_window_days: float = Field(default=30.0, ge=0)
    # Topic similarity (bot/topic.py: content words, no greetings or boilerplate), 0..1.
    # One person's two topics of one category score about 0.05-0.25, a reworded repeat 0.4+.
    similar_text: float = Field(default=0.70, ge=0, le=1)
    similar_text_same_category: float = Field(default=0.40, ge=0, le=1)
    similar_text_chase: float = Field(default=0.30, ge=0, le=1)
    # A case quiet this long needs more than a fairly alike topic of the same category.
    stale_after_days: float = Field(default=14.0, ge=0)
    # Alike topics with nothing specific named (number, site, amount) join only when the words
    # they share weigh this much (bot/distinctive.py: about three words of the matter's own,
    # not the common words of its area); otherwise kept apart and linked for review.
    distinct_mass: float = Field(default=15.0, ge=0)
    # ... and make this share of the weight of the request's own words (a long mail shares
    # many of an area's words with any case of that area).
    distinct_share: float = Field(default=0.40, ge=0, le=1)
    # A bare "any update?" from a contact with several open cases joins the latest case only
    # when it is the one case the sender (same address and name) wrote about in these days.
    bare_chase_sender_days: float = Field(default=14.0, ge=0)
    candidates: int = Field(default=20, ge=1, le=200)


class ReplySettings(_Section):
    """Reply discipline: how often crmbot may answer one person automatically."""

    per_case_per_day: int = Field(default=1, ge=0, le=100)
    per_sender_per_hour: int = Field(default=3, ge=0, le=1_000)
    per_sender_per_day: int = Field(default=10, ge=0, le=10_000)
    loop_threshold: int = Field(default=3, ge=2, le=100)
    loop_window_hours: float = Field(default=6.0, gt=0, le=168)
    loop_answer_seconds: float = Field(default=600.0, gt=0, le=86_400)


class BudgetSettings(_Section):
    """What one item may cost: over it, it is quarantined with the reason."""

    item_max_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    # CPU time of the thread handling one item; 10 times that of wall-clock time (bot/budget.py)
    item_seconds: float = Field(default=60.0, gt=0)
    # Times an item may be handled alone and kill the process before it is quarantined;
    # at least 2, so that one crash of a whole batch never quarantines an innocent item.
    poison_attempts: int = Field(default=3, ge=2, le=100)


class HttpSettings(_Section):
    """The worker's HTTP endpoint (/healthz, /readyz, /metrics, status page at /).

    It listens on loopback unless `host` says otherwise: exposing it is a deliberate choice.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9108, ge=0, le=65535)


class SteeringSettings(_Section):
    """Steering indicators: labels' language, the at-risk window, the team's capacity."""

    language: Literal["en", "fr"] = "en"
    at_risk_hours: float = Field(default=4.0, gt=0, le=720)
    # Capacity: agents on duty per business hour and cases one agent closes per hour; when
    # agents_per_hour is unset, the closing rate measured over `capacity_weeks` is used.
    agents_per_hour: float | None = Field(default=None, ge=0)
    cases_per_agent_hour: float = Field(default=1.0, gt=0)
    capacity_weeks: int = Field(default=4, ge=1, le=52)
    history_weeks: int = Field(default=8, ge=1, le=104)
    horizon_hours: int = Field(default=48, ge=1, le=500)


class OverflowSettings(_Section):
    """Overflow to an outsourced team when the forecast expects breaches at capacity.

    Every `interval_seconds`, while the forecast expects breaches, the open cases are offered
    least critical first to the rules' `forecast.updated` automations; an `assign` they plan
    routes the case to that queue (through `sink`, else the source's write-back sink). When
    no breach is expected any more, routed cases go back to their previous queue (or
    `home_queue`). Cases with a `protected` tag or reason move only when a rule also adds the
    tag `overflow:allowed`.
    """

    enabled: bool = False
    team: str = Field(default="outsourced", pattern=r"^[a-z0-9_-]{1,40}$")
    sink: str | None = None
    home_queue: str | None = None
    protected: list[str] = Field(
        default_factory=lambda: ["strategic_customer", "legal_risk", "blocking"]
    )
    max_cases_per_run: int = Field(default=50, ge=1, le=10_000)
    interval_seconds: float = Field(default=300.0, ge=5)


def _precedence(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """Where settings come from, highest first: arguments, environment, secrets, file."""
    return (
        init_settings,
        env_settings,
        _SecretFilesSource(settings_cls),
        _SettingsFileSource(settings_cls),
    )


class Settings(BaseSettings):
    """All of crmbot's settings."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
    )

    store: StoreSettings = Field(default_factory=StoreSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    cases: CaseSettings = Field(default_factory=CaseSettings)
    dedup: DedupSettings = Field(default_factory=DedupSettings)
    replies: ReplySettings = Field(default_factory=ReplySettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    steering: SteeringSettings = Field(default_factory=SteeringSettings)
    overflow: OverflowSettings = Field(default_factory=OverflowSettings)
    rules_dir: Path | None = None
    dry_run: bool = False
    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sinks: dict[str, dict[str, Any]] = Field(default_factory=dict)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    # Fernet key(s) sealing the OAuth2 tokens kept in the store, newest first (bot/sealing.py)
    secrets_key: SecretStr | None = None

    @field_validator("sources", "sinks")
    @classmethod
    def _names_are_simple(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, conf in value.items():
            if not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"name {name!r} must be letters, digits, '-' or '_'")
            if not isinstance(conf, dict) or "type" not in conf:
                raise ValueError(f"{name!r} needs a 'type' (the connector, e.g. imap, maildir)")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then environment, then secret files, then the settings file."""
        return _precedence(settings_cls, init_settings, env_settings)


class _SettingsFileSource(PydanticBaseSettingsSource):
    """Reads the YAML or TOML file named by CRMBOT_SETTINGS_FILE."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = _settings_file.get() or os.environ.get(SETTINGS_FILE_ENV)
        if not path:
            return {}
        return read_settings_file(Path(path))


class _SecretFilesSource(PydanticBaseSettingsSource):
    """Reads mounted secrets: file `crmbot_sources__inbox__password` sets sources.inbox.password."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        directory = Path(os.environ.get(SECRETS_DIR_ENV, "/run/secrets"))
        if not directory.is_dir():
            return {}
        found: dict[str, Any] = {}
        for entry in sorted(directory.iterdir()):
            name = entry.name.lower()
            if not name.startswith(ENV_PREFIX.lower()) or not entry.is_file():
                continue
            path = name[len(ENV_PREFIX) :].split("__")
            node = found
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = entry.read_text(encoding="utf-8").strip()
        return found


def read_settings_file(path: Path) -> dict[str, Any]:
    """Parse a YAML or TOML settings file into a dict; a clear ConfigError otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"settings file {path}: cannot be read ({exc.strerror})") from exc
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"settings file {path}: not valid {path.suffix[1:]}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"settings file {path}: the top level must be a mapping of settings")
    base = path.parent.resolve()
    store = data.get("store")
    if isinstance(store, dict) and isinstance(store.get("url"), str):
        store["url"] = _resolve_sqlite_url(store["url"], base)
    for section in ("sources", "sinks"):
        for conf in (data.get(section) or {}).values():
            if isinstance(conf, dict) and isinstance(conf.get("path"), str):
                conf["path"] = str((base / conf["path"]).resolve())
    worker = data.get("worker")
    if isinstance(worker, dict) and isinstance(worker.get("health_file"), str):
        worker["health_file"] = str((base / worker["health_file"]).resolve())
    if isinstance(data.get("rules_dir"), str):
        data["rules_dir"] = str((base / data["rules_dir"]).resolve())
    return data


def _resolve_sqlite_url(url: str, base: Path) -> str:
    """Make a relative SQLite path in a settings file relative to that file."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str(base / url[len(prefix) :])
    return url


_SECRET_NAME = ("password", "token", "secret", "key", "credential")


def _shown_input(loc: str, value: Any) -> str:
    """What the user wrote, when it is safe and useful to echo: a scalar, not a secret."""
    if any(word in loc.lower() for word in _SECRET_NAME):
        return ""
    if isinstance(value, dict):
        return f" (keys: {', '.join(sorted(map(str, value))) or 'none'})"
    if isinstance(value, str | int | float | bool) and len(repr(value)) <= 120:
        from bot.logging import redact_text

        return f" (got {redact_text(repr(value))})"
    return ""


def _field_names(model: Any, path: tuple[Any, ...]) -> list[str]:
    """The setting names valid at `path` inside `model` (a pydantic model class)."""
    for part in path:
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            return []
        model = fields[part].annotation
    fields = getattr(model, "model_fields", None)
    return list(fields) if fields else []


def _did_you_mean(word: str, names: list[str]) -> str:
    close = difflib.get_close_matches(word.lower(), names, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def secret_hint(loc: str) -> str:
    """Where a missing secret comes from: its environment variable and its secret file."""
    env = ENV_PREFIX + loc.replace(".", "__").upper()
    directory = os.environ.get(SECRETS_DIR_ENV, "/run/secrets")
    return f"set {env}, or put it in the file {directory}/{env.lower()}"


def format_validation_error(exc: ValidationError, root: str = "", model: Any = None) -> str:
    """Render a pydantic error as lines 'setting.path: what is expected (got ...)'.

    An unknown key gets the nearest valid name; a missing secret names its environment
    variable and secret file. Only scalars are echoed back: a mapping (a whole connector
    section) could hold a password.
    """
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in ((root,) if root else ()) + tuple(err["loc"]))
        shown = (
            ""
            if err["type"] in {"missing", "extra_forbidden"}
            else _shown_input(loc, err.get("input"))
        )
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            names = _field_names(model, tuple(err["loc"][:-1])) if model is not None else []
            message = "unknown setting" + _did_you_mean(str(err["loc"][-1]), names)
        elif err["type"] == "missing" and any(w in loc.lower() for w in _SECRET_NAME):
            message = f"missing secret: {secret_hint(loc)}"
        lines.append(f"{loc or '(settings)'}: {message}{shown}")
    return "\n".join(lines)


def validation_problems(settings: Settings) -> list[str]:
    """Every problem of the connector sections (sources, sinks), all at once."""
    from bot.registry import validate_connector_settings

    problems = []
    for section in ("sources", "sinks"):
        for name, raw in getattr(settings, section).items():
            try:
                validate_connector_settings(section, name, raw)
            except ConfigError as exc:
                text = str(exc)
                if "\n" in text:
                    problems.extend(text.splitlines()[1:])
                else:
                    where = f"{section}.{name}"
                    problems.append(text if text.startswith(where) else f"{where}.type: {text}")
    return problems


def load_settings(
    settings_file: Path | None = None, *, connectors: bool = False, **overrides: Any
) -> Settings:
    """Load and validate the settings; a ConfigError names each wrong setting.

    `settings_file` (else CRMBOT_SETTINGS_FILE) names the YAML or TOML file. With
    `connectors`, every source and sink is validated too, and every problem is in the
    one ConfigError (not one per round of fixes).
    """
    if settings_file is not None and not settings_file.is_file():
        raise ConfigError(f"settings file {settings_file} does not exist")
    token = _settings_file.set(str(settings_file) if settings_file else None)
    try:
        try:
            settings = Settings(**overrides)
        except ValidationError as exc:
            problems = format_validation_error(exc, model=Settings).splitlines()
            if connectors:  # the connector sections' problems too, in the same report
                problems += _connector_problems_alone(overrides)
            raise ConfigError("invalid settings:\n" + "\n".join(problems)) from exc
    finally:
        _settings_file.reset(token)
    problems = validation_problems(settings) if connectors else []
    if problems:
        raise ConfigError("invalid settings:\n" + "\n".join(problems))
    return settings


class _ConnectorsOnly(BaseSettings):
    """The same sources of settings as Settings, reading only `sources` and `sinks`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore", case_sensitive=False
    )

    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sinks: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The same order as Settings: arguments, environment, secret files, settings file."""
        return _precedence(settings_cls, init_settings, env_settings)


def _connector_problems_alone(overrides: dict[str, Any]) -> list[str]:
    """The connector problems of settings whose other sections failed validation."""
    try:
        keep = {k: v for k, v in overrides.items() if k in ("sources", "sinks")}
        return validation_problems(_ConnectorsOnly(**keep))  # type: ignore[arg-type]
    except Exception:  # a malformed section is already in the first part of the report
        return []
