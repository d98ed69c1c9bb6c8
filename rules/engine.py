"""Compile a rules pack into a RuleSet, and decide: category, priority, SLA, actions.

`load_ruleset(path)` reads every YAML file of a directory (or the default pack), validates
each file, merges them, checks every cross-reference (categories, calendars, field roots,
regular expressions, templates, webhook hosts) and raises one RulesError listing every
problem with its file and line. `RuleSet.decide(facts, event=..., now=...)` is pure: it
reads the facts and returns a Decision; it performs nothing.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bot import actions
from bot.echo import echo_safe
from bot.routing import ActionUse
from rules import schema as s
from rules.calendar import BusinessCalendar
from rules.conditions import ConditionError, always, compile_condition
from rules.decision import Decision, PlannedAction, Reason, RuleTrace, Wakeup
from rules.loader import Issues, Loc, RuleIssue, RulesError, SourceFile, read_yaml, validate_file
from rules.model.artifact import LinearModel
from rules.model.combine import Judgement, ModelVerdict, RuleVerdict, choose
from rules.operators import (
    MISSING,
    CompileEnv,
    EvalContext,
    Evaluator,
    OperatorError,
    as_datetime,
    lookup,
    parse_path,
)
from rules.sla import SlaResult, SlaTarget, compute_sla
from rules.templates import TemplateRenderer
from rules.text import TermError, TermMatcher, fold

DEFAULT_PACK = Path(__file__).parent / "packs" / "default"
DEFAULT_PRIORITY = "P3"
CREATION_EVENTS = ("request.received", "case.created")
SUBJECT_PATH = ("request", "subject")


def _raise(priority: str, levels: int) -> str:
    return actions.raise_priority(priority, levels)


def _local(at: datetime, tz: str) -> datetime:
    try:
        return at.astimezone(ZoneInfo(tz))
    except (ValueError, KeyError):
        return at


def _higher(a: str, b: str) -> str:
    return a if s.PRIORITIES.index(a) <= s.PRIORITIES.index(b) else b


def _lower(priority: str, levels: int) -> str:
    index = min(len(s.PRIORITIES) - 1, s.PRIORITIES.index(priority) + levels)
    return s.PRIORITIES[index]


def _priority_or_none(value: Any) -> str | None:
    text = str(value).strip().upper() if value is not None else ""
    return text if text in s.PRIORITIES else None


def _carried_reason(old: Any, rules: dict[str, s.ImpactRule], skip: set[str]) -> Reason | None:
    """A reason stored on the case by an earlier decision, kept when nothing replaced it
    (not for rules that only describe one request, such as "not urgent")."""
    if not isinstance(old, dict) or not old.get("code") or old["code"] in skip:
        return None
    rule = rules.get(str(old["code"]))
    if rule is not None and rule.lower_by:
        return None
    try:
        points = float(old.get("points") or 0.0)
    except (TypeError, ValueError):
        points = 0.0
    if not math.isfinite(points):
        points = 0.0
    fr = str(old.get("message_fr") or old.get("message") or old["code"])
    en = str(old.get("message_en") or fr)
    return Reason(
        str(old["code"]),
        fr,
        points=points,
        rule_id=str(old.get("rule_id") or old["code"]),
        message_en=en,
    )


# ------------------------------------------------------------------------ compiled parts


@dataclass(slots=True)
class _Signal:
    weight: float
    matcher: TermMatcher | None
    paths: list[tuple[str, ...]]
    max_hits: int
    cond: Evaluator | None
    explicit: bool = False


@dataclass(slots=True)
class _Category:
    id: str
    label_fr: str
    label_en: str
    signals: list[_Signal]


@dataclass(slots=True)
class _Policy:
    id: str
    categories: frozenset[str]
    tiers: frozenset[str] | None
    cond: Evaluator
    priority: str
    calendar: str
    targets: dict[str, SlaTarget]


@dataclass(slots=True)
class _Impact:
    model: s.ImpactRule
    cond: Evaluator
    per: tuple[str, ...] | None


@dataclass(slots=True)
class _Automation:
    model: s.Automation
    cond: Evaluator
    rank: tuple[int, int, int]
    where: list[tuple[str, int, str]] = field(default_factory=list)  # file, line, key per action


@dataclass(slots=True)
class _Pack:
    settings: s.Settings
    settings_src: tuple[SourceFile, Loc] | None = None
    calendars: dict[str, BusinessCalendar] = field(default_factory=dict)
    calendar_tz: dict[str, str] = field(default_factory=dict)
    categories: list[_Category] = field(default_factory=list)
    policies: list[_Policy] = field(default_factory=list)
    impacts: list[_Impact] = field(default_factory=list)
    thresholds: list[s.Threshold] = field(default_factory=list)
    automations: list[_Automation] = field(default_factory=list)
    paused_statuses: set[str] = field(default_factory=set)
    warning_ratio: float = 0.8


# ------------------------------------------------------------------------------ loading


def pack_files(path: Path | list[Path] | None) -> list[Path]:
    """The YAML files of a pack: a directory (recursively, sorted), a file, or a list."""
    targets = [DEFAULT_PACK] if path is None else (path if isinstance(path, list) else [path])
    files: list[Path] = []
    for target in targets:
        target = Path(target)
        if target.is_dir():
            found = sorted(
                p for p in target.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()
            )
            if not found:
                raise RulesError([RuleIssue(str(target), 1, "", "no .yaml rules files here")])
            files.extend(found)
        elif target.is_file():
            files.append(target)
        else:
            raise RulesError([RuleIssue(str(target), 1, "", "no such file or directory")])
    return files


def load_ruleset(path: Path | list[Path] | None = None) -> RuleSet:
    """Load, validate and compile a rules pack (None: the default pack shipped with crmbot)."""
    files = pack_files(path)
    issues = Issues()
    sources: list[SourceFile] = []
    for file in files:
        try:
            src = read_yaml(file)
            validate_file(src)
        except RulesError as exc:
            issues.items.extend(exc.issues)
            continue
        sources.append(src)
    issues.raise_if_any()
    ruleset = compile_pack(sources, issues)
    issues.raise_if_any()
    if ruleset.settings.categories.model:
        from rules.model.store import model_for_pack

        ruleset.model = model_for_pack(path if isinstance(path, Path) else None)
    return ruleset


def compile_pack(sources: list[SourceFile], issues: Issues) -> RuleSet:
    """Merge validated files into one RuleSet, recording every cross-reference problem."""
    renderer = TemplateRenderer()
    pack = _Pack(settings=s.Settings())
    seen: dict[tuple[str, str], tuple[SourceFile, Loc]] = {}

    def unique(kind: str, ident: str, src: SourceFile, loc: Loc) -> bool:
        first = seen.get((kind, ident))
        if first is not None:
            line, _ = first[0].line_of(first[1])
            issues.add(src, loc, f"{kind} {ident!r} already defined at {first[0].name}:{line}")
            return False
        seen[(kind, ident)] = (src, loc)
        return True

    # pass 1: settings, calendars, category ids, SLA defaults
    sla_targets: dict[str, SlaTarget] = {}
    thresholds_src: tuple[SourceFile, Loc] | None = None
    ratio_src: tuple[SourceFile, Loc] | None = None
    for src in sources:
        model = src.model
        assert model is not None
        if model.settings is not None:
            if pack.settings_src is not None:
                line, _ = pack.settings_src[0].line_of(("settings",))
                issues.add(
                    src,
                    ("settings",),
                    f"settings already defined at {pack.settings_src[0].name}:{line}",
                )
            else:
                pack.settings = model.settings
                pack.settings_src = (src, ("settings",))
        for i, spec in enumerate(model.calendars):
            loc = ("calendars", i, "name")
            if unique("calendar", spec.name, src, loc):
                try:
                    pack.calendars[spec.name] = BusinessCalendar(spec)
                    pack.calendar_tz[spec.name] = spec.timezone
                except ValueError as exc:
                    issues.add(src, ("calendars", i), str(exc))
        for i, cat in enumerate(model.categories):
            unique("category", cat.id, src, ("categories", i, "id"))
        if model.sla is not None:
            pack.paused_statuses.update(model.sla.paused_statuses)
            if model.sla.warning_ratio is not None:
                if ratio_src is not None:
                    issues.add(src, ("sla", "warning_ratio"), "warning_ratio defined twice")
                ratio_src = (src, ("sla", "warning_ratio"))
                pack.warning_ratio = model.sla.warning_ratio
            for prio, target in model.sla.targets.items():
                if unique("default SLA target", prio, src, ("sla", "targets", prio)):
                    sla_targets[prio] = target
        if model.impact is not None and model.impact.thresholds:
            if thresholds_src is not None:
                issues.add(src, ("impact", "thresholds"), "impact thresholds defined twice")
            thresholds_src = (src, ("impact", "thresholds"))
            pack.thresholds = sorted(model.impact.thresholds, key=lambda t: t.min_score)

    if not pack.calendars:
        pack.calendars["always"] = BusinessCalendar.always_open("UTC")
        pack.calendar_tz["always"] = "UTC"
    settings = pack.settings
    default_calendar = settings.default_calendar or next(iter(pack.calendars))
    if default_calendar not in pack.calendars and pack.settings_src is not None:
        src, loc = pack.settings_src
        issues.add(
            src,
            (*loc, "default_calendar"),
            f"unknown calendar {default_calendar!r}",
            word=default_calendar,
            candidates=pack.calendars,
        )
    env = CompileEnv(calendars=pack.calendars)
    category_ids = {cat.id for src in sources for cat in src.model.categories}  # type: ignore[union-attr]
    allowed_hosts = {h.lower().strip() for h in settings.webhook_allowed_hosts}

    def cond(c: Any, src: SourceFile, loc: Loc) -> Evaluator:
        try:
            return compile_condition(c, env, loc)
        except ConditionError as exc:
            err = exc.error
            issues.add(src, exc.loc, str(err), word=err.word, candidates=err.candidates)
            return always

    # pass 2: categories, policies, impact, automations
    for file_index, src in enumerate(sources):
        model = src.model
        assert model is not None
        for i, cat in enumerate(model.categories):
            signals = []
            for j, sig in enumerate(cat.signals):
                loc = ("categories", i, "signals", j)
                matcher = None
                if sig.terms:
                    try:
                        matcher = TermMatcher.compile(sig.terms)
                    except TermError as exc:
                        issues.add(src, (*loc, "terms"), str(exc))
                paths = []
                for k, text in enumerate(sig.fields):
                    try:
                        paths.append(parse_path(text))
                    except OperatorError as exc:
                        issues.add(
                            src,
                            (*loc, "fields", k),
                            str(exc),
                            word=exc.word,
                            candidates=exc.candidates,
                        )
                if not sig.terms and sig.when is None:
                    issues.add(src, loc, "a signal needs terms or a when condition")
                when = cond(sig.when, src, (*loc, "when")) if sig.when is not None else None
                signals.append(
                    _Signal(sig.weight, matcher, paths, sig.max_hits, when, sig.explicit)
                )
            label_fr = cat.label.fr or cat.label.en or cat.id
            label_en = cat.label.en or cat.label.fr or cat.id
            pack.categories.append(_Category(cat.id, label_fr, label_en, signals))
        if model.sla is not None:
            for i, pol in enumerate(model.sla.policies):
                loc = ("sla", "policies", i)
                unique("SLA policy", pol.id, src, (*loc, "id"))
                for k, cat_id in enumerate(pol.categories):
                    if cat_id != "*" and cat_id not in category_ids:
                        issues.add(
                            src,
                            (*loc, "categories", k),
                            f"unknown category {cat_id!r}",
                            word=cat_id,
                            candidates=category_ids,
                        )
                calendar = pol.calendar or default_calendar
                if calendar not in pack.calendars:
                    issues.add(
                        src,
                        (*loc, "calendar"),
                        f"unknown calendar {calendar!r}",
                        word=calendar,
                        candidates=pack.calendars,
                    )
                targets = {**sla_targets, **pol.targets}
                missing = [p for p in s.PRIORITIES if p not in targets]
                if missing:
                    issues.add(
                        src,
                        (*loc, "targets"),
                        f"no SLA target for {', '.join(missing)} (here or in sla.targets)",
                    )
                pack.policies.append(
                    _Policy(
                        id=pol.id,
                        categories=frozenset(pol.categories),
                        tiers=frozenset(fold(t) for t in pol.tiers) if pol.tiers else None,
                        cond=cond(pol.when, src, (*loc, "when")),
                        priority=pol.priority,
                        calendar=calendar,
                        targets=targets,
                    )
                )
        if model.impact is not None:
            for i, rule in enumerate(model.impact.rules):
                loc = ("impact", "rules", i)
                unique("impact rule", rule.id, src, (*loc, "id"))
                per = None
                if rule.per:
                    try:
                        per = parse_path(rule.per)
                    except OperatorError as exc:
                        issues.add(
                            src, (*loc, "per"), str(exc), word=exc.word, candidates=exc.candidates
                        )
                pack.impacts.append(_Impact(rule, cond(rule.when, src, (*loc, "when")), per))
        for i, auto in enumerate(model.automations):
            loc = ("automations", i)
            unique("automation", auto.id, src, (*loc, "id"))
            for j, action in enumerate(auto.actions):
                _check_action(action, src, (*loc, "actions", j), issues, renderer, allowed_hosts)
            where = [
                (src.name, *src.line_of((*loc, "actions", j))) for j in range(len(auto.actions))
            ]
            pack.automations.append(
                _Automation(
                    auto, cond(auto.when, src, (*loc, "when")), (auto.order, file_index, i), where
                )
            )

    fallback = settings.categories.fallback
    if fallback not in category_ids:
        pack.categories.append(_Category(fallback, fallback, fallback, []))
    pack.automations.sort(key=lambda a: a.rank)
    counts = {
        "files": len(sources),
        "calendars": len(pack.calendars),
        "categories": len(pack.categories),
        "sla_policies": len(pack.policies),
        "impact_rules": len(pack.impacts),
        "automations": len(pack.automations),
    }
    return RuleSet(pack, renderer, default_calendar, counts, [src.name for src in sources])


def _templates_of(action: Any) -> list[tuple[tuple[str, ...], str]]:
    out: list[tuple[tuple[str, ...], str]] = []
    for name in ("text", "subject", "body", "message"):
        value = getattr(action, name, None)
        if value is None:
            continue
        if isinstance(value, str):
            out.append(((name,), value))
        else:
            for lang in ("fr", "en"):
                variant = getattr(value, lang)
                if variant is not None:
                    out.append(((name, lang), variant))
    return out


def _check_action(
    action: Any,
    src: SourceFile,
    loc: Loc,
    issues: Issues,
    renderer: TemplateRenderer,
    allowed_hosts: set[str],
) -> None:
    for sub, template in _templates_of(action):
        try:
            renderer.validate(template)
        except ValueError as exc:
            issues.add(src, (*loc, *sub), f"template refused: {exc}")
    if isinstance(action, s.SetFieldAction):
        try:
            path = parse_path(action.field)
        except OperatorError as exc:
            issues.add(src, (*loc, "field"), str(exc), word=exc.word, candidates=exc.candidates)
            return
        if path[0] not in s.WRITABLE_ROOTS:
            issues.add(
                src,
                (*loc, "field"),
                f"only {', '.join(s.WRITABLE_ROOTS)} fields can be set, not {path[0]!r}",
            )
    elif isinstance(action, s.AssignAction):
        if not action.queue and not action.owner:
            issues.add(src, loc, "assign needs a queue or an owner")
    elif isinstance(action, s.WebhookAction):
        parts = urlsplit(action.url)
        host = (parts.hostname or "").lower()
        if parts.scheme != "https":
            issues.add(src, (*loc, "url"), f"webhook URL must use https, not {parts.scheme!r}")
        elif not host:
            issues.add(src, (*loc, "url"), "webhook URL has no host")
        elif host not in allowed_hosts:
            issues.add(
                src,
                (*loc, "url"),
                f"webhook host {host!r} is not in settings.webhook_allowed_hosts",
                word=host,
                candidates=allowed_hosts,
            )
        elif parts.username or parts.password:
            issues.add(src, (*loc, "url"), "webhook URL must not carry credentials")


# ------------------------------------------------------------------------------ deciding


def _working_copy(facts: dict[str, Any]) -> dict[str, Any]:
    work: dict[str, Any] = {}
    for key, value in facts.items():
        work[key] = dict(value) if isinstance(value, dict) else value
    for root in ("request", "contact", "company", "case"):
        if not isinstance(work.get(root), dict):
            work[root] = {}
    return work


def _set_path(work: dict[str, Any], path: tuple[str, ...], value: Any) -> bool:
    """Set a value; nested dicts are copied on write so the caller's facts never change."""
    target = work.setdefault(path[0], {})
    for key in path[1:-1]:
        nxt = target.get(key)
        nxt = dict(nxt) if isinstance(nxt, dict) else {}
        target[key] = nxt
        target = nxt
    before = target.get(path[-1], MISSING)
    target[path[-1]] = value
    return before != value


class RuleSet:
    """A compiled, immutable rules pack; `decide` is safe to call from many threads."""

    def __init__(
        self,
        pack: _Pack,
        renderer: TemplateRenderer,
        default_calendar: str,
        counts: dict[str, int],
        files: list[str],
    ) -> None:
        self._pack = pack
        self.model: LinearModel | None = None  # the learned model beside the rules
        self._renderer = renderer
        self.default_calendar = default_calendar
        self.counts = counts
        self.files = files
        self.settings = pack.settings
        self.category_ids = [c.id for c in pack.categories]

    def action_uses(self) -> list[ActionUse]:
        """Every action of every enabled automation, with its rule and where it is written."""
        out = []
        for auto in self._pack.automations:
            if not auto.model.enabled:
                continue
            for j, action in enumerate(auto.model.actions):
                file, line, key = auto.where[j] if j < len(auto.where) else ("", 0, "")
                out.append(ActionUse(auto.model.id, action.type, file, line, key))
        return out

    @property
    def paused_statuses(self) -> frozenset[str]:
        """Case statuses that stop the SLA clock (waiting on the customer, a third party)."""
        return frozenset(self._pack.paused_statuses)

    def calendar(self, name: str | None = None) -> BusinessCalendar:
        """A business calendar of the pack (the default one unless named)."""
        return self._pack.calendars[name or self.default_calendar]

    def describe(self) -> str:
        """A one-line summary: how many files, categories, policies, rules."""
        c = self.counts
        return (
            f"{c['files']} files, {c['categories']} categories, {c['sla_policies']} SLA policies,"
            f" {c['impact_rules']} impact rules, {c['automations']} automations,"
            f" {c['calendars']} calendars"
        )

    # -- categories

    def classify(self, ctx: EvalContext) -> tuple[str, float, list[str], list[RuleTrace], bool]:
        """Rules and model together: (category, confidence, reasons, trace, low_confidence)."""
        j, trace = self.judge(ctx)
        return j.category, j.confidence, j.reasons, trace, j.low

    def judge(self, ctx: EvalContext) -> tuple[Judgement, list[RuleTrace]]:
        """The category from the rules and the learned model (rules/model/combine.py)."""
        category, confidence, reasons, trace, low, score, explicit = self.classify_rules(ctx)
        verdict = RuleVerdict(category, confidence, score, low, explicit)
        rule_terms = [] if low else list(reasons)
        model = self.model if self.settings.categories.model else None
        if model is None:
            j = Judgement(category, confidence, reasons, low, "rules", verdict, rule_terms)
            return j, trace
        request = ctx.facts.get("request") or {}
        pred = model.predict(str(request.get("subject") or ""), str(request.get("body") or ""))
        mv = ModelVerdict(pred.category, pred.probability, model.version, words=pred.words)
        source, chosen, conf, low2 = choose(
            verdict, mv, self.settings.categories, self.category_ids
        )
        mv.terms = model.top_terms(pred, chosen if chosen in model.classes else None)
        if source == "model":
            reasons = [f"model {model.version}: {chosen} ({pred.probability:.2f})", *mv.terms]
        elif source == "explicit_rule":
            reasons = [f"explicit rule for {chosen}", *reasons]
        for item in trace:
            item.fired = item.rule_id == chosen and source != "model"
        trace.append(
            RuleTrace(
                f"model:{model.version}",
                "category",
                source == "model",
                f"{pred.category} p={pred.probability:.2f}; decided by {source}",
            )
        )
        j = Judgement(
            chosen,
            conf,
            reasons,
            low2,
            source,
            verdict,
            rule_terms,
            mv,
            pred.probabilities,
            pred.signals,
        )
        return j, trace

    def _model_facts(self, work: dict[str, Any]) -> dict[str, Any]:
        """The model's view of this request for the impact rules (`model.*`), if it runs."""
        model = self.model if self.settings.categories.model else None
        if model is None:
            return {}
        request = work.get("request") or {}
        pred = model.predict(str(request.get("subject") or ""), str(request.get("body") or ""))
        return {
            "category": pred.category,
            "probability": round(pred.probability, 4),
            "version": model.version,
            **pred.signals,
        }

    def classify_rules(
        self, ctx: EvalContext
    ) -> tuple[str, float, list[str], list[RuleTrace], bool, float, str | None]:
        """The rules alone: (category, confidence, reasons, trace, low, best score, explicit)."""
        cfg = self.settings.categories
        scored: list[tuple[float, _Category, list[str]]] = []
        explicit: list[tuple[float, str]] = []
        for cat in self._pack.categories:
            total = 0.0
            why: list[str] = []
            for sig in cat.signals:
                if sig.matcher is not None:
                    hits: dict[str, float] = {}
                    for path in sig.paths:
                        mult = cfg.subject_multiplier if path == SUBJECT_PATH else 1.0
                        for term in sig.matcher.found(ctx.text(path)):
                            if mult > hits.get(term, 0.0):
                                hits[term] = mult
                    if not hits:
                        continue
                    if sig.cond is not None and not sig.cond(ctx)[0]:
                        continue
                    top = sorted(hits.items(), key=lambda kv: -kv[1])[: sig.max_hits]
                    total += sig.weight * sum(m for _, m in top)
                    why.extend(term for term, _ in top)
                    if sig.explicit:
                        explicit.append((sig.weight, cat.id))
                elif sig.cond is not None:
                    ok, reason = sig.cond(ctx)
                    if ok:
                        total += sig.weight
                        why.append(reason)
                        if sig.explicit:
                            explicit.append((sig.weight, cat.id))
            scored.append((total, cat, why))
        scored.sort(key=lambda item: -item[0])
        best_score, best, best_why = scored[0]
        second = scored[1][0] if len(scored) > 1 else 0.0
        confidence = 0.0
        if best_score > 0:
            confidence = best_score / (best_score + max(second, 0.0) + cfg.smoothing)
        trace = [
            RuleTrace(
                cat.id, "category", False, f"score {score:g}" + (f": {', '.join(w)}" if w else "")
            )
            for score, cat, w in scored
        ]
        low = best_score < cfg.min_score or confidence < cfg.min_confidence
        if low:
            category = cfg.fallback
            reasons = [f"low confidence ({confidence:.2f}); best was {best.id} ({best_score:g})"]
        else:
            category = best.id
            reasons = best_why
        for item in trace:
            if item.rule_id == category:
                item.fired = True
        chosen = max(explicit)[1] if explicit else None
        return category, round(confidence, 4), reasons, trace, low, best_score, chosen

    # -- the decision

    def decide(
        self, facts: dict[str, Any], *, event: str = "case.created", now: datetime
    ) -> Decision:
        """Decide category, priority, SLA, planned actions and wake-ups for one case."""
        if event not in s.EVENTS:
            raise ValueError(f"unknown event {event!r}; expected one of {', '.join(s.EVENTS)}")
        if now.tzinfo is None:
            raise ValueError("now must be a timezone-aware datetime")
        work = _working_copy(facts)
        ctx = EvalContext(work, now, self._pack.calendars)
        case = work["case"]
        trace: list[RuleTrace] = []
        tags: list[str] = []

        existing = case.get("category")
        judgement: Judgement | None = None
        if event not in CREATION_EVENTS and existing and existing in self.category_ids:
            category = str(existing)
            confidence = float(case.get("category_confidence") or 1.0)
            cat_reasons = [f"kept from the case ({category})"]
            trace.append(RuleTrace(category, "category", True, "category kept on " + event))
            work["model"] = self._model_facts(work)
        else:
            judgement, cat_trace = self.judge(ctx)
            category, confidence, cat_reasons = (
                judgement.category,
                judgement.confidence,
                judgement.reasons,
            )
            trace.extend(cat_trace)
            if judgement.low:
                tags.append(self.settings.categories.low_confidence_tag)
            work["model"] = judgement.model_facts()
        case["category"] = category
        ctx.invalidate()

        policy = self._policy(ctx, category, trace)
        base = policy.priority if policy else DEFAULT_PRIORITY
        score, reasons, priority = self._impact(ctx, base, trace, tags)
        case["priority"] = priority

        decision = Decision(
            category=category,
            category_confidence=confidence,
            category_reasons=cat_reasons,
            tags=tags,
            priority=priority,
            score=score,
            reasons=reasons,
            sla=None,
            actions=[],
            wakeups=[],
            trace=trace,
            event=event,
            base_priority=base,
        )
        if judgement is not None:
            decision.category_source = judgement.source
            decision.judgement = judgement.to_dict()
        else:
            decision.category_source = "case"  # kept from the case on a later event
        if self.model is not None and self.settings.categories.model:
            decision.model_version = self.model.version
        cat = next((c for c in self._pack.categories if c.id == category), None)
        if cat is not None:
            decision.category_label_fr, decision.category_label_en = cat.label_fr, cat.label_en
        if policy is not None:
            decision.timezone = self._pack.calendar_tz.get(policy.calendar, "UTC")
            decision.sla = self._sla(work, policy, priority, now)
        self._automate(ctx, decision, event)
        if policy is not None:
            if decision.priority != priority:
                decision.sla = self._sla(work, policy, decision.priority, now)
            decision.wakeups = self._wakeups(work, decision.sla, policy, now, event)
        return decision

    def _policy(self, ctx: EvalContext, category: str, trace: list[RuleTrace]) -> _Policy | None:
        tier_values = {
            fold(str(v))
            for v in (
                lookup(ctx.facts, ("contact", "tier")),
                lookup(ctx.facts, ("company", "tier")),
            )
            if v is not MISSING and v is not None
        }
        chosen = None
        for pol in self._pack.policies:
            if chosen is not None:
                trace.append(RuleTrace(pol.id, "sla_policy", False, f"{chosen.id} matched first"))
                continue
            if "*" not in pol.categories and category not in pol.categories:
                trace.append(RuleTrace(pol.id, "sla_policy", False, f"not for {category}"))
                continue
            if pol.tiers is not None and not (pol.tiers & tier_values):
                trace.append(RuleTrace(pol.id, "sla_policy", False, "customer tier not listed"))
                continue
            ok, why = pol.cond(ctx)
            if not ok:
                trace.append(RuleTrace(pol.id, "sla_policy", False, why))
                continue
            chosen = pol
            trace.append(RuleTrace(pol.id, "sla_policy", True, f"base priority {pol.priority}"))
        return chosen

    def _impact(
        self, ctx: EvalContext, base: str, trace: list[RuleTrace], tags: list[str]
    ) -> tuple[float, list[Reason], str]:
        """Score the impact rules; a case's reasons accumulate over its requests (union by
        code) and its priority never drops, until an agent sets it (`case.agent_priority`)."""
        case = ctx.facts.get("case") or {}
        agent = _priority_or_none(case.get("agent_priority"))
        judged = set(case.get("agent_codes") or []) if agent else set()
        score = 0.0
        reasons: list[Reason] = []
        floor = "P4"
        lower = 0
        rules_by_id = {imp.model.id: imp.model for imp in self._pack.impacts}
        for imp in self._pack.impacts:
            rule = imp.model
            if rule.id in judged:
                trace.append(RuleTrace(rule.id, "impact", False, "judged by an agent already"))
                continue
            ok, why = imp.cond(ctx)
            if not ok:
                trace.append(RuleTrace(rule.id, "impact", False, why))
                continue
            points = rule.points
            fr, en = rule.reason.fr or rule.reason.en or rule.id, rule.reason.en or rule.reason.fr
            if imp.per is not None:
                raw = lookup(ctx.facts, imp.per)
                count = raw if isinstance(raw, int | float) and not isinstance(raw, bool) else 0
                if not math.isfinite(count) or count < 0:
                    count = 0
                points = rule.points * count
                fr = f"{fr} ×{count:g}"
                en = f"{en} ×{count:g}"
            if rule.max_points is not None:
                points = min(points, rule.max_points)
            score += points
            if rule.min_priority:
                floor = _higher(floor, rule.min_priority)
            lower = max(lower, rule.lower_by)
            reasons.append(Reason(rule.id, fr, points=points, rule_id=rule.id, message_en=en or fr))
            if rule.tag and rule.tag not in tags:
                tags.append(rule.tag)
            trace.append(RuleTrace(rule.id, "impact", True, f"+{points:g}: {why}"))
        fired = {r.code for r in reasons}
        for old in case.get("reasons") or []:
            carried = _carried_reason(old, rules_by_id, fired | judged)
            if carried is None:
                continue
            fired.add(carried.code)
            reasons.append(carried)
            rule = rules_by_id.get(carried.code)
            if rule is not None:
                score += carried.points
                if rule.min_priority:
                    floor = _higher(floor, rule.min_priority)
                if rule.tag and rule.tag not in tags:
                    tags.append(rule.tag)
            trace.append(RuleTrace(carried.code, "impact", True, "carried from an earlier request"))
        levels = 0
        for threshold in self._pack.thresholds:
            if score >= threshold.min_score:
                levels = threshold.raise_by
        priority = _raise(agent or base, levels)
        if lower and agent is None:
            priority = _lower(priority, lower)
        priority = _higher(priority, floor)
        kept = agent or _priority_or_none(case.get("priority"))
        if kept is not None and _higher(kept, priority) != priority:
            trace.append(RuleTrace("priority_kept", "impact", True, f"never below {kept}"))
            priority = kept
        return score, reasons, priority

    def _sla(
        self, work: dict[str, Any], policy: _Policy, priority: str, now: datetime
    ) -> SlaResult:
        case, request = work["case"], work["request"]
        start = (
            as_datetime(case.get("created_at")) or as_datetime(request.get("received_at")) or now
        )
        pauses: list[tuple[datetime, datetime | None]] = []
        for item in case.get("pauses") or []:
            begin = as_datetime(item[0]) if len(item) > 0 else None
            end = as_datetime(item[1]) if len(item) > 1 and item[1] is not None else None
            if begin is not None:
                pauses.append((begin, end))
        if case.get("status") in self._pack.paused_statuses and not any(
            e is None for _, e in pauses
        ):
            pauses.append((as_datetime(case.get("updated_at")) or now, None))
        return compute_sla(
            policy.id,
            priority,
            policy.targets[priority],
            self._pack.calendars[policy.calendar],
            start,
            pauses,
            self._pack.warning_ratio,
            now=now,
        )

    def _wakeups(
        self,
        work: dict[str, Any],
        sla: SlaResult | None,
        policy: _Policy,
        now: datetime,
        event: str = "case.created",
    ) -> list[Wakeup]:
        """Timers for the SLA instants still ahead; and, for a request read after its due
        date (a first run, a catch-up after an outage), one sla.breached due at once."""
        case = work["case"]
        if sla is None or case.get("status") in self._pack.paused_statuses:
            return []
        wakeups = []
        if sla.warning_at is not None and sla.warning_at > now:
            wakeups.append(Wakeup(sla.warning_at, "sla.warning", policy.id, "first_response"))
        if sla.first_response_due > now:
            wakeups.append(Wakeup(sla.first_response_due, "sla.breached", policy.id))
        if sla.resolution_due > now:
            wakeups.append(Wakeup(sla.resolution_due, "sla.breached", policy.id, "resolution"))
        first_decision = not case.get("first_response_due") and not case.get("resolution_due")
        if first_decision and not event.startswith("sla.") and sla.first_response_due <= now:
            if sla.resolution_due <= now:
                wakeups.append(Wakeup(sla.resolution_due, "sla.breached", policy.id, "resolution"))
            else:
                wakeups.append(Wakeup(sla.first_response_due, "sla.breached", policy.id))
        return wakeups

    # -- automations

    def _automate(self, ctx: EvalContext, decision: Decision, event: str) -> None:
        limit = self.settings.recursion_limit
        work = ctx.facts
        assert isinstance(work, dict)
        fired: set[str] = set()
        current_event = event
        depth = 0
        while True:
            before = dict(work["case"])
            changed = False
            for auto in self._pack.automations:
                model = auto.model
                if not model.enabled:
                    if depth == 0:
                        decision.trace.append(RuleTrace(model.id, "automation", False, "disabled"))
                    continue
                if current_event not in model.events:
                    if depth == 0:
                        listens = ", ".join(model.events)
                        decision.trace.append(
                            RuleTrace(model.id, "automation", False, f"listens to {listens}")
                        )
                    continue
                if model.id in fired:
                    continue
                ok, why = auto.cond(ctx)
                label = f"[{current_event}] {why}" if depth else why
                decision.trace.append(RuleTrace(model.id, "automation", ok, label))
                if not ok:
                    continue
                fired.add(model.id)
                for index, action in enumerate(model.actions):
                    changed |= self._plan(ctx, decision, auto, index, action, current_event)
                if model.stop:
                    break
            if not changed:
                return
            if depth + 1 >= limit:
                decision.trace.append(
                    RuleTrace(
                        "recursion_limit",
                        "automation",
                        False,
                        f"stopped: {limit} rounds of case.updated reached",
                    )
                )
                return
            work["previous"] = before
            ctx.invalidate()
            current_event = "case.updated"
            depth += 1

    def _key(self, work: dict[str, Any], rule_id: str, index: int, event: str) -> str:
        case, request = work["case"], work["request"]
        ref = case.get("reference") or request.get("source_id") or "new"
        key = f"{ref}/{rule_id}/{index}"
        if event == "case.follow_up":
            key += f"/follow_up#{case.get('follow_up_count') or 0}"
        elif event == "case.updated":
            key += f"/updated@{case.get('updated_at') or ''}"
        elif event.startswith("sla."):  # one key per deadline: a reopened case breaches anew
            due = case.get("timer_due_at")
            key += f"/{event}@{due}" if due else f"/{event}"
        return key

    def _template_context(self, work: dict[str, Any], decision: Decision) -> dict[str, Any]:
        lang = self._lang(work)
        # What the sender wrote is echoed cut and cleaned (bot/echo.py): no backscatter relay.
        return {
            "request": echo_safe(work["request"], subject=("subject",), name=("sender_name",)),
            "contact": echo_safe(work["contact"], name=("name", "first_name", "last_name")),
            "company": work["company"],
            "case": work["case"],
            "lang": lang,
            "decision": {
                "category": decision.category,
                "category_label": (
                    decision.category_label_en if lang == "en" else decision.category_label_fr
                ),
                "priority": decision.priority,
                "score": decision.score,
                "reasons": [r.text(lang) for r in decision.reasons],
                "first_response_due": _local(decision.sla.first_response_due, decision.timezone)
                if decision.sla
                else None,
                "resolution_due": _local(decision.sla.resolution_due, decision.timezone)
                if decision.sla
                else None,
            },
        }

    def _lang(self, work: dict[str, Any]) -> str:
        lang = work["request"].get("language") or work["case"].get("language")
        return lang if lang in ("fr", "en") else self.settings.default_language

    def _render(
        self, text: s.LocalizedText | None, work: dict[str, Any], decision: Decision
    ) -> str:
        source = s.pick_text(text, self._lang(work), self.settings.default_language)
        return self._renderer.render(source, self._template_context(work, decision))

    def _plan(
        self,
        ctx: EvalContext,
        decision: Decision,
        auto: _Automation,
        index: int,
        action: Any,
        event: str,
    ) -> bool:
        work = ctx.facts
        assert isinstance(work, dict)
        rule_id = auto.model.id
        key = self._key(work, rule_id, index, event)
        changed = False
        try:
            planned = self._planned(work, decision, action)
        except ValueError as exc:  # a template that fails skips this action only
            decision.trace.append(
                RuleTrace(rule_id, "action", False, f"{action.type} #{index} skipped: {exc}")
            )
            return False
        if isinstance(action, s.SetFieldAction):
            path = parse_path(action.field)
            changed = _set_path(work, path, action.value)
            decision.field_changes[action.field] = action.value
        elif isinstance(action, s.AddTagAction):
            if action.tag not in decision.tags:
                decision.tags.append(action.tag)
        elif isinstance(action, s.RemoveTagAction):
            if action.tag in decision.tags:
                decision.tags.remove(action.tag)
        elif isinstance(action, s.AssignAction):
            for name in ("queue", "owner"):
                value = getattr(action, name)
                if value:
                    changed |= _set_path(work, ("case", name), value)
                    decision.field_changes[f"case.{name}"] = value
        elif isinstance(action, s.SetPriorityAction | s.EscalateAction):
            if isinstance(action, s.SetPriorityAction):
                new = action.priority
            else:
                new = _higher(
                    action.to or _raise(decision.priority, action.raise_by), decision.priority
                )
                planned = planned.model_copy(update={"from_": decision.priority, "to": new})
                if action.queue:
                    changed |= _set_path(work, ("case", "queue"), action.queue)
                    decision.field_changes["case.queue"] = action.queue
            if new != decision.priority:
                verb_fr, verb_en = (
                    ("escalade", "escalated")
                    if isinstance(action, s.EscalateAction)
                    else ("priorité fixée", "priority set")
                )
                decision.reasons.append(
                    Reason(
                        "escalated" if isinstance(action, s.EscalateAction) else "priority_set",
                        f"{verb_fr} par {rule_id} ({decision.priority}→{new})",
                        rule_id=rule_id,
                        message_en=f"{verb_en} by {rule_id} ({decision.priority}→{new})",
                    )
                )
                decision.priority = new
                changed |= _set_path(work, ("case", "priority"), new)
        if changed:
            ctx.invalidate()
        decision.actions.append(PlannedAction(planned, key, rule_id))
        return changed

    def _planned(self, work: dict[str, Any], decision: Decision, action: Any) -> Any:
        """The contract's action for a rule's action: templates rendered, facts filled in."""
        lang = self._lang(work)
        if isinstance(action, actions.ActionModel):  # no template: already the contract's model
            if isinstance(action, s.WebhookAction):
                payload = {
                    **copy.deepcopy(action.payload_),
                    "case": work["case"].get("reference"),
                    "category": decision.category,
                    "priority": decision.priority,
                    "event": decision.event,
                }
                return action.model_copy(update={"payload_": payload})
            return action
        if isinstance(action, s.AddNoteAction):
            return actions.AddNote(text=self._render(action.text, work, decision), language=lang)
        if isinstance(action, s.SendReplyAction):
            request, contact = work["request"], work["contact"]
            return actions.SendReply(
                to=request.get("sender_email") or contact.get("email"),
                subject=self._render(action.subject, work, decision),
                body=self._render(action.body, work, decision),
                language=lang,
                in_reply_to=request.get("message_id"),
            )
        if isinstance(action, s.EscalateAction):
            message = self._render(action.message, work, decision) if action.message else ""
            return actions.Escalate(
                to=action.to, queue=action.queue, notify=list(action.notify), message=message
            )
        raise ValueError(f"unknown action type {action.type!r}")
