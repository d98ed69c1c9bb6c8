"""Safe YAML loading of rules files, with file/line/key errors and typo suggestions.

Anchors and aliases are refused (no "billion laughs"), so are files over 1 MB, duplicate
keys and any tag a safe loader does not know. Every value keeps its YAML node, so a
validation error (pydantic's or ours) is reported as `file:line: key.path: message`.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from bot.errors import ConfigError
from rules.schema import RulesFile

MAX_FILE_BYTES = 1_000_000
MAX_DEPTH = 64
_PLAIN_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})
Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class RuleIssue:
    """One problem in a rules file, located by file, line and key path."""

    file: str
    line: int
    key: str
    message: str
    suggestion: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:"
        key = f" {self.key}:" if self.key else ""
        hint = f" (did you mean {self.suggestion!r}?)" if self.suggestion else ""
        return f"{where}{key} {self.message}{hint}"


class RulesError(ConfigError):
    """A rules pack is invalid; carries every problem found (file, line, key, message)."""

    def __init__(self, issues: Sequence[RuleIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


def suggest(word: object, candidates: Iterable[str]) -> str | None:
    """The closest valid name to a probable typo, if one is close enough."""
    if not isinstance(word, str):
        return None
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


class _NoAliasLoader(yaml.SafeLoader):
    """A safe loader that refuses anchors and aliases before composing anything."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _YamlRefused("aliases (*name) are not allowed in rules files", event.start_mark)
        if getattr(event, "anchor", None):
            raise _YamlRefused("anchors (&name) are not allowed in rules files", event.start_mark)
        return super().compose_node(parent, index)


class _YamlRefused(Exception):
    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


@dataclass(slots=True)
class SourceFile:
    """One parsed rules file: its path, YAML node tree, plain data and validated model."""

    path: Path
    node: yaml.Node | None
    data: Any
    model: RulesFile | None = None

    @property
    def name(self) -> str:
        """The path as shown in messages."""
        return str(self.path)

    def line_of(self, loc: Loc) -> tuple[int, str]:
        """The line and dotted key path of a location (as deep as the YAML goes)."""
        node = self.node
        line = node.start_mark.line + 1 if node is not None else 1
        parts: list[str] = []
        for item in loc:
            child, key_node = _child(node, item)
            if child is None:
                continue
            parts.append(f"[{item}]" if isinstance(item, int) else f".{item}")
            node = child
            line = (key_node or child).start_mark.line + 1
        return line, "".join(parts).lstrip(".")


def _child(node: yaml.Node | None, item: str | int) -> tuple[yaml.Node | None, yaml.Node | None]:
    if isinstance(node, yaml.MappingNode) and isinstance(item, str):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == item:
                return value_node, key_node
    if (
        isinstance(node, yaml.SequenceNode)
        and isinstance(item, int)
        and 0 <= item < len(node.value)
    ):
        return node.value[item], None
    return None, None


@dataclass(slots=True)
class Issues:
    """Collects problems while a pack is loaded and compiled."""

    items: list[RuleIssue] = field(default_factory=list)

    def add(
        self,
        src: SourceFile,
        loc: Loc,
        message: str,
        *,
        word: object = None,
        candidates: Iterable[str] = (),
    ) -> None:
        """Record a problem at `loc` in `src`, with a typo suggestion when one fits."""
        line, key = src.line_of(loc)
        self.items.append(RuleIssue(src.name, line, key, message, suggest(word, candidates)))

    def raise_if_any(self) -> None:
        """Raise RulesError when at least one problem was recorded."""
        if self.items:
            raise RulesError(self.items)


def read_yaml(path: Path) -> SourceFile:
    """Read and safely parse one YAML file; raise RulesError with its line on any problem."""
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise RulesError(
                [RuleIssue(name, 1, "", f"file is {size} bytes, over the {MAX_FILE_BYTES} limit")]
            )
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise RulesError([RuleIssue(name, 1, "", f"cannot read: {exc.strerror}")]) from exc
    if len(raw) > MAX_FILE_BYTES:
        raise RulesError([RuleIssue(name, 1, "", f"file is over the {MAX_FILE_BYTES} limit")])
    return parse_yaml(raw, path)


def parse_yaml(raw: bytes | str, path: Path) -> SourceFile:
    """Parse YAML text into a SourceFile (node tree + plain data)."""
    name = str(path)
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RulesError([RuleIssue(name, 1, "", f"not UTF-8 text ({exc.reason})")]) from exc
    else:
        text = raw
    loader = _NoAliasLoader(text)
    try:
        node = loader.get_single_node()
        data = _to_python(loader, node, name, 0) if node is not None else None
    except _YamlRefused as exc:
        line = exc.mark.line + 1 if exc.mark else 1
        raise RulesError([RuleIssue(name, line, "", exc.message)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        message = f"invalid YAML: {exc.problem or exc.context}"
        raise RulesError([RuleIssue(name, line, "", message)]) from None
    except yaml.YAMLError as exc:
        raise RulesError([RuleIssue(name, 1, "", f"invalid YAML: {exc}")]) from None
    except RecursionError:
        raise RulesError([RuleIssue(name, 1, "", "YAML nested too deeply")]) from None
    finally:
        loader.dispose()
    return SourceFile(path, node, data)


def _to_python(loader: yaml.SafeLoader, node: yaml.Node, name: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise _YamlRefused(f"YAML nested deeper than {MAX_DEPTH} levels", node.start_mark)
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN_TAGS:
        raise _YamlRefused(f"YAML tag {node.tag!r} is not allowed", node.start_mark)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _YamlRefused("mapping keys must be plain strings", key_node.start_mark)
            key = key_node.value
            if key == "<<":
                raise _YamlRefused("merge keys (<<) are not allowed", key_node.start_mark)
            if key in result:
                raise _YamlRefused(f"duplicate key {key!r}", key_node.start_mark)
            result[key] = _to_python(loader, value_node, name, depth + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(loader, item, name, depth + 1) for item in node.value]
    return loader.construct_object(node, deep=True)


# ------------------------------------------------------------------ pydantic validation


def validate_file(src: SourceFile) -> RulesFile:
    """Validate a parsed file into a RulesFile; raise RulesError with every located error."""
    data = src.data if src.data is not None else {}
    if not isinstance(data, dict):
        line = src.node.start_mark.line + 1 if src.node is not None else 1
        raise RulesError([RuleIssue(src.name, line, "", "a rules file must be a mapping")])
    try:
        model = RulesFile.model_validate(data)
    except ValidationError as exc:
        issues = Issues()
        errors = exc.errors(include_url=False)
        locs = [tuple(e.get("loc", ())) for e in errors]
        for err, loc in zip(errors, locs, strict=True):
            # "Input should be a valid string" from the str branch of a str|model union is
            # noise when the model branch reported something more precise below it.
            branch = loc[:-1] if loc and loc[-1] == "str" else loc
            if err.get("type") == "string_type" and any(
                len(other) > len(loc) and other[: len(branch)] == branch for other in locs
            ):
                continue
            _add_pydantic_error(issues, src, err)
        raise RulesError(issues.items) from None
    src.model = model
    return model


_QUOTED = re.compile(r"'([^']*)'")


def _add_pydantic_error(issues: Issues, src: SourceFile, err: Any) -> None:
    loc: Loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        key = loc[-1] if loc else ""
        allowed = allowed_keys(loc[:-1])
        message = f"unknown key {key!r}"
        if allowed:
            message += f"; allowed: {', '.join(sorted(allowed))}"
        issues.add(src, loc, message, word=key, candidates=allowed)
        return
    if kind == "union_tag_invalid":
        expected = _QUOTED.findall(str(ctx.get("expected_tags", "")))
        tag = ctx.get("tag")
        disc = str(ctx.get("discriminator", "")).strip("'")
        message = f"unknown {disc} {tag!r}; expected one of: {', '.join(expected)}"
        issues.add(src, (*loc, disc), message, word=tag, candidates=expected)
        return
    if kind == "literal_error":
        raw = str(ctx.get("expected", ""))
        expected = _QUOTED.findall(raw) or [
            x.strip() for x in re.split(r",| or ", raw) if x.strip()
        ]
        value = err.get("input")
        message = f"{value!r} is not allowed; expected one of: {', '.join(expected)}"
        issues.add(src, loc, message, word=value, candidates=expected)
        return
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    issues.add(src, loc, message)


def allowed_keys(loc: Loc) -> list[str]:
    """The keys a mapping at `loc` (a pydantic location in a RulesFile) may hold."""
    current: Any = RulesFile
    for item in loc:
        current = _step(current, item)
        if current is None:
            return []
    model = _as_model(current, None)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _members(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _members(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(tp):
            out.extend(_members(arg))
        return out
    return [tp]


def _tag_of(model: type[BaseModel]) -> set[str]:
    tags: set[str] = set()
    for disc in ("op", "type"):
        f = model.model_fields.get(disc)
        if f is not None and typing.get_origin(f.annotation) is typing.Literal:
            tags.update(str(a) for a in typing.get_args(f.annotation))
    alias_tags = {"all_": "all", "any_": "any", "not_": "not"}
    for name in model.model_fields:
        if name in alias_tags:
            tags.add(alias_tags[name])
    return tags


def _as_model(tp: Any, tag: str | int | None) -> type[BaseModel] | None:
    models = [m for m in _members(tp) if isinstance(m, type) and issubclass(m, BaseModel)]
    if len(models) == 1:
        return models[0]
    if tag is not None:
        for m in models:
            if str(tag) in _tag_of(m):
                return m
    return None


def _step(tp: Any, item: str | int) -> Any:
    members = _members(tp)
    for member in members:
        origin = typing.get_origin(member)
        if origin is list and isinstance(item, int):
            return typing.get_args(member)[0]
        if origin is dict and isinstance(item, str):
            return typing.get_args(member)[1]
    models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
    if isinstance(item, str):
        if len(models) > 1:
            picked = _as_model(tp, item)
            if picked is not None:
                return picked
        for model in models:
            for name, f in model.model_fields.items():
                if item in (name, f.alias):
                    return f.annotation
        picked = _as_model(tp, item)
        if picked is not None:
            return picked
        if item == "leaf":
            return tp
    return None
