"""The pipeline: a list of small stages with one signature, run on each record in turn.

A stage takes the context and the work item and returns the item (maybe enriched) or None
to drop it. Dropping is a signal, not an error: the stage records why in `work.dropped`
before returning None. Later capabilities extend the pipeline by adding stages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from sqlalchemy import Connection

from bot.actions import PlannedAction
from bot.entities import Case, Contact
from bot.models import Request, SourceRecord
from bot.reasons import Reason
from bot.settings import Settings
from connectors.base import ConnectorSettings, Sink
from connectors.kit.writeback import WriteBackSettings

if TYPE_CHECKING:
    from rules.decide import RuleSet


@dataclass(slots=True)
class Work:
    """One record on its way through the pipeline, and everything learnt about it."""

    record: SourceRecord | None  # what a source read; None for a case event (an SLA timer)
    request: Request | None = None
    request_id: int | None = None
    contact: Contact | None = None
    new_contact: bool = False  # created by this request: it has no earlier requests
    case: Case | None = None
    relation: str | None = None  # origin | reply | follow_up | duplicate
    events: list[str] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    previous: dict[str, Any] = field(default_factory=dict)  # case fields before this request
    timer_due_at: datetime | None = None  # for sla.* events: the deadline that woke us up
    decision: Any = None
    actions: list[PlannedAction] = field(default_factory=list)
    dropped: str | None = None

    def drop(self, why: str) -> None:
        """Mark the item as dropped (the stage then returns None)."""
        self.dropped = why


class EventLog(Protocol):
    """What stages log through (a structlog logger): an event name and its fields."""

    def info(self, event: str, *args: Any, **kw: Any) -> Any:
        """Log an event."""

    def warning(self, event: str, *args: Any, **kw: Any) -> Any:
        """Log an event that needs attention."""

    def error(self, event: str, *args: Any, **kw: Any) -> Any:
        """Log a failure."""


@dataclass(slots=True)
class StageContext:
    """What every stage may use: the open transaction, settings, the clock, the rules, and
    the validated settings of each configured source."""

    conn: Connection
    settings: Settings
    now: datetime
    log: EventLog = field(default_factory=lambda: structlog.get_logger("bot.pipeline"))
    rules: RuleSet | None = None
    sinks: Mapping[str, Sink] = field(default_factory=dict)
    matcher_factory: Callable[[Connection], Any] | None = None
    sources: dict[str, ConnectorSettings] = field(default_factory=dict)
    routes: WriteBackSettings | None = None  # the typed write-back; built once when not given
    # Requests parsed ahead for the batch being stored, by id() of their record (a stage's
    # `prepare`, see Pipeline.prepare); empty on the record-by-record path.
    parsed: dict[int, Request] = field(default_factory=dict)

    def source_settings(self, name: str) -> ConnectorSettings | None:
        """The validated settings of source `name` (None if no such source is configured)."""
        found = self.sources.get(name)
        raw = self.settings.sources.get(name)
        if found is None and raw is not None:
            from bot.registry import validate_connector_settings

            found = self.sources[name] = validate_connector_settings("sources", name, raw)
        return found

    def write_back(self) -> WriteBackSettings:
        """Where each source writes back and every sink's validated settings (for routing)."""
        if self.routes is None:
            from bot.routing import write_back_settings

            self.routes = write_back_settings(self.settings, self.sources)
        return self.routes


Stage = Callable[[StageContext, Work], Work | None]


class Pipeline:
    """An ordered list of stages.

    A stage may also have a `prepare(ctx, records)` attribute: called once for a whole batch
    before its records run one by one (on the worker's fast path only), to read or compute
    for the batch at once what the stage would otherwise do per record. A stage behaves the
    same with or without it.
    """

    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = list(stages)

    def prepare(self, ctx: StageContext, records: Sequence[SourceRecord]) -> None:
        """Let each stage that can prepare for the batch do so, in stage order."""
        for stage in self.stages:
            prepare = getattr(stage, "prepare", None)
            if prepare is not None:
                prepare(ctx, records)

    def run(self, ctx: StageContext, work: Work) -> Work:
        """Run every stage in order until one drops the item; return the item."""
        for stage in self.stages:
            result = stage(ctx, work)
            if result is None:
                if work.dropped is None:
                    work.dropped = getattr(stage, "__name__", "stage")
                break
            work = result
        return work
