"""The whitelisted operators: each compiles a leaf condition into a fast evaluator.

No `eval`, no attribute access beyond plain dict/object fields: an operator is a name in
`OPERATORS`, and a leaf with any other `op` is refused when the rules are loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import re2

from rules import schema as s
from rules.sla import parse_duration
from rules.text import TermError, TermMatcher, TextIndex, fold

Evaluator = Callable[["EvalContext"], tuple[bool, str]]
MISSING: Any = object()
TEXT_FIELD = "request.text"


class OperatorError(ValueError):
    """A leaf cannot be compiled; names the sub-key and may suggest a valid name."""

    def __init__(
        self, message: str, *, key: str | None = None, word: object = None, candidates: Any = ()
    ) -> None:
        super().__init__(message)
        self.key = key
        self.word = word
        self.candidates = list(candidates)


@dataclass(slots=True)
class EvalContext:
    """What conditions read: the facts, the current time, calendars, a text-index cache."""

    facts: Mapping[str, Any]
    now: datetime
    calendars: Mapping[str, Any] = field(default_factory=dict)
    _texts: dict[tuple[str, ...], TextIndex] = field(default_factory=dict)

    def get(self, path: tuple[str, ...]) -> Any:
        """The value at a field path, or MISSING."""
        if path == ("request", "text"):
            return self._joined_text()
        return lookup(self.facts, path)

    def _joined_text(self) -> str:
        request = self.facts.get("request") or {}
        subject = request.get("subject") or ""
        body = request.get("body") or ""
        return f"{subject}\n{body}"

    def text(self, path: tuple[str, ...]) -> TextIndex:
        """The tokenised text of a field (cached for the whole decision)."""
        index = self._texts.get(path)
        if index is None:
            value = self.get(path)
            index = TextIndex.of(_as_text(value))
            self._texts[path] = index
        return index

    def invalidate(self) -> None:
        """Forget cached texts (after an action changed a field)."""
        self._texts.clear()


def lookup(root: Any, path: tuple[str, ...]) -> Any:
    """Follow a path through dicts (or plain objects); MISSING when a step is absent."""
    current = root
    for key in path:
        if isinstance(current, Mapping):
            if key not in current:
                return MISSING
            current = current[key]
        elif current is None or current is MISSING:
            return MISSING
        else:
            current = getattr(current, key, MISSING)
            if current is MISSING:
                return MISSING
    return current


def _as_text(value: Any) -> str:
    if value is MISSING or value is None:
        return ""
    if isinstance(value, list | tuple | set):
        return "\n".join(_as_text(v) for v in value)
    return str(value)


def parse_path(text: str) -> tuple[str, ...]:
    """Split and check a field path such as `request.subject`; raise OperatorError."""
    parts = tuple(text.split("."))
    if len(parts) < 2 or any(not p for p in parts):
        raise OperatorError(
            f"field {text!r} must look like root.name (e.g. request.subject)", key="field"
        )
    if parts[0] not in s.FIELD_ROOTS:
        raise OperatorError(
            f"unknown field root {parts[0]!r}; expected one of: {', '.join(s.FIELD_ROOTS)}",
            key="field",
            word=parts[0],
            candidates=s.FIELD_ROOTS,
        )
    return parts


def _paths(value: str | list[str]) -> list[tuple[str, ...]]:
    items = [value] if isinstance(value, str) else value
    if not items:
        raise OperatorError("at least one field is needed", key="field")
    return [parse_path(item) for item in items]


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return fold(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    return value


def _show(value: Any) -> str:
    if value is MISSING:
        return "missing"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def as_datetime(value: Any) -> datetime | None:
    """A datetime from a datetime, a date or an ISO string (naive means UTC); else None."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or value is MISSING:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace(",", ".").strip())
        except ValueError:
            return None
    return None


@dataclass(slots=True)
class CompileEnv:
    """What compiling needs: the pack's calendar names."""

    calendars: Mapping[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------ operators


def _equals(leaf: s.EqualsCond, env: CompileEnv) -> Evaluator:
    path = parse_path(leaf.field)
    want = _norm(leaf.value)
    name = leaf.field

    def run(ctx: EvalContext) -> tuple[bool, str]:
        got = ctx.get(path)
        ok = got is not MISSING and _norm(got) == want
        return ok, f"{name}={_show(got)} {'equals' if ok else 'is not'} {leaf.value!r}"

    return run


def _in(leaf: s.InCond, env: CompileEnv) -> Evaluator:
    path = parse_path(leaf.field)
    wanted = {_norm(v) for v in leaf.value}
    name = leaf.field

    def run(ctx: EvalContext) -> tuple[bool, str]:
        got = ctx.get(path)
        ok = got is not MISSING and _norm(got) in wanted
        return ok, f"{name}={_show(got)} {'in' if ok else 'not in'} {leaf.value!r}"

    return run


def _matcher(terms: list[str]) -> TermMatcher:
    try:
        return TermMatcher.compile(terms)
    except TermError as exc:
        raise OperatorError(str(exc), key="value") from None


def _contains_any(leaf: s.ContainsAnyCond, env: CompileEnv) -> Evaluator:
    paths = _paths(leaf.field)
    matcher = _matcher(leaf.value)
    label = leaf.field if isinstance(leaf.field, str) else "+".join(leaf.field)

    def run(ctx: EvalContext) -> tuple[bool, str]:
        for path in paths:
            hit = matcher.any_in(ctx.text(path))
            if hit is not None:
                return True, f"{label} contains {hit!r}"
        return False, f"{label} contains none of {len(leaf.value)} terms"

    return run


def _contains_all(leaf: s.ContainsAllCond, env: CompileEnv) -> Evaluator:
    paths = _paths(leaf.field)
    matcher = _matcher(leaf.value)
    label = leaf.field if isinstance(leaf.field, str) else "+".join(leaf.field)
    wanted = set(leaf.value)

    def run(ctx: EvalContext) -> tuple[bool, str]:
        found: set[str] = set()
        for path in paths:
            found.update(matcher.found(ctx.text(path)))
        missing = [t for t in leaf.value if t not in found]
        if not missing and found >= wanted:
            return True, f"{label} contains all of {leaf.value!r}"
        return False, f"{label} lacks {missing[0]!r}"

    return run


def compile_regex(pattern: str, ignore_case: bool = True) -> Any:
    """Compile an RE2 pattern; raise OperatorError when RE2 refuses it."""
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not ignore_case
    options.max_mem = 8 << 20
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise OperatorError(
            f"regular expression {pattern!r} refused by RE2: {detail} "
            "(RE2 has no backreferences or lookarounds)",
            key="value",
        ) from None


def _matches(leaf: s.MatchesCond, env: CompileEnv) -> Evaluator:
    paths = _paths(leaf.field)
    regex = compile_regex(leaf.value, leaf.ignore_case)
    label = leaf.field if isinstance(leaf.field, str) else "+".join(leaf.field)

    def run(ctx: EvalContext) -> tuple[bool, str]:
        for path in paths:
            match = regex.search(_as_text(ctx.get(path)))
            if match is not None:
                return True, f"{label} matches /{leaf.value}/ ({_show(match.group(0))})"
        return False, f"{label} does not match /{leaf.value}/"

    return run


def _exists(leaf: s.ExistsCond, env: CompileEnv) -> Evaluator:
    path = parse_path(leaf.field)
    name = leaf.field

    def run(ctx: EvalContext) -> tuple[bool, str]:
        got = ctx.get(path)
        present = got is not MISSING and got is not None and got != "" and got != []
        ok = present == leaf.value
        return ok, f"{name} {'is set' if present else 'is not set'}"

    return run


def _compare(leaf: s.GreaterCond | s.LessCond, env: CompileEnv) -> Evaluator:
    path = parse_path(leaf.field)
    greater = leaf.op == "greater"
    name = leaf.field
    word = ">" if greater else "<"

    def run(ctx: EvalContext) -> tuple[bool, str]:
        got = _number(ctx.get(path))
        if got is None:
            return False, f"{name} is not a number"
        ok = got > leaf.value if greater else got < leaf.value
        return ok, f"{name}={got:g} {'' if ok else 'not '}{word} {leaf.value:g}"

    return run


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except (ValueError, TypeError) as exc:
        raise OperatorError(f"invalid duration {text!r}: {exc}", key="value") from None


def _age(leaf: s.OlderThanCond | s.NewerThanCond, env: CompileEnv) -> Evaluator:
    path = parse_path(leaf.field)
    limit = _duration(leaf.value)
    older = leaf.op == "older_than"
    name = leaf.field

    def run(ctx: EvalContext) -> tuple[bool, str]:
        when = as_datetime(ctx.get(path))
        if when is None:
            return False, f"{name} is not a date"
        age = ctx.now - when
        ok = age > limit if older else age < limit
        verb = "older" if older else "newer"
        return ok, f"{name} is {age} old: {'' if ok else 'not '}{verb} than {leaf.value}"

    return run


def _previous(ctx: EvalContext, path: tuple[str, ...]) -> Any:
    previous = ctx.facts.get("previous")
    if not previous:
        return MISSING
    before = lookup(previous, path[1:]) if path[0] == "case" else lookup(previous, path)
    return None if before is MISSING else before


def _present(value: Any) -> Any:
    return None if value is MISSING else value


def _changed(leaf: s.ChangedCond, env: CompileEnv) -> Evaluator:
    path = parse_path(leaf.field)
    name = leaf.field

    def run(ctx: EvalContext) -> tuple[bool, str]:
        before = _previous(ctx, path)
        if before is MISSING:
            return False, f"{name}: no previous value"
        after = _present(ctx.get(path))
        ok = _norm(before) != _norm(after)
        return ok, f"{name} {_show(before)} -> {_show(after)}"

    return run


def _changed_to(leaf: s.ChangedToCond, env: CompileEnv) -> Evaluator:
    path = parse_path(leaf.field)
    want = _norm(leaf.value)
    name = leaf.field

    def run(ctx: EvalContext) -> tuple[bool, str]:
        before = _previous(ctx, path)
        if before is MISSING:
            return False, f"{name}: no previous value"
        after = _present(ctx.get(path))
        ok = _norm(before) != _norm(after) and _norm(after) == want
        return ok, f"{name} {_show(before)} -> {_show(after)} (wanted {leaf.value!r})"

    return run


def _in_business_hours(leaf: s.InBusinessHoursCond, env: CompileEnv) -> Evaluator:
    if leaf.calendar not in env.calendars:
        raise OperatorError(
            f"unknown calendar {leaf.calendar!r}",
            key="calendar",
            word=leaf.calendar,
            candidates=env.calendars,
        )
    path = parse_path(leaf.field) if leaf.field else None
    name = leaf.field or "now"
    cal_name = leaf.calendar

    def run(ctx: EvalContext) -> tuple[bool, str]:
        at = as_datetime(ctx.get(path)) if path else ctx.now
        if at is None:
            return False, f"{name} is not a date"
        is_open = bool(ctx.calendars[cal_name].is_open(at))
        ok = is_open == leaf.value
        return ok, f"{name} is {'in' if is_open else 'outside'} {cal_name} business hours"

    return run


OPERATORS: dict[str, Callable[[Any, CompileEnv], Evaluator]] = {
    "equals": _equals,
    "in": _in,
    "contains_any": _contains_any,
    "contains_all": _contains_all,
    "matches": _matches,
    "exists": _exists,
    "greater": _compare,
    "less": _compare,
    "older_than": _age,
    "newer_than": _age,
    "changed": _changed,
    "changed_to": _changed_to,
    "in_business_hours": _in_business_hours,
}


def compile_leaf(leaf: Any, env: CompileEnv) -> Evaluator:
    """Compile one leaf condition with its registered operator."""
    factory = OPERATORS.get(leaf.op)
    if factory is None:
        raise OperatorError(
            f"unknown operator {leaf.op!r}", key="op", word=leaf.op, candidates=OPERATORS
        )
    return factory(leaf, env)
