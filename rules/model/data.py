"""Labelled examples for training and evaluation: CSV, JSON Lines or YAML exports.

A row needs `subject`, `body` and `category`; `lang`/`language`, `legal_risk`, `blocking`,
`format` ("text" | "html") and `id` are optional. HTML bodies and quoted history are cleaned
the way the mail pipeline cleans a message, so training sees what the worker sees.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.errors import FatalError
from bot.mail.text import html_to_text, strip_quotes_and_signature

CORPUS_DIR = Path(__file__).parent / "corpus"
_TRUE = {"true", "1", "yes", "oui", "y"}
_FALSE = {"false", "0", "no", "non", "n", ""}


class DataError(FatalError):
    """A training file is unreadable or a row lacks a required column."""


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled message."""

    subject: str
    body: str
    category: str
    lang: str | None = None
    legal_risk: bool | None = None
    blocking: bool | None = None
    id: str | None = None


def _flag(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE and text:
        return False
    return None


def clean_body(body: str, fmt: str | None = None) -> str:
    """The body as the pipeline stores it: HTML to text, quotes and signature cut."""
    text = html_to_text(body) if (fmt or "").lower() == "html" else body
    return strip_quotes_and_signature(text) or text


def example_from(row: dict[str, Any], where: str) -> Example:
    """An Example from one exported row; DataError names the row if a column is missing."""
    missing = [k for k in ("subject", "body", "category") if row.get(k) in (None, "")]
    if "subject" in missing and row.get("body"):
        missing.remove("subject")
    if missing:
        raise DataError(f"{where}: missing {', '.join(missing)}")
    return Example(
        subject=str(row.get("subject") or ""),
        body=clean_body(str(row["body"]), row.get("format")),
        category=str(row["category"]).strip(),
        lang=(row.get("lang") or row.get("language") or None),
        legal_risk=_flag(row.get("legal_risk")),
        blocking=_flag(row.get("blocking")),
        id=str(row["id"]) if row.get("id") is not None else None,
    )


def _rows(path: Path) -> Iterator[tuple[dict[str, Any], str]]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with path.open(newline="", encoding="utf-8-sig") as fh:
                for n, row in enumerate(csv.DictReader(fh), start=2):
                    yield row, f"{path}:{n}"
        elif suffix in (".jsonl", ".ndjson"):
            with path.open(encoding="utf-8") as fh:
                for n, line in enumerate(fh, start=1):
                    if line.strip():
                        yield json.loads(line), f"{path}:{n}"
        elif suffix in (".yaml", ".yml"):
            items = yaml.safe_load(path.read_text(encoding="utf-8")) or []
            for n, row in enumerate(items, start=1):
                yield row, f"{path}[{n}]"
        else:
            raise DataError(f"{path}: expected a .csv, .jsonl or .yaml file")
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from exc


def read_examples(paths: Iterable[Path]) -> list[Example]:
    """Every labelled example of these files (a directory means its .jsonl/.csv/.yaml files)."""
    out: list[Example] = []
    for path in paths:
        files = (
            sorted(p for p in path.iterdir() if p.suffix.lower() in (".jsonl", ".csv", ".yaml"))
            if path.is_dir()
            else [path]
        )
        for file in files:
            out.extend(example_from(row, where) for row, where in _rows(file))
    return out


def bundled_corpus() -> list[Example]:
    """The FR/EN training corpus shipped with crmbot (what the default model learnt from)."""
    return read_examples([CORPUS_DIR])


def _digest(e: Example) -> str:
    return hashlib.sha256(f"{e.subject}\n{e.body}".encode()).hexdigest()


def split_holdout(examples: list[Example], fraction: float) -> tuple[list[Example], list[Example]]:
    """(train, held out): per category, the `fraction` of examples with the smallest hash.

    Deterministic, so the same export always holds out the same messages.
    """
    if fraction <= 0:
        return list(examples), []
    held: set[int] = set()
    for cat in {e.category for e in examples}:
        members = sorted((_digest(e), i) for i, e in enumerate(examples) if e.category == cat)
        held.update(i for _, i in members[: round(len(members) * fraction)])
    train = [e for i, e in enumerate(examples) if i not in held]
    return train, [examples[i] for i in sorted(held)]


def write_jsonl(path: Path, examples: Iterable[Example]) -> None:
    """Write examples as JSON Lines (bodies already clean, so format is text)."""
    with path.open("w", encoding="utf-8") as fh:
        for e in examples:
            row = {k: v for k, v in asdict(e).items() if v is not None}
            fh.write(json.dumps(dict(row, format="text"), ensure_ascii=False) + "\n")
