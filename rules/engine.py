"""The rules engine's entry points, kept for importers: compile (`rules/compile.py`) and
decide (`rules/decide.py`)."""

from __future__ import annotations

from rules.compile import DEFAULT_PACK, compile_pack, load_ruleset, pack_files
from rules.decide import CREATION_EVENTS, RuleSet
from rules.priorities import DEFAULT_PRIORITY

__all__ = [
    "CREATION_EVENTS",
    "DEFAULT_PACK",
    "DEFAULT_PRIORITY",
    "RuleSet",
    "compile_pack",
    "load_ruleset",
    "pack_files",
]
