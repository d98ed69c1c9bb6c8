"""Text features of the learned classifier: word and character n-grams, TF-IDF weighted.

The same code builds the training matrix and the vector of one message at run time, so the
shipped model and its training can never disagree on what a feature is. Texts are folded
like the rules' terms (lower case, no accents, punctuation as spaces).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Mapping
from itertools import repeat

import numpy as np

from rules.model.cues import LEGAL, amount_cues, legal_cues
from rules.text import normalise

MAX_CHARS = 4000  # a message's first characters carry its request; quotes come later
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (3, 5)
BLOCKS = ("w", "c")  # word n-grams, character n-grams (each block has unit length)


def message_text(subject: str | None, body: str | None) -> tuple[str, str]:
    """The folded subject and body (body cut to MAX_CHARS) that features are taken from."""
    return normalise(subject or "")[:300], normalise((body or "")[:MAX_CHARS])


@functools.lru_cache(maxsize=65536)
def char_grams(word: str) -> tuple[str, ...]:
    """The 'c …' character n-grams of one word, padded with a space each side (cached)."""
    padded = f" {word} "
    lo, hi = CHAR_NGRAMS
    return tuple(
        "c " + padded[i : i + n]
        for n in range(lo, min(hi, len(padded)) + 1)
        for i in range(len(padded) - n + 1)
    )


def analyse(subject: str | None, body: str | None) -> Counter[str]:
    """Count every feature: 'w …' word n-grams, 'c …' char n-grams, legal and amount cues."""
    return analyse_words(subject, body)[0]


def analyse_words(subject: str | None, body: str | None) -> tuple[Counter[str], int]:
    """The features of a message (as `analyse`) and how many words it has."""
    subj, text = message_text(subject, body)
    words = (subj + " " + text).split()
    counts: Counter[str] = Counter("w " + w for w in words)
    lo, hi = WORD_NGRAMS
    for n in range(max(lo, 2), hi + 1):
        counts.update("w " + " ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    for word, n in Counter(words).items():
        for gram in char_grams(word):
            counts[gram] += n
    counts.update(legal_cues(subject, body, MAX_CHARS))
    counts.update(amount_cues(subject, body, MAX_CHARS, legal=counts[LEGAL] > 0))
    return counts, len(words)


def fit_vocabulary(docs: Iterable[Counter[str]], min_df: int = 2) -> tuple[list[str], np.ndarray]:
    """Features seen in at least `min_df` documents, sorted, with their smoothed idf."""
    df: Counter[str] = Counter()
    n = 0
    for doc in docs:
        n += 1
        df.update(doc.keys())
    names = sorted(f for f, c in df.items() if c >= min_df)
    idf = np.array([np.log((1 + n) / (1 + df[f])) + 1.0 for f in names], dtype=np.float32)
    return names, idf


def vectorise(
    counts: Counter[str],
    index: Mapping[str, int],
    idf: np.ndarray,
    word_features: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sparse TF-IDF of one document: (feature indices, values); each block has unit length.

    `word_features` (one bool per feature: a 'w …' feature) spares looking at the names.
    """
    names = list(counts)
    n = len(names)
    # Features in the message's order (sums below add in that order, as training did).
    found = np.fromiter(map(index.get, names, repeat(-1, n)), dtype=np.int64, count=n)
    keep = found >= 0
    if not keep.any():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    idx = found[keep]
    tf = np.fromiter(counts.values(), dtype=np.float32, count=n)[keep]
    if word_features is not None:
        words = word_features[idx]
    else:
        words = np.fromiter((name[0] == "w" for name in names), dtype=bool, count=n)[keep]
    val = (1.0 + np.log(tf)) * idf[idx]
    for mask in (words, ~words):
        norm = float(np.sqrt(np.sum(val[mask] ** 2)))
        if norm > 0:
            val[mask] /= norm
    return idx, val.astype(np.float32)
