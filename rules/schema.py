"""Typed models of a rules file: settings, calendars, categories, SLA, impact, automations.

Every model forbids unknown keys. Conditions are told apart by their shape (`all`, `any`,
`not`, or a leaf with an `op`); leaves and actions by their `op` / `type` discriminator.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from bot import actions
from rules.calendar import CalendarSpec
from rules.sla import SlaTarget

Priority = actions.Priority
PRIORITIES: tuple[str, ...] = actions.PRIORITIES
Event = Literal[
    "request.received",
    "case.created",
    "case.follow_up",
    "case.updated",
    "sla.warning",
    "sla.breached",
    "forecast.updated",
]
EVENTS: tuple[str, ...] = (
    "request.received",
    "case.created",
    "case.follow_up",
    "case.updated",
    "sla.warning",
    "sla.breached",
    "forecast.updated",  # the steering overflow job (bot/steering/overflow.py), per open case
)
FIELD_ROOTS: tuple[str, ...] = (
    "request",
    "contact",
    "company",
    "case",
    "previous",
    "forecast",  # breach_expected, breach_hour, breach_cases (bot/steering/forecast.py)
    "model",  # blocking_probability, legal_risk_probability (rules/model/)
)
WRITABLE_ROOTS: tuple[str, ...] = ("case", "contact", "company")
Scalar = str | int | float | bool | None


class Strict(BaseModel):
    """Base model: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Localized(Strict):
    """A text in French and English; either may be missing, not both."""

    fr: str | None = None
    en: str | None = None

    def pick(self, lang: str | None, default: str = "fr") -> str:
        """The variant for `lang`, else the default language's, else the other one."""
        for candidate in (lang, default, "fr", "en"):
            value = getattr(self, candidate, None) if candidate in ("fr", "en") else None
            if value:
                return value
        return ""


LocalizedText = str | Localized


def pick_text(text: LocalizedText | None, lang: str | None, default: str = "fr") -> str:
    """A plain or localised text in the wanted language."""
    if text is None:
        return ""
    if isinstance(text, str):
        return text
    return text.pick(lang, default)


# --------------------------------------------------------------------------- conditions


class _Leaf(Strict):
    """A leaf condition on one field (or several fields, for the text operators)."""

    field: str


class EqualsCond(_Leaf):
    """The field equals `value` (strings compared without case and accents)."""

    op: Literal["equals"]
    value: Scalar


class InCond(_Leaf):
    """The field is one of `value`."""

    op: Literal["in"]
    value: list[Scalar] = Field(min_length=1)


class ContainsAnyCond(Strict):
    """At least one of the words/phrases occurs in the field(s)."""

    op: Literal["contains_any"]
    field: str | list[str] = "request.text"
    value: list[str] = Field(min_length=1)


class ContainsAllCond(Strict):
    """Every word/phrase occurs in the field(s)."""

    op: Literal["contains_all"]
    field: str | list[str] = "request.text"
    value: list[str] = Field(min_length=1)


class MatchesCond(Strict):
    """The field matches an RE2 regular expression."""

    op: Literal["matches"]
    field: str | list[str] = "request.text"
    value: str = Field(min_length=1)
    ignore_case: bool = True


class ExistsCond(_Leaf):
    """The field is present and not empty (`value: false` for the opposite)."""

    op: Literal["exists"]
    value: bool = True


class GreaterCond(_Leaf):
    """The field is a number greater than `value`."""

    op: Literal["greater"]
    value: float


class LessCond(_Leaf):
    """The field is a number less than `value`."""

    op: Literal["less"]
    value: float


class OlderThanCond(_Leaf):
    """The field is a date older than `value` (a duration such as "2d", "4h") before now."""

    op: Literal["older_than"]
    value: str


class NewerThanCond(_Leaf):
    """The field is a date less than `value` old."""

    op: Literal["newer_than"]
    value: str


class ChangedCond(_Leaf):
    """The field differs from its value in `previous` (on updates)."""

    op: Literal["changed"]


class ChangedToCond(_Leaf):
    """The field changed and now equals `value`."""

    op: Literal["changed_to"]
    value: Scalar


class InBusinessHoursCond(Strict):
    """The date in `field` (default: now) falls within the calendar's opening hours."""

    op: Literal["in_business_hours"]
    calendar: str
    field: str | None = None
    value: bool = True


Leaf = Annotated[
    EqualsCond
    | InCond
    | ContainsAnyCond
    | ContainsAllCond
    | MatchesCond
    | ExistsCond
    | GreaterCond
    | LessCond
    | OlderThanCond
    | NewerThanCond
    | ChangedCond
    | ChangedToCond
    | InBusinessHoursCond,
    Field(discriminator="op"),
]


class AllCond(Strict):
    """Every sub-condition holds."""

    all_: list[Condition] = Field(alias="all", min_length=1)


class AnyCond(Strict):
    """At least one sub-condition holds."""

    any_: list[Condition] = Field(alias="any", min_length=1)


class NotCond(Strict):
    """The sub-condition does not hold."""

    not_: Condition = Field(alias="not")


def _condition_kind(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("all", "any", "not"):
            if key in value:
                return key
        return "leaf"
    if isinstance(value, AllCond):
        return "all"
    if isinstance(value, AnyCond):
        return "any"
    if isinstance(value, NotCond):
        return "not"
    return "leaf"


Condition = Annotated[
    Annotated[AllCond, Tag("all")]
    | Annotated[AnyCond, Tag("any")]
    | Annotated[NotCond, Tag("not")]
    | Annotated[Leaf, Tag("leaf")],
    Discriminator(_condition_kind),
]

# ------------------------------------------------------------------------------ actions


# The actions that need no template are the contract's own models (bot/actions.py); those
# with French/English templates are rendered by the engine into the contract's models.
SetFieldAction = actions.SetField
SetPriorityAction = actions.SetPriority
AddTagAction = actions.AddTag
RemoveTagAction = actions.RemoveTag
AssignAction = actions.Assign
WebhookAction = actions.Webhook


class AddNoteAction(Strict):
    """Add an internal note (a template) to the case."""

    type: Literal["add_note"]
    text: LocalizedText


class SendReplyAction(Strict):
    """Send a templated reply to the requester (French and English variants)."""

    type: Literal["send_reply"]
    subject: LocalizedText
    body: LocalizedText


class EscalateAction(Strict):
    """Raise the priority (by `raise_by` levels or `to` a priority), move to a queue, notify."""

    type: Literal["escalate"]
    raise_by: int = Field(default=1, ge=0, le=3)
    to: Priority | None = None
    queue: str | None = None
    notify: list[str] = Field(default_factory=list)
    message: LocalizedText | None = None


Action = Annotated[
    SetFieldAction
    | SetPriorityAction
    | AddTagAction
    | RemoveTagAction
    | AssignAction
    | AddNoteAction
    | SendReplyAction
    | EscalateAction
    | WebhookAction,
    Field(discriminator="type"),
]
ACTION_TYPES: tuple[str, ...] = (
    "set_field",
    "set_priority",
    "add_tag",
    "remove_tag",
    "assign",
    "add_note",
    "send_reply",
    "escalate",
    "webhook",
)

# ---------------------------------------------------------------------------- sections


class CategorySettings(Strict):
    """How category scores become a category and a confidence."""

    fallback: str = "other"
    min_confidence: float = Field(default=0.4, ge=0, le=1)
    min_score: float = Field(default=1.0, ge=0)
    smoothing: float = Field(default=2.0, gt=0)
    subject_multiplier: float = Field(default=1.5, ge=0)
    low_confidence_tag: str = "triage:low_confidence"
    # The learned model decides beside the rules (rules/model); see categories.yaml.
    model: bool = True
    rules_win_score: float = Field(default=12.0, ge=0)
    rules_win_confidence: float = Field(default=0.8, ge=0, le=1)
    model_min_probability: float = Field(default=0.35, ge=0, le=1)
    model_min_words: int = Field(default=8, ge=0)


class Settings(Strict):
    """Pack-wide settings."""

    default_language: Literal["fr", "en"] = "fr"
    default_calendar: str | None = None
    recursion_limit: int = Field(default=5, ge=1, le=20)
    webhook_allowed_hosts: list[str] = Field(default_factory=list)
    categories: CategorySettings = Field(default_factory=CategorySettings)


class Signal(Strict):
    """Evidence for a category: terms (weight × distinct hits) and/or a condition.

    `explicit: true` makes a match decisive: its category wins over the learned model.
    """

    weight: float = 1.0
    terms: list[str] = Field(default_factory=list)
    fields: list[str] = Field(default_factory=lambda: ["request.subject", "request.body"])
    max_hits: int = Field(default=3, ge=1)
    when: Condition | None = None
    explicit: bool = False


class Category(Strict):
    """A category with its labels and scored signals."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: Localized
    signals: list[Signal] = Field(default_factory=list)


class SlaPolicy(Strict):
    """Base priority and targets for some categories (and optionally customer tiers)."""

    id: str
    categories: list[str] = Field(default_factory=lambda: ["*"])
    tiers: list[str] | None = None
    when: Condition | None = None
    priority: Priority
    calendar: str | None = None
    targets: dict[Priority, SlaTarget] = Field(default_factory=dict)


class SlaSection(Strict):
    """SLA policies (first match wins), default targets per priority, paused statuses."""

    paused_statuses: list[str] = Field(default_factory=list)
    warning_ratio: float | None = Field(default=None, gt=0, lt=1)
    targets: dict[Priority, SlaTarget] = Field(default_factory=dict)
    policies: list[SlaPolicy] = Field(default_factory=list)


class ImpactRule(Strict):
    """Points added to the impact score when the condition holds, with a reason."""

    id: str
    when: Condition
    points: float
    per: str | None = None
    max_points: float | None = None
    min_priority: Priority | None = None
    lower_by: int = Field(default=0, ge=0, le=3)  # "not urgent": lowers the priority
    reason: Localized
    tag: str | None = None


class Threshold(Strict):
    """From `min_score` points on, the priority is raised by `raise_by` levels."""

    min_score: float
    raise_by: int = Field(ge=0, le=3)


class ImpactSection(Strict):
    """Impact rules and the thresholds that turn their score into a priority raise."""

    thresholds: list[Threshold] = Field(default_factory=list)
    rules: list[ImpactRule] = Field(default_factory=list)


class Automation(Strict):
    """Actions planned when an event happens and the condition holds."""

    id: str
    description: str | None = None
    events: list[Event] = Field(min_length=1)
    order: int = 100
    enabled: bool = True
    when: Condition | None = None
    actions: list[Action] = Field(min_length=1)
    stop: bool = False


class RulesFile(Strict):
    """One YAML rules file; a pack is the union of the files of one directory."""

    version: Literal[1] = 1
    settings: Settings | None = None
    calendars: list[CalendarSpec] = Field(default_factory=list)
    categories: list[Category] = Field(default_factory=list)
    sla: SlaSection | None = None
    impact: ImpactSection | None = None
    automations: list[Automation] = Field(default_factory=list)


for _model in (AllCond, AnyCond, NotCond, Signal, SlaPolicy, ImpactRule, Automation):
    _model.model_rebuild()


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a rules file (for editor completion)."""
    schema = RulesFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "crmbot rules file"
    return schema
