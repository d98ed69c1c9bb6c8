"""Figures for a classifier: accuracy, per-category precision/recall, confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table


def _ratio(num: int, den: int) -> float:
    return round(num / den, 4) if den else 0.0


def category_report(
    truth: Sequence[str], predicted: Sequence[str], classes: Sequence[str] | None = None
) -> dict[str, Any]:
    """Accuracy, macro F1, per-category precision/recall/F1/support and the confusion matrix."""
    labels = sorted(set(classes or []) | set(truth) | set(predicted))
    confusion = {t: dict.fromkeys(labels, 0) for t in labels}
    for t, p in zip(truth, predicted, strict=True):
        confusion[t][p] += 1
    per: dict[str, dict[str, float]] = {}
    for c in labels:
        tp = confusion[c][c]
        predicted_c = sum(confusion[t][c] for t in labels)
        actual_c = sum(confusion[c].values())
        prec, rec = _ratio(tp, predicted_c), _ratio(tp, actual_c)
        f1 = round(2 * prec * rec / (prec + rec), 4) if prec + rec else 0.0
        per[c] = {"precision": prec, "recall": rec, "f1": f1, "support": actual_c}
    correct = sum(confusion[c][c] for c in labels)
    present = [c for c in labels if per[c]["support"]]
    return {
        "n": len(truth),
        "accuracy": _ratio(correct, len(truth)),
        "macro_f1": round(sum(per[c]["f1"] for c in present) / len(present), 4) if present else 0,
        "per_category": per,
        "confusion": confusion,
    }


def binary_report(truth: Sequence[bool], predicted: Sequence[bool]) -> dict[str, Any]:
    """Precision and recall of a yes/no signal."""
    tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t and p)
    fp = sum(1 for t, p in zip(truth, predicted, strict=True) if p and not t)
    fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t and not p)
    return {
        "n": len(truth),
        "positives": tp + fn,
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
    }


def render_report(report: dict[str, Any], console: Console, title: str) -> None:
    """Print a category report as two rich tables (per category, confusion matrix)."""
    table = Table(
        title=f"{title}: accuracy {report['accuracy']:.3f}, macro F1 "
        f"{report['macro_f1']:.3f} (n={report['n']})"
    )
    for col in ("category", "precision", "recall", "F1", "support"):
        table.add_column(col, justify="right" if col != "category" else "left")
    for c, m in report["per_category"].items():
        table.add_row(
            c, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"])
        )
    console.print(table)
    labels = list(report["confusion"])
    matrix = Table(title="Confusion matrix (rows: true, columns: predicted)")
    matrix.add_column("true \\ predicted")
    for c in labels:
        matrix.add_column(c[:8], justify="right")
    for t in labels:
        matrix.add_row(t, *(str(report["confusion"][t][p] or ".") for p in labels))
    console.print(matrix)
