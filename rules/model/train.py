"""Train the learned classifier (scikit-learn, training only) and measure it by k-fold.

Features come from rules.model.features (fitted per fold, so k-fold figures never see the
held-out fold's vocabulary); the category head is a multinomial logistic regression whose
probabilities are calibrated by one temperature fitted on the out-of-fold logits. Binary heads
(blocking, legal_risk) are trained where the examples carry those labels.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from rules.model.artifact import BINARY_HEADS, CATEGORY, Head, LinearModel, fingerprint
from rules.model.data import Example
from rules.model.evaluate import binary_report, category_report
from rules.model.features import analyse, fit_vocabulary, vectorise

DEFAULT_C = 20.0
DEFAULT_MIN_DF = 2
MIN_POSITIVES = 8


def _require_sklearn() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("training needs scikit-learn: pip install 'crmbot[train]'") from exc


def _matrix(docs: Sequence[Counter[str]], index: dict[str, int], idf: np.ndarray) -> Any:
    from scipy.sparse import csr_matrix

    indptr, cols, vals = [0], [], []
    for doc in docs:
        idx, val = vectorise(doc, index, idf)
        cols.append(idx)
        vals.append(val)
        indptr.append(indptr[-1] + len(idx))
    return csr_matrix(
        (
            np.concatenate(vals) if vals else np.zeros(0, np.float32),
            np.concatenate(cols) if cols else np.zeros(0, np.int64),
            np.asarray(indptr),
        ),
        shape=(len(docs), len(idf)),
        dtype=np.float32,
    )


def _fit(x: Any, y: Sequence[Any], c: float, balanced: bool = False) -> Any:
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=c, max_iter=3000, class_weight="balanced" if balanced else None)
    clf.fit(x, y)
    return clf


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, truth: np.ndarray) -> float:
    """The temperature that minimises the log loss of out-of-fold logits (grid search)."""
    best, best_t = np.inf, 1.0
    for t in np.exp(np.linspace(np.log(0.2), np.log(5.0), 61)):
        if logits.ndim == 1:
            p = 1 / (1 + np.exp(-logits / t))
            loss = -np.mean(np.log(np.where(truth, p, 1 - p) + 1e-12))
        else:
            p = _softmax(logits / t)
            loss = -np.mean(np.log(p[np.arange(len(truth)), truth] + 1e-12))
        if loss < best:
            best, best_t = loss, float(t)
    return round(best_t, 4)


def _folds(labels: Sequence[str], k: int, seed: int) -> list[np.ndarray]:
    """Stratified fold numbers: each category spread evenly over the k folds."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(labels), dtype=np.int64)
    for cat in sorted(set(labels)):
        members = np.array([i for i, c in enumerate(labels) if c == cat])
        rng.shuffle(members)
        fold[members] = np.arange(len(members)) % k
    return [np.flatnonzero(fold == f) for f in range(k)]


def _fit_all(
    docs: Sequence[Counter[str]], examples: Sequence[Example], c: float, min_df: int
) -> tuple[list[str], np.ndarray, Any, dict[str, Any]]:
    names, idf = fit_vocabulary(docs, min_df)
    index = {f: i for i, f in enumerate(names)}
    x = _matrix(docs, index, idf)
    cat = _fit(x, [e.category for e in examples], c)
    binary: dict[str, Any] = {}
    for head in BINARY_HEADS:
        rows = [i for i, e in enumerate(examples) if getattr(e, head) is not None]
        ys = [bool(getattr(examples[i], head)) for i in rows]
        if sum(ys) >= MIN_POSITIVES and len(ys) - sum(ys) >= MIN_POSITIVES:
            binary[head] = _fit(x[rows], ys, c, balanced=True)
    return names, idf, (cat, index, x), binary


def kfold(
    examples: Sequence[Example],
    k: int = 5,
    c: float = DEFAULT_C,
    min_df: int = DEFAULT_MIN_DF,
    seed: int = 7,
) -> dict[str, Any]:
    """Out-of-fold predictions and figures: category report, binary heads, logits, folds."""
    _require_sklearn()
    docs = [analyse(e.subject, e.body) for e in examples]
    labels = [e.category for e in examples]
    classes = sorted(set(labels))
    logits = np.zeros((len(examples), len(classes)))
    bin_logits = {h: np.full(len(examples), np.nan) for h in BINARY_HEADS}
    for test in _folds(labels, k, seed):
        train = np.setdiff1d(np.arange(len(examples)), test)
        _, idf, (cat, index, _), binary = _fit_all(
            [docs[i] for i in train], [examples[i] for i in train], c, min_df
        )
        xt = _matrix([docs[i] for i in test], index, idf)
        cols = [classes.index(c_) for c_ in cat.classes_]
        logits[np.ix_(np.asarray(test), np.asarray(cols))] = cat.decision_function(xt)
        for head, clf in binary.items():
            bin_logits[head][test] = clf.decision_function(xt)
    predicted = [classes[i] for i in np.argmax(logits, axis=1)]
    truth_idx = np.array([classes.index(y) for y in labels])
    out: dict[str, Any] = {
        "k": k,
        "category": category_report(labels, predicted, classes),
        "temperature": fit_temperature(logits, truth_idx),
        "predicted": predicted,
        "logits": logits,
        "classes": classes,
        "binary": {},
        "binary_temperature": {},
    }
    for head in BINARY_HEADS:
        rows = [i for i, e in enumerate(examples) if getattr(e, head) is not None]
        z = bin_logits[head][rows] if rows else np.zeros(0)
        if not rows or np.isnan(z).any():
            continue
        truth = np.array([bool(getattr(examples[i], head)) for i in rows])
        out["binary"][head] = binary_report(list(truth), list(z > 0))
        out["binary_temperature"][head] = fit_temperature(z, truth)
        out[f"{head}_logits"] = (rows, z)
    by_lang: dict[str, Any] = {}
    for lang in sorted({e.lang for e in examples if e.lang}):
        rows = [i for i, e in enumerate(examples) if e.lang == lang]
        by_lang[lang] = round(sum(predicted[i] == labels[i] for i in rows) / len(rows), 4)
    out["accuracy_by_language"] = by_lang
    return out


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The JSON-safe part of a k-fold report (figures only, no arrays)."""
    return {
        "k": report["k"],
        "category": report["category"],
        "accuracy_by_language": report["accuracy_by_language"],
        "temperature": report["temperature"],
        "binary": report["binary"],
    }


def train_model(
    examples: Sequence[Example],
    *,
    k: int = 5,
    c: float = DEFAULT_C,
    min_df: int = DEFAULT_MIN_DF,
    source: str = "",
) -> tuple[LinearModel, dict[str, Any]]:
    """Measure by k-fold, then fit on every example; return the model and the k-fold report."""
    _require_sklearn()
    counts = Counter(e.category for e in examples)
    if len(counts) < 2:
        raise ValueError("training needs at least two categories")
    if min(counts.values()) < k:
        raise ValueError(f"every category needs at least k={k} examples: {dict(counts)}")
    report = kfold(examples, k=k, c=c, min_df=min_df)
    docs = [analyse(e.subject, e.body) for e in examples]
    names, idf, (cat, _, _), binary = _fit_all(docs, examples, c, min_df)
    heads = {
        CATEGORY: Head(
            [str(x) for x in cat.classes_],
            cat.coef_.astype(np.float32),
            cat.intercept_.astype(np.float32),
            report["temperature"],
        )
    }
    for head, clf in binary.items():
        heads[head] = Head(
            ["no", "yes"],
            clf.coef_.astype(np.float32),
            clf.intercept_.astype(np.float32),
            report["binary_temperature"].get(head, 1.0),
        )
    created = datetime.now(UTC)
    meta = {
        "version": f"{created:%Y%m%d}-{fingerprint(names, heads)}",
        "created_at": created.isoformat(timespec="seconds"),
        "examples": len(examples),
        "categories": dict(sorted(counts.items())),
        "source": source,
        "params": {"C": c, "min_df": min_df, "k": k},
        "kfold": summary(report),
    }
    return LinearModel(names, idf, heads, meta), report
