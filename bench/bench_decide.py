"""Median µs of RuleSet.decide, the rules alone, and the model's predict over the bundled corpus.

Every message of rules/model/corpus/*.jsonl (the training corpus, never the blind eval data)
is decided as a new case; each figure is the median over all messages of the best of
`--repeat` passes (the model's one-message cache is cleared before each predict).

Run: python3 bench/bench_decide.py [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rules import load_ruleset  # noqa: E402
from rules.model.data import CORPUS_DIR, read_examples  # noqa: E402
from tests.helpers.golden import NOW, facts  # noqa: E402


def best_us(calls: list[Callable[[], object]], repeat: int) -> float:
    """The median over calls of each call's fastest time in µs."""
    best = [float("inf")] * len(calls)
    for _ in range(repeat):
        for i, call in enumerate(calls):
            start = time.perf_counter()
            call()
            best[i] = min(best[i], (time.perf_counter() - start) * 1e6)
    return statistics.median(best)


def main() -> None:
    """Print the medians (and a profile of decide with --profile)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    combined = load_ruleset()
    rules_only = load_ruleset()
    rules_only.model = None
    model = combined.model
    assert model is not None
    examples = read_examples([CORPUS_DIR])
    new = {"status": "new", "follow_up_count": 0, "created_at": NOW}
    all_facts = [facts(e.subject, e.body, e.lang, dict(new)) for e in examples]

    def predict(subject: str, body: str) -> object:
        model._last = None
        return model.predict(subject, body)

    figures = {
        "decide_us": best_us(
            [lambda f=f: combined.decide(f, now=NOW) for f in all_facts], args.repeat
        ),
        "rules_only_us": best_us(
            [lambda f=f: rules_only.decide(f, now=NOW) for f in all_facts], args.repeat
        ),
        "predict_us": best_us(
            [lambda e=e: predict(e.subject, e.body) for e in examples], args.repeat
        ),
    }
    print(f"{len(examples)} messages: " + ", ".join(f"{k} {v:.0f}" for k, v in figures.items()))
    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(lambda: [combined.decide(f, now=NOW) for f in all_facts])
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
