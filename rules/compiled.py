"""The compiled parts of a rules pack: what `compile_pack` builds and `RuleSet` reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from rules import schema as s
from rules.calendar import BusinessCalendar
from rules.loader import Loc, SourceFile
from rules.operators import Evaluator
from rules.sla import SlaTarget
from rules.text import TermMatcher


@dataclass(slots=True)
class CompiledSignal:
    """One signal of a category: terms in some fields and/or a condition, with a weight."""

    weight: float
    matcher: TermMatcher | None
    paths: list[tuple[str, ...]]
    max_hits: int
    cond: Evaluator | None
    explicit: bool = False


@dataclass(slots=True)
class CompiledCategory:
    """A category with its labels and signals."""

    id: str
    label_fr: str
    label_en: str
    signals: list[CompiledSignal]


@dataclass(slots=True)
class CompiledPolicy:
    """An SLA policy: which cases it covers, its base priority, calendar and targets."""

    id: str
    categories: frozenset[str]
    tiers: frozenset[str] | None
    cond: Evaluator
    priority: str
    calendar: str
    targets: dict[str, SlaTarget]


@dataclass(slots=True)
class CompiledImpact:
    """An impact rule with its compiled condition and `per` path."""

    model: s.ImpactRule
    cond: Evaluator
    per: tuple[str, ...] | None


@dataclass(slots=True)
class CompiledAutomation:
    """An automation with its condition, its rank and where each action is written."""

    model: s.Automation
    cond: Evaluator
    rank: tuple[int, int, int]
    where: list[tuple[str, int, str]] = field(default_factory=list)  # file, line, key per action


@dataclass(slots=True)
class Pack:
    """Everything compiled from a pack's files."""

    settings: s.Settings
    settings_src: tuple[SourceFile, Loc] | None = None
    calendars: dict[str, BusinessCalendar] = field(default_factory=dict)
    calendar_tz: dict[str, str] = field(default_factory=dict)
    categories: list[CompiledCategory] = field(default_factory=list)
    policies: list[CompiledPolicy] = field(default_factory=list)
    impacts: list[CompiledImpact] = field(default_factory=list)
    thresholds: list[s.Threshold] = field(default_factory=list)
    automations: list[CompiledAutomation] = field(default_factory=list)
    paused_statuses: set[str] = field(default_factory=set)
    warning_ratio: float = 0.8
