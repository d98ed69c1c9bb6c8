"""Where to put the legal-risk threshold: out-of-fold figures on the training corpus only.

For each candidate threshold on the model's calibrated legal-risk probability, prints the
precision/recall of the pack's legal_risk rule (its terms OR probability > threshold) on
out-of-fold predictions of the bundled corpus, and the k-fold category accuracy. With
--dev, also trains on the corpus minus a held-out share of one file (default train-T3) and
prints the decisions' figures on that share. Never reads bench/data/eval/.

Run: python3 bench/bench_legal_threshold.py [--dev FILE_STEM] [--share 0.3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rules import load_ruleset  # noqa: E402
from rules.model.data import CORPUS_DIR, Example, read_examples  # noqa: E402
from rules.model.evaluate import binary_report, category_report  # noqa: E402
from rules.model.train import kfold, train_model  # noqa: E402

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7)


def _facts(e: Example) -> dict[str, Any]:
    request = {"subject": e.subject, "body": e.body, "language": e.lang or "fr"}
    return {"request": dict(request, channel="email", received_at=NOW)}


def term_hits(examples: list[Example]) -> np.ndarray:
    """Whether the pack's legal_risk rule holds on each message without the model."""
    ruleset = load_ruleset()
    ruleset.model = None
    return np.array(
        [
            "legal_risk" in {r.code for r in ruleset.decide(_facts(e), now=NOW).reasons}
            for e in examples
        ]
    )


def oof_sweep(examples: list[Example]) -> dict[str, Any]:
    """Out-of-fold legal-risk precision/recall per threshold (terms OR probability)."""
    report = kfold(examples)
    rows, z = report["legal_risk_logits"]
    temp = report["binary_temperature"]["legal_risk"]
    prob = 1.0 / (1.0 + np.exp(-np.asarray(z) / temp))
    truth = [bool(examples[i].legal_risk) for i in rows]
    terms = term_hits([examples[i] for i in rows])
    sweep = {"terms_only": binary_report(truth, list(terms))}
    for t in THRESHOLDS:
        sweep[f"p>{t}"] = binary_report(truth, list(terms | (prob > t)))
        sweep[f"model_only p>{t}"] = binary_report(truth, list(prob > t))
    return {
        "examples": len(examples),
        "kfold_accuracy": report["category"]["accuracy"],
        "accuracy_by_language": report["accuracy_by_language"],
        "binary": report["binary"],
        "legal_temperature": temp,
        "sweep": sweep,
    }


def _held(e: Example, share: float) -> bool:
    digest = hashlib.sha256(f"{e.subject}\n{e.body}".encode()).digest()
    return digest[0] < share * 256


def dev_split(stem: str, share: float) -> dict[str, Any]:
    """Train without a held-out share of one corpus file, then judge that share."""
    examples: list[Example] = []
    dev: list[Example] = []
    for path in sorted(CORPUS_DIR.glob("*.jsonl")):
        for e in read_examples([path]):
            (dev if path.stem == stem and _held(e, share) else examples).append(e)
    model, _ = train_model(examples, k=2)
    ruleset = load_ruleset()
    ruleset.model = model
    decisions = [ruleset.decide(_facts(e), now=NOW) for e in dev]
    cats = [d.category for d in decisions]
    legal = ["legal_risk" in {r.code for r in d.reasons} for d in decisions]
    out = {
        "dev_file": stem,
        "dev_n": len(dev),
        "category": category_report([e.category for e in dev], cats)["accuracy"],
        "legal_risk": binary_report([bool(e.legal_risk) for e in dev], legal),
    }
    for lang in ("en", "fr"):
        idx = [i for i, e in enumerate(dev) if e.lang == lang]
        out[f"category_{lang}"] = round(sum(cats[i] == dev[i].category for i in idx) / len(idx), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", default="", help="corpus file stem to hold a share of out")
    parser.add_argument("--share", type=float, default=0.3)
    parser.add_argument("--no-sweep", action="store_true")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {}
    if not args.no_sweep:
        out["oof"] = oof_sweep(read_examples([CORPUS_DIR]))
    if args.dev:
        out["dev"] = dev_split(args.dev, args.share)
    print(json.dumps(out, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
