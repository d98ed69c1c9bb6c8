"""Judgement benchmark on a frozen, blind-written corpus: rules alone, model alone, both.

Prints category accuracy (overall, per language, per-category precision/recall), legal-risk
and blocking precision/recall (from the decision's impact reasons: `legal_risk` and
`blocking_incident` in rules/packs/default/impact.yaml), µs per decide(), the shipped model's
size and load time, and the k-fold figures recorded when it was trained.

Run: python3 bench/bench_judgement.py [FILE.jsonl] [--json] [--kfold]
(FILE defaults to bench/data/eval/category.jsonl; --kfold re-runs the k-fold on the bundled
training corpus instead of printing the figures stored in the model.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from rules import RuleSet, load_ruleset  # noqa: E402
from rules.model import DEFAULT_MODEL, load_model  # noqa: E402
from rules.model.data import Example, read_examples  # noqa: E402
from rules.model.evaluate import binary_report, category_report, render_report  # noqa: E402

EVAL = ROOT / "bench" / "data" / "eval" / "category.jsonl"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LEGAL_CODE = "legal_risk"
BLOCKING_CODE = "blocking_incident"


def facts(e: Example) -> dict[str, Any]:
    """The facts the worker would build for this message (no contact, a new case)."""
    return {
        "request": {
            "subject": e.subject,
            "body": e.body,
            "language": e.lang or "fr",
            "channel": "email",
            "sender_email": "someone@example.org",
            "received_at": NOW,
        },
        "contact": {},
        "company": {},
        "case": {"status": "new", "follow_up_count": 0, "created_at": NOW},
    }


def judge(ruleset: RuleSet, examples: list[Example]) -> dict[str, Any]:
    """Categories and impact flags of every example, and the µs per decide()."""
    cats, legal, blocking, times = [], [], [], []
    for e in examples:
        f = facts(e)
        start = time.perf_counter()
        d = ruleset.decide(f, now=NOW)
        times.append((time.perf_counter() - start) * 1e6)
        codes = {r.code for r in d.reasons}
        cats.append(d.category)
        legal.append(LEGAL_CODE in codes)
        blocking.append(BLOCKING_CODE in codes)
    return {"categories": cats, "legal": legal, "blocking": blocking, "us": times}


def by_language(examples: list[Example], predicted: list[str]) -> dict[str, float]:
    """Accuracy per language."""
    out = {}
    for lang in sorted({e.lang or "?" for e in examples}):
        rows = [i for i, e in enumerate(examples) if (e.lang or "?") == lang]
        out[lang] = round(sum(predicted[i] == examples[i].category for i in rows) / len(rows), 4)
    return out


def flags(examples: list[Example], got: list[bool], attr: str) -> dict[str, Any] | None:
    """Precision/recall of a yes/no signal over the examples that carry its label."""
    rows = [i for i, e in enumerate(examples) if getattr(e, attr) is not None]
    if not rows:
        return None
    return binary_report([bool(getattr(examples[i], attr)) for i in rows], [got[i] for i in rows])


def model_figures() -> dict[str, Any]:
    """The shipped model's file size, load time (median of 5 cold loads) and version."""
    loads = []
    for _ in range(5):
        start = time.perf_counter()
        model = load_model(DEFAULT_MODEL)
        loads.append(time.perf_counter() - start)
    return {
        "version": model.version,
        "file_bytes": DEFAULT_MODEL.stat().st_size,
        "features": len(model.features),
        "load_seconds": round(statistics.median(loads), 4),
        "trained_on": model.meta.get("examples"),
        "kfold": model.meta.get("kfold"),
    }


def run(path: Path, rerun_kfold: bool = False) -> dict[str, Any]:
    """Every figure of the benchmark as a JSON-safe dict."""
    examples = read_examples([path])
    truth = [e.category for e in examples]
    combined = load_ruleset()
    rules_only = load_ruleset()
    rules_only.model = None
    model = combined.model
    assert model is not None, "the default pack should load the shipped model"
    both = judge(combined, examples)
    alone = judge(rules_only, examples)
    model_cats = [model.predict(e.subject, e.body).category for e in examples]
    report: dict[str, Any] = {"file": str(path), "n": len(examples), "category": {}}
    for name, predicted in (
        ("rules", alone["categories"]),
        ("model", model_cats),
        ("combined", both["categories"]),
    ):
        rep = category_report(truth, predicted)
        rep["accuracy_by_language"] = by_language(examples, predicted)
        report["category"][name] = rep
    report["legal_risk"] = {
        "rules": flags(examples, alone["legal"], "legal_risk"),
        "combined": flags(examples, both["legal"], "legal_risk"),
    }
    report["blocking"] = {
        "rules": flags(examples, alone["blocking"], "blocking"),
        "combined": flags(examples, both["blocking"], "blocking"),
    }
    report["decide_us"] = {
        "rules_median": round(statistics.median(alone["us"]), 1),
        "combined_median": round(statistics.median(both["us"]), 1),
        "combined_p95": round(sorted(both["us"])[int(0.95 * (len(both["us"]) - 1))], 1),
    }
    report["model"] = model_figures()
    if rerun_kfold:
        from rules.model.data import bundled_corpus
        from rules.model.train import kfold, summary

        report["model"]["kfold_rerun"] = summary(kfold(bundled_corpus()))
    return report


def render(report: dict[str, Any], console: Console) -> None:
    """The report as rich tables."""
    overview = Table(title=f"Category accuracy on {report['n']} messages ({report['file']})")
    for col in ("judge", "accuracy", "macro F1", "by language"):
        overview.add_column(col)
    for name, rep in report["category"].items():
        langs = ", ".join(f"{k} {v:.3f}" for k, v in rep["accuracy_by_language"].items())
        overview.add_row(name, f"{rep['accuracy']:.3f}", f"{rep['macro_f1']:.3f}", langs)
    console.print(overview)
    for name, rep in report["category"].items():
        render_report(rep, console, name)
    signals = Table(title="Impact signals (from the decision's impact reasons)")
    for col in ("signal", "judge", "precision", "recall", "positives"):
        signals.add_column(col)
    for sig in ("legal_risk", "blocking"):
        for judge_name, fig in report[sig].items():
            if fig:
                signals.add_row(
                    sig,
                    judge_name,
                    f"{fig['precision']:.3f}",
                    f"{fig['recall']:.3f}",
                    f"{fig['positives']}/{fig['n']}",
                )
    console.print(signals)
    us, m = report["decide_us"], report["model"]
    console.print(
        f"decide(): median {us['rules_median']:.0f} µs rules alone,"
        f" {us['combined_median']:.0f} µs rules + model (p95 {us['combined_p95']:.0f} µs)"
    )
    console.print(
        f"model {m['version']}: {m['file_bytes'] / 1e6:.2f} MB, {m['features']} features,"
        f" load {m['load_seconds'] * 1000:.0f} ms, trained on {m['trained_on']} messages"
    )
    for key in ("kfold", "kfold_rerun"):
        kf = m.get(key)
        if kf:
            cat = kf["category"]
            console.print(
                f"{key}: {kf['k']}-fold accuracy {cat['accuracy']:.3f}, macro F1"
                f" {cat['macro_f1']:.3f}, by language {kf['accuracy_by_language']},"
                f" binary heads {json.dumps(kf.get('binary', {}))}"
            )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=EVAL)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--kfold", action="store_true", help="re-run k-fold on the corpus")
    args = parser.parse_args(argv)
    if not args.file.exists():
        print(f"{args.file}: missing (the lead places the frozen corpus there)", file=sys.stderr)
        return 2
    report = run(args.file, rerun_kfold=args.kfold)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        render(report, Console(highlight=False, soft_wrap=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
