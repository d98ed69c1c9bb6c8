"""The rules engine: categories, SLA, impact priority and automations, from YAML packs."""

from __future__ import annotations

from rules.decision import Decision, PlannedAction, Reason, RuleTrace, Wakeup
from rules.engine import DEFAULT_PACK, RuleSet, load_ruleset
from rules.loader import RuleIssue, RulesError

__all__ = [
    "DEFAULT_PACK",
    "Decision",
    "PlannedAction",
    "Reason",
    "RuleIssue",
    "RuleSet",
    "RuleTrace",
    "RulesError",
    "Wakeup",
    "load_ruleset",
]
