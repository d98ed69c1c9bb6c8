"""One category decision from two judges: the admin's rules and the learned model.

Order of precedence:
1. an `explicit: true` signal matched: its category, whatever the model says;
2. the rules are sure: best score ≥ `rules_win_score` and confidence ≥ `rules_win_confidence`;
3. otherwise the model's most probable category (if the pack knows it; a probability below
   `model_min_probability` adds the low-confidence tag), unless the message is shorter than
   `model_min_words` words: the model learnt from whole messages and is not trusted on a
   few words (its n-gram vectors have unit length whatever the length of the text);
4. no model (or `model: false`): the rules alone, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rules.schema import CategorySettings

EXPLICIT_RULE = "explicit_rule"
RULES = "rules"
MODEL = "model"


@dataclass(slots=True)
class RuleVerdict:
    """What the rules alone concluded."""

    category: str
    confidence: float
    score: float
    low: bool
    explicit: str | None = None


@dataclass(slots=True)
class ModelVerdict:
    """What the model concluded, with the terms that weighed for its class."""

    category: str
    probability: float
    version: str
    terms: list[str] = field(default_factory=list)
    words: int = 1_000


def choose(
    rules: RuleVerdict,
    model: ModelVerdict | None,
    cfg: CategorySettings,
    known: set[str] | list[str],
) -> tuple[str, str, float, bool]:
    """(source, category, confidence, low_confidence) after applying the precedence above."""
    if rules.explicit is not None:
        return EXPLICIT_RULE, rules.explicit, max(rules.confidence, 0.99), False
    if model is None or model.category not in known or model.words < cfg.model_min_words:
        return RULES, rules.category, rules.confidence, rules.low
    if (
        not rules.low
        and rules.score >= cfg.rules_win_score
        and rules.confidence >= cfg.rules_win_confidence
    ):
        return RULES, rules.category, rules.confidence, False
    low = model.probability < cfg.model_min_probability
    return MODEL, model.category, round(model.probability, 4), low


@dataclass(slots=True)
class Judgement:
    """The category decision with both sides' evidence (for the audit trail and `explain`)."""

    category: str
    confidence: float
    reasons: list[str]
    low: bool
    source: str
    rules: RuleVerdict
    rule_terms: list[str]
    model: ModelVerdict | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    signals: dict[str, float] = field(default_factory=dict)

    def model_facts(self) -> dict[str, object]:
        """What the impact and automation rules can read under `model.`."""
        if self.model is None:
            return {}
        return {
            "category": self.model.category,
            "probability": round(self.model.probability, 4),
            "version": self.model.version,
            **self.signals,
        }

    def to_dict(self) -> dict[str, object]:
        """A JSON-safe summary: who decided, and what weighed on each side."""
        out: dict[str, object] = {
            "source": self.source,
            "rules": {
                "category": self.rules.category,
                "score": self.rules.score,
                "confidence": self.rules.confidence,
                "explicit": self.rules.explicit,
                "terms": list(self.rule_terms),
            },
        }
        if self.model is not None:
            out["model"] = {
                "version": self.model.version,
                "category": self.model.category,
                "probability": round(self.model.probability, 4),
                "terms": list(self.model.terms),
                "probabilities": dict(self.probabilities),
                **self.signals,
            }
        return out
