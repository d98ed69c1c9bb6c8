"""The whole judgement (rules + model) measured out-of-fold on the training corpus only.

k-fold trains the model k times; each message is then decided by the default pack with the
model's out-of-fold outputs for it (category probabilities, legal-risk and blocking
probabilities), so the figures are what the pack would do on mail the model never saw.
Prints category accuracy (overall, per language), legal-risk and blocking precision/recall
of the decisions, and a sweep of the model-alone legal-risk threshold. With --sweep, also the
pack's precision/recall for each threshold of its two model-alone conditions
(`model.legal_risk_probability` and `model.blocking_probability` alone, in impact.yaml), and
the threshold with the best F1 among those with precision >= 0.90: how those thresholds are
chosen. With --dev STEM, also trains on the corpus minus a held-out share of one file
(default train-T3) and judges that share. Never reads bench/data/eval/.

Run: python3 bench/bench_legal_threshold.py [--sweep] [--dev train-T3] [--share 0.3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rules import RuleSet, load_ruleset  # noqa: E402
from rules.compile import pack_files  # noqa: E402
from rules.model.artifact import Prediction  # noqa: E402
from rules.model.data import CORPUS_DIR, Example, read_examples  # noqa: E402
from rules.model.evaluate import binary_report, category_report  # noqa: E402
from rules.model.train import kfold, train_model  # noqa: E402

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
SWEEP = tuple(round(0.05 * i, 2) for i in range(2, 19))
MIN_PRECISION = 0.90
# impact rule id, its model-alone probability fact, the example's label, the reason code
ALONE = (
    ("legal_risk", "model.legal_risk_probability", "legal_risk", "legal_risk"),
    ("blocking_incident", "model.blocking_probability", "blocking", "blocking_incident"),
)


class OutOfFoldModel:
    """Stands in for the model: answers each message with its out-of-fold outputs."""

    version = "out-of-fold"

    def __init__(self, classes: list[str], outputs: dict[str, Prediction]) -> None:
        self.classes = classes
        self.outputs = outputs

    def predict(self, subject: str | None, body: str | None) -> Prediction:
        """The out-of-fold prediction recorded for this message."""
        return self.outputs[_key(subject, body)]

    def top_terms(self, pred: Prediction, category: str | None = None, k: int = 8) -> list[str]:
        """No terms: the fold models are gone."""
        return []


def _key(subject: str | None, body: str | None) -> str:
    return hashlib.sha256(f"{subject or ''}\n{body or ''}".encode()).hexdigest()


def _facts(e: Example) -> dict[str, Any]:
    request = {"subject": e.subject, "body": e.body, "language": e.lang or "fr"}
    return {"request": dict(request, channel="email", received_at=NOW)}


def _sigmoid(z: np.ndarray, temperature: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z / temperature))


def out_of_fold_model(examples: list[Example], report: dict[str, Any]) -> OutOfFoldModel:
    """The k-fold report's logits as one prediction per message (calibrated like the model)."""
    from rules.model.features import analyse

    classes = report["classes"]
    z = report["logits"] / report["temperature"]
    probs = np.exp(z - z.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    binary: dict[int, dict[str, float]] = {i: {} for i in range(len(examples))}
    for head in ("legal_risk", "blocking"):
        if f"{head}_logits" in report:
            rows, logits = report[f"{head}_logits"]
            p = _sigmoid(np.asarray(logits), report["binary_temperature"][head])
            for i, value in zip(rows, p, strict=True):
                binary[i][f"{head}_probability"] = round(float(value), 4)
    outputs = {}
    for i, e in enumerate(examples):
        counts = analyse(e.subject, e.body)
        words = sum(
            c for f, c in counts.items() if f.startswith("w ") and " " not in f[2:] and f[2] != "~"
        )
        best = int(np.argmax(probs[i]))
        outputs[_key(e.subject, e.body)] = Prediction(
            classes[best],
            float(probs[i, best]),
            {c: round(float(p), 4) for c, p in zip(classes, probs[i], strict=True)},
            {**binary[i], "words": words},
            words,
            Counter(),
            np.zeros(0, np.int64),
            np.zeros(0, np.float32),
        )
    return OutOfFoldModel(classes, outputs)


def judge(ruleset: RuleSet, examples: list[Example]) -> dict[str, Any]:
    """Category accuracy and impact-signal figures of the pack's decisions."""
    decisions = [ruleset.decide(_facts(e), now=NOW) for e in examples]
    cats = [d.category for d in decisions]
    codes = [{r.code for r in d.reasons} for d in decisions]
    out: dict[str, Any] = {
        "n": len(examples),
        "accuracy": category_report([e.category for e in examples], cats)["accuracy"],
    }
    for lang in ("en", "fr"):
        idx = [i for i, e in enumerate(examples) if e.lang == lang]
        out[f"accuracy_{lang}"] = round(
            sum(cats[i] == examples[i].category for i in idx) / len(idx), 4
        )
    for attr, code in (("legal_risk", "legal_risk"), ("blocking", "blocking_incident")):
        idx = [i for i, e in enumerate(examples) if getattr(e, attr) is not None]
        out[attr] = binary_report(
            [bool(getattr(examples[i], attr)) for i in idx], [code in codes[i] for i in idx]
        )
    return out


def pack_without_model_alone(directory: Path) -> Path:
    """A copy of the default pack whose model-alone impact conditions can never hold."""
    for path in pack_files(None):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for rule in (doc.get("impact") or {}).get("rules", []):
            for rule_id, fact, _, _ in ALONE:
                if rule["id"] != rule_id:
                    continue
                for cond in rule["when"]["any"]:
                    if cond.get("field") == fact and cond.get("op") == "greater":
                        cond["value"] = 2.0
        (directory / path.name).write_text(yaml.safe_dump(doc, allow_unicode=True))
    return directory


def sweep(examples: list[Example], oof: OutOfFoldModel) -> dict[str, Any]:
    """Pack precision/recall for each model-alone threshold, and the one to choose."""
    with tempfile.TemporaryDirectory() as tmp:
        ruleset = load_ruleset(pack_without_model_alone(Path(tmp)))
    ruleset.model = oof  # type: ignore[assignment]
    codes = [{r.code for r in ruleset.decide(_facts(e), now=NOW).reasons} for e in examples]
    out: dict[str, Any] = {}
    for _, fact, attr, code in ALONE:
        signal = fact.split(".", 1)[1]
        idx = [i for i, e in enumerate(examples) if getattr(e, attr) is not None]
        truth = [bool(getattr(examples[i], attr)) for i in idx]
        probs = [oof.predict(examples[i].subject, examples[i].body).signals[signal] for i in idx]
        table = {}
        for t in SWEEP:
            got = [code in codes[i] or p > t for i, p in zip(idx, probs, strict=True)]
            rep = binary_report(truth, got)
            p_, r_ = rep["precision"], rep["recall"]
            table[f"p>{t}"] = dict(rep, f1=round(2 * p_ * r_ / (p_ + r_), 4) if p_ + r_ else 0.0)
        # The best F1 with precision >= MIN_PRECISION; on a tie, the higher precision.
        fair = [
            (v["f1"], v["precision"], k)
            for k, v in table.items()
            if v["precision"] >= MIN_PRECISION
        ]
        best = max(fair)[2] if fair else None
        out[attr] = {"thresholds": table, "chosen": best}
    return out


def out_of_fold(examples: list[Example], with_sweep: bool = False) -> dict[str, Any]:
    """The pack's decisions on out-of-fold model outputs, and the model-alone sweeps."""
    report = kfold(examples)
    ruleset = load_ruleset()
    oof = out_of_fold_model(examples, report)
    ruleset.model = oof  # type: ignore[assignment]
    rows, z = report["legal_risk_logits"]
    prob = _sigmoid(np.asarray(z), report["binary_temperature"]["legal_risk"])
    truth = [bool(examples[i].legal_risk) for i in rows]
    out = {
        "kfold_model_accuracy": report["category"]["accuracy"],
        "kfold_binary_heads": report["binary"],
        "pack_with_out_of_fold_model": judge(ruleset, examples),
        "legal_model_alone": {f"p>{t}": binary_report(truth, list(prob > t)) for t in THRESHOLDS},
    }
    if with_sweep:
        out["pack_model_alone_sweep"] = sweep(examples, oof)
    return out


def _held(e: Example, share: float) -> bool:
    return hashlib.sha256(f"{e.subject}\n{e.body}".encode()).digest()[0] < share * 256


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
    return {"dev_file": stem, **judge(ruleset, dev)}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", default="", help="corpus file stem to hold a share of out")
    parser.add_argument("--share", type=float, default=0.3)
    parser.add_argument("--sweep", action="store_true", help="sweep the model-alone thresholds")
    args = parser.parse_args(argv)
    examples = read_examples([CORPUS_DIR])
    out: dict[str, Any] = {"out_of_fold": out_of_fold(examples, args.sweep)}
    if args.dev:
        out["dev"] = dev_split(args.dev, args.share)
    print(json.dumps(out, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
