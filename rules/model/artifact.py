"""The trained model as a file we control: a compressed .npz of plain arrays plus JSON metadata.

No pickle is ever read (`allow_pickle=False`): a model file holds the feature names, their
idf, one linear head per task (weights, intercepts, calibration temperature) and metadata
(version, training figures). Inference needs numpy only.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import FatalError
from rules.model.features import analyse_words, char_grams, vectorise

FORMAT = "crmbot-model/1"
CATEGORY = "category"
BINARY_HEADS = ("blocking", "legal_risk")


class ModelError(FatalError):
    """A model file is missing, unreadable or not a crmbot model."""


@dataclass(slots=True)
class Head:
    """One linear head: classes, weights (classes × features), intercepts, temperature."""

    classes: list[str]
    coef: np.ndarray
    intercept: np.ndarray
    temperature: float = 1.0

    def probabilities(self, idx: np.ndarray, val: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities (softmax, or sigmoid for a one-row binary head)."""
        logits = (self.coef[:, idx] @ val + self.intercept) / self.temperature
        if self.coef.shape[0] == 1:
            p = 1.0 / (1.0 + np.exp(-logits[0]))
            return np.array([1.0 - p, p])
        logits = logits - logits.max()
        e = np.exp(logits)
        return e / e.sum()


@dataclass(slots=True)
class Prediction:
    """What the model says about one message."""

    category: str
    probability: float
    probabilities: dict[str, float]
    signals: dict[str, float]
    words: int
    counts: Counter[str] = field(repr=False)
    idx: np.ndarray = field(repr=False)
    val: np.ndarray = field(repr=False)


def describe_feature(name: str) -> str:
    """A readable form of a feature name: words as they are, character n-grams marked."""
    kind, text = name[0], name[2:]
    if kind == "c":
        return "~" + text.strip().replace(" ", "_") + "~"
    return text


class LinearModel:
    """A loaded model: features, idf and heads; `predict` and `top_terms` for one message."""

    def __init__(
        self,
        features: list[str],
        idf: np.ndarray,
        heads: dict[str, Head],
        meta: dict[str, Any],
    ) -> None:
        self.features = features
        self.index = {f: i for i, f in enumerate(features)}
        self.idf = idf.astype(np.float32)
        self.word_features = np.fromiter(
            (f[0] == "w" for f in features), dtype=bool, count=len(features)
        )
        self.heads = heads
        self.meta = meta
        # A word's character n-grams that are features (only those can weigh), per word.
        self._known_grams = functools.lru_cache(maxsize=65536)(self._grams_in_index)
        self.version = str(meta.get("version", "unversioned"))
        # One decision asks twice about the same message (the impact rules' `model.*` facts,
        # then the category): the last prediction is kept, keyed by the exact texts.
        self._last: tuple[tuple[str | None, str | None], Prediction] | None = None

    @property
    def classes(self) -> list[str]:
        """The category head's classes."""
        return self.heads[CATEGORY].classes

    def predict(self, subject: str | None, body: str | None) -> Prediction:
        """Category with calibrated probabilities, and the binary signals the model has."""
        last = self._last
        if last is not None and last[0] == (subject, body):
            return last[1]
        pred = self._predict(subject, body)
        self._last = ((subject, body), pred)
        return pred

    def _predict(self, subject: str | None, body: str | None) -> Prediction:
        # The words: every single-word 'w …' count (folded words never start with '~').
        counts, words = analyse_words(subject, body)
        idx, val = vectorise(counts, self.index, self.idf, self.word_features)
        head = self.heads[CATEGORY]
        probs = head.probabilities(idx, val)
        best = int(np.argmax(probs))
        signals: dict[str, float] = {
            f"{name}_probability": round(float(self.heads[name].probabilities(idx, val)[1]), 4)
            for name in BINARY_HEADS
            if name in self.heads
        }
        signals["words"] = words  # rules may trust the signals less on a few words
        return Prediction(
            head.classes[best],
            float(probs[best]),
            {c: round(float(p), 4) for c, p in zip(head.classes, probs, strict=True)},
            signals,
            words,
            counts,
            idx,
            val,
        )

    def top_terms(self, pred: Prediction, category: str | None = None, k: int = 8) -> list[str]:
        """The words and word pairs of this message that weighed most for `category`.

        A word's weight is its own feature's plus its share of the character n-grams it
        contains (each n-gram's weight split over its occurrences in the message).
        """
        head = self.heads[CATEGORY]
        row = head.classes.index(category or pred.category)
        features = self.features
        # Each feature of the message that the model knows, by name, with its weight here.
        contrib = dict(
            zip(
                [features[j] for j in pred.idx.tolist()],
                (head.coef[row, pred.idx] * pred.val).tolist(),
                strict=True,
            )
        )
        counts = pred.counts
        score: dict[str, float] = {}
        for name, n in counts.items():
            if not name.startswith("w "):
                continue
            word = name[2:]
            total = contrib.get(name, 0.0)
            if " " not in word:
                for gram in self._known_grams(word):
                    c = contrib.get(gram)
                    if c:
                        total += c * n / counts[gram]
            if total > 0:
                score[word] = total
        top = sorted((item for item in score.items() if item[1] > 0), key=lambda kv: -kv[1])
        return [f"{term} ({weight:+.2f})" for term, weight in top[:k]]

    def _grams_in_index(self, word: str) -> tuple[str, ...]:
        index = self.index
        return tuple(gram for gram in char_grams(word) if gram in index)

    def size_bytes(self) -> int:
        """Bytes the arrays take in memory."""
        return int(self.idf.nbytes + sum(h.coef.nbytes for h in self.heads.values()))


def fingerprint(features: list[str], heads: dict[str, Head]) -> str:
    """A short hash of the model's content: the same training gives the same version."""
    h = hashlib.sha256("\n".join(features).encode())
    for name in sorted(heads):
        h.update(name.encode())
        h.update(np.ascontiguousarray(heads[name].coef, dtype=np.float32).tobytes())
    return h.hexdigest()[:10]


def save_model(path: Path, model: LinearModel) -> None:
    """Write a model file (compressed .npz of plain arrays, metadata as JSON)."""
    arrays: dict[str, np.ndarray] = {
        "features": np.frombuffer("\n".join(model.features).encode("utf-8"), dtype=np.uint8),
        "idf": model.idf.astype(np.float32),
    }
    heads_meta = {}
    for name, head in model.heads.items():
        arrays[f"{name}.coef"] = head.coef.astype(np.float32)
        arrays[f"{name}.intercept"] = head.intercept.astype(np.float32)
        heads_meta[name] = {"classes": head.classes, "temperature": head.temperature}
    meta = dict(model.meta, format=FORMAT, heads=heads_meta)
    arrays["meta"] = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]  # numpy 2 stubs: allow_pickle
    tmp.replace(path)


def load_model(path: Path) -> LinearModel:
    """Read a model file; never unpickles anything. Raises ModelError if it is not one."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            if meta.get("format") != FORMAT:
                raise ModelError(f"{path}: not a {FORMAT} file")
            features = bytes(data["features"]).decode("utf-8").split("\n")
            heads = {
                name: Head(
                    list(spec["classes"]),
                    data[f"{name}.coef"].astype(np.float32),
                    data[f"{name}.intercept"].astype(np.float32),
                    float(spec.get("temperature", 1.0)),
                )
                for name, spec in meta["heads"].items()
            }
            idf = data["idf"]
    except ModelError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read the model ({exc})") from exc
    if CATEGORY not in heads or len(idf) != len(features):
        raise ModelError(f"{path}: incomplete model (no category head, or sizes differ)")
    return LinearModel(features, idf, heads, meta)
