"""Load and compile a rules pack into a RuleSet, reporting every problem at once.

`load_ruleset(path)` reads every YAML file of a directory (or the default pack), validates
each file, merges them, checks every cross-reference (categories, calendars, field roots,
regular expressions, templates, webhook hosts) and raises one RulesError listing every
problem with its file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rules import schema as s
from rules.actions import CheckSite, check_action
from rules.calendar import BusinessCalendar
from rules.compiled import (
    CompiledAutomation,
    CompiledCategory,
    CompiledImpact,
    CompiledPolicy,
    CompiledSignal,
    Pack,
)
from rules.conditions import ConditionError, always, compile_condition
from rules.decide import RuleSet
from rules.loader import Issues, Loc, RuleIssue, RulesError, SourceFile, read_yaml, validate_file
from rules.operators import CompileEnv, Evaluator, OperatorError, parse_path
from rules.sla import SlaTarget
from rules.templates import TemplateRenderer
from rules.text import TermError, TermMatcher, fold

DEFAULT_PACK = Path(__file__).parent / "packs" / "default"


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
    return _Compiler(sources, issues).compile()


def _model(src: SourceFile) -> s.RulesFile:
    assert src.model is not None
    return src.model


class _Compiler:
    """Two passes over the files: first what others refer to, then what refers to them."""

    def __init__(self, sources: list[SourceFile], issues: Issues) -> None:
        self.sources = sources
        self.issues = issues
        self.renderer = TemplateRenderer()
        self.pack = Pack(settings=s.Settings())
        self.seen: dict[tuple[str, str], tuple[SourceFile, Loc]] = {}
        self.sla_targets: dict[str, SlaTarget] = {}
        self.thresholds_src: tuple[SourceFile, Loc] | None = None
        self.ratio_src: tuple[SourceFile, Loc] | None = None
        self.default_calendar = ""
        self.env = CompileEnv(calendars=self.pack.calendars)
        self.category_ids: set[str] = set()
        self.allowed_hosts: set[str] = set()

    def compile(self) -> RuleSet:
        """The RuleSet of the files (problems recorded in `issues`)."""
        for src in self.sources:
            self._definitions(src)
        self._defaults()
        for file_index, src in enumerate(self.sources):
            self._categories(src)
            self._policies(src)
            self._impacts(src)
            self._automations(src, file_index)
        pack = self.pack
        fallback = pack.settings.categories.fallback
        if fallback not in self.category_ids:
            pack.categories.append(CompiledCategory(fallback, fallback, fallback, []))
        pack.automations.sort(key=lambda a: a.rank)
        counts = {
            "files": len(self.sources),
            "calendars": len(pack.calendars),
            "categories": len(pack.categories),
            "sla_policies": len(pack.policies),
            "impact_rules": len(pack.impacts),
            "automations": len(pack.automations),
        }
        names = [src.name for src in self.sources]
        return RuleSet(pack, self.renderer, self.default_calendar, counts, names)

    # -- helpers

    def unique(self, kind: str, ident: str, src: SourceFile, loc: Loc) -> bool:
        """True the first time `kind` `ident` is defined; a problem the next times."""
        first = self.seen.get((kind, ident))
        if first is not None:
            line, _ = first[0].line_of(first[1])
            self.issues.add(src, loc, f"{kind} {ident!r} already defined at {first[0].name}:{line}")
            return False
        self.seen[(kind, ident)] = (src, loc)
        return True

    def cond(self, c: Any, src: SourceFile, loc: Loc) -> Evaluator:
        """A compiled condition (always true, with a problem recorded, if it does not compile)."""
        try:
            return compile_condition(c, self.env, loc)
        except ConditionError as exc:
            err = exc.error
            self.issues.add(src, exc.loc, str(err), word=err.word, candidates=err.candidates)
            return always

    def path(self, text: str, src: SourceFile, loc: Loc) -> tuple[str, ...] | None:
        """A parsed field path (None, with a problem recorded, if it does not parse)."""
        try:
            return parse_path(text)
        except OperatorError as exc:
            self.issues.add(src, loc, str(exc), word=exc.word, candidates=exc.candidates)
            return None

    # -- pass 1: settings, calendars, category ids, SLA defaults

    def _definitions(self, src: SourceFile) -> None:
        model, pack, issues = _model(src), self.pack, self.issues
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
            if self.unique("calendar", spec.name, src, ("calendars", i, "name")):
                try:
                    pack.calendars[spec.name] = BusinessCalendar(spec)
                    pack.calendar_tz[spec.name] = spec.timezone
                except ValueError as exc:
                    issues.add(src, ("calendars", i), str(exc))
        for i, cat in enumerate(model.categories):
            self.unique("category", cat.id, src, ("categories", i, "id"))
        if model.sla is not None:
            pack.paused_statuses.update(model.sla.paused_statuses)
            if model.sla.warning_ratio is not None:
                if self.ratio_src is not None:
                    issues.add(src, ("sla", "warning_ratio"), "warning_ratio defined twice")
                self.ratio_src = (src, ("sla", "warning_ratio"))
                pack.warning_ratio = model.sla.warning_ratio
            for prio, target in model.sla.targets.items():
                if self.unique("default SLA target", prio, src, ("sla", "targets", prio)):
                    self.sla_targets[prio] = target
        if model.impact is not None and model.impact.thresholds:
            if self.thresholds_src is not None:
                issues.add(src, ("impact", "thresholds"), "impact thresholds defined twice")
            self.thresholds_src = (src, ("impact", "thresholds"))
            pack.thresholds = sorted(model.impact.thresholds, key=lambda t: t.min_score)

    def _defaults(self) -> None:
        pack = self.pack
        if not pack.calendars:
            pack.calendars["always"] = BusinessCalendar.always_open("UTC")
            pack.calendar_tz["always"] = "UTC"
        settings = pack.settings
        self.default_calendar = settings.default_calendar or next(iter(pack.calendars))
        if self.default_calendar not in pack.calendars and pack.settings_src is not None:
            src, loc = pack.settings_src
            self.issues.add(
                src,
                (*loc, "default_calendar"),
                f"unknown calendar {self.default_calendar!r}",
                word=self.default_calendar,
                candidates=pack.calendars,
            )
        self.env = CompileEnv(calendars=pack.calendars)
        self.category_ids = {cat.id for src in self.sources for cat in _model(src).categories}
        self.allowed_hosts = {h.lower().strip() for h in settings.webhook_allowed_hosts}

    # -- pass 2: categories, policies, impact, automations

    def _signal(self, sig: s.Signal, src: SourceFile, loc: Loc) -> CompiledSignal:
        matcher = None
        if sig.terms:
            try:
                matcher = TermMatcher.compile(sig.terms)
            except TermError as exc:
                self.issues.add(src, (*loc, "terms"), str(exc))
        paths = []
        for k, text in enumerate(sig.fields):
            path = self.path(text, src, (*loc, "fields", k))
            if path is not None:
                paths.append(path)
        if not sig.terms and sig.when is None:
            self.issues.add(src, loc, "a signal needs terms or a when condition")
        when = self.cond(sig.when, src, (*loc, "when")) if sig.when is not None else None
        return CompiledSignal(sig.weight, matcher, paths, sig.max_hits, when, sig.explicit)

    def _categories(self, src: SourceFile) -> None:
        for i, cat in enumerate(_model(src).categories):
            signals = [
                self._signal(sig, src, ("categories", i, "signals", j))
                for j, sig in enumerate(cat.signals)
            ]
            label_fr = cat.label.fr or cat.label.en or cat.id
            label_en = cat.label.en or cat.label.fr or cat.id
            self.pack.categories.append(CompiledCategory(cat.id, label_fr, label_en, signals))

    def _policies(self, src: SourceFile) -> None:
        model, pack, issues = _model(src), self.pack, self.issues
        if model.sla is None:
            return
        for i, pol in enumerate(model.sla.policies):
            loc = ("sla", "policies", i)
            self.unique("SLA policy", pol.id, src, (*loc, "id"))
            for k, cat_id in enumerate(pol.categories):
                if cat_id != "*" and cat_id not in self.category_ids:
                    issues.add(
                        src,
                        (*loc, "categories", k),
                        f"unknown category {cat_id!r}",
                        word=cat_id,
                        candidates=self.category_ids,
                    )
            calendar = pol.calendar or self.default_calendar
            if calendar not in pack.calendars:
                issues.add(
                    src,
                    (*loc, "calendar"),
                    f"unknown calendar {calendar!r}",
                    word=calendar,
                    candidates=pack.calendars,
                )
            targets = dict(self.sla_targets)
            targets.update((str(prio), target) for prio, target in pol.targets.items())
            missing = [p for p in s.PRIORITIES if p not in targets]
            if missing:
                issues.add(
                    src,
                    (*loc, "targets"),
                    f"no SLA target for {', '.join(missing)} (here or in sla.targets)",
                )
            pack.policies.append(
                CompiledPolicy(
                    id=pol.id,
                    categories=frozenset(pol.categories),
                    tiers=frozenset(fold(t) for t in pol.tiers) if pol.tiers else None,
                    cond=self.cond(pol.when, src, (*loc, "when")),
                    priority=pol.priority,
                    calendar=calendar,
                    targets=targets,
                )
            )

    def _impacts(self, src: SourceFile) -> None:
        model = _model(src)
        if model.impact is None:
            return
        for i, rule in enumerate(model.impact.rules):
            loc = ("impact", "rules", i)
            self.unique("impact rule", rule.id, src, (*loc, "id"))
            per = self.path(rule.per, src, (*loc, "per")) if rule.per else None
            cond = self.cond(rule.when, src, (*loc, "when"))
            self.pack.impacts.append(CompiledImpact(rule, cond, per))

    def _automations(self, src: SourceFile, file_index: int) -> None:
        for i, auto in enumerate(_model(src).automations):
            loc = ("automations", i)
            self.unique("automation", auto.id, src, (*loc, "id"))
            for j, action in enumerate(auto.actions):
                site = CheckSite(
                    src, (*loc, "actions", j), self.issues, self.renderer, self.allowed_hosts
                )
                check_action(action, site)
            where = [
                (src.name, *src.line_of((*loc, "actions", j))) for j in range(len(auto.actions))
            ]
            cond = self.cond(auto.when, src, (*loc, "when"))
            rank = (auto.order, file_index, i)
            self.pack.automations.append(CompiledAutomation(auto, cond, rank, where))
