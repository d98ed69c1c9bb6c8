"""The category of a request: the pack's signals, then the learned model beside them."""

from __future__ import annotations

from typing import Any

from rules import schema as s
from rules.compiled import CompiledCategory
from rules.decision import RuleTrace
from rules.model.artifact import LinearModel
from rules.model.combine import Judgement, ModelVerdict, RuleVerdict, choose
from rules.operators import EvalContext

SUBJECT_PATH = ("request", "subject")

RulesVerdict = tuple[str, float, list[str], list[RuleTrace], bool, float, str | None]


def classify_rules(
    categories: list[CompiledCategory], cfg: s.CategorySettings, ctx: EvalContext
) -> RulesVerdict:
    """The rules alone: (category, confidence, reasons, trace, low, best score, explicit)."""
    scored: list[tuple[float, CompiledCategory, list[str]]] = []
    explicit: list[tuple[float, str]] = []
    for cat in categories:
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


def judge(
    rules: RulesVerdict,
    model: LinearModel | None,
    cfg: s.CategorySettings,
    category_ids: list[str],
    ctx: EvalContext,
) -> tuple[Judgement, list[RuleTrace]]:
    """The category from the rules' verdict and the learned model (rules/model/combine.py)."""
    category, confidence, reasons, trace, low, score, explicit = rules
    verdict = RuleVerdict(category, confidence, score, low, explicit)
    rule_terms = [] if low else list(reasons)
    if model is None:
        j = Judgement(category, confidence, reasons, low, "rules", verdict, rule_terms)
        return j, trace
    request = ctx.facts.get("request") or {}
    pred = model.predict(str(request.get("subject") or ""), str(request.get("body") or ""))
    mv = ModelVerdict(pred.category, pred.probability, model.version, words=pred.words)
    source, chosen, conf, low2 = choose(verdict, mv, cfg, category_ids)
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


def model_facts(model: LinearModel | None, work: dict[str, Any]) -> dict[str, Any]:
    """The model's view of this request for the impact rules (`model.*`), if it runs."""
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
