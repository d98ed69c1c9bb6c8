"""Rules engine benchmark: median µs per decide() (default pack, 500-rule pack) and accuracy.

Run: python3 bench/bench_rules.py
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rules import RuleSet, load_ruleset  # noqa: E402

DATA = ROOT / "tests" / "data"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def requests() -> list[dict[str, Any]]:
    """The labelled requests as facts."""
    items = yaml.safe_load((DATA / "labelled_requests.yaml").read_text(encoding="utf-8"))
    return [
        {
            "request": {
                "subject": i["subject"],
                "body": i["body"],
                "language": i["language"],
                "channel": "email",
                "sender_email": "someone@example.fr",
                "received_at": NOW,
            },
            "contact": {"vip": n % 7 == 0, "name": "Client"},
            "case": {"reference": f"C-{n}", "follow_up_count": n % 4, "amount": n * 100.0},
            "label": i["category"],
        }
        for n, i in enumerate(items)
    ]


def median_us(ruleset: RuleSet, facts: list[dict[str, Any]], rounds: int = 5) -> float:
    """Median wall time of one decide() call, in microseconds."""
    samples = []
    for _ in range(rounds):
        for f in facts:
            start = time.perf_counter()
            ruleset.decide(f, now=NOW)
            samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


def accuracy(ruleset: RuleSet, path: Path) -> tuple[int, int]:
    """Correct and total on a labelled file."""
    items = yaml.safe_load(path.read_text(encoding="utf-8"))
    ok = 0
    for i in items:
        facts = {"request": {"subject": i["subject"], "body": i["body"], "language": i["language"]}}
        ok += ruleset.decide(facts, now=NOW).category == i["category"]
    return ok, len(items)


def generated_pack(directory: Path, total: int = 500) -> None:
    """Write a pack of `total` rules: categories, impact rules and automations."""
    rng = random.Random(7)
    vocab = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 9)))
        for _ in range(3000)
    ]
    n_cat, n_imp = total // 5, total * 2 // 5
    n_auto = total - n_cat - n_imp
    categories = [
        {
            "id": f"cat_{i}",
            "label": {"fr": f"catégorie {i}"},
            "signals": [
                {"weight": 3, "terms": rng.sample(vocab, 15)},
                {"weight": 1, "terms": [" ".join(rng.sample(vocab, 2)) for _ in range(5)]},
            ],
        }
        for i in range(n_cat)
    ] + [{"id": "other", "label": {"fr": "autre"}}]
    impacts = [
        {
            "id": f"imp_{i}",
            "points": rng.randint(1, 20),
            "reason": {"fr": f"raison {i}", "en": f"reason {i}"},
            "when": {
                "any": [
                    {"op": "contains_any", "value": rng.sample(vocab, 10)},
                    {"field": "case.amount", "op": "greater", "value": rng.randint(1000, 100000)},
                ]
            },
        }
        for i in range(n_imp)
    ]
    autos = [
        {
            "id": f"auto_{i}",
            "events": ["case.created"],
            "order": i,
            "when": {
                "all": [
                    {"field": "request.language", "op": "in", "value": ["fr", "en"]},
                    {"op": "contains_all", "value": rng.sample(vocab, 2)},
                ]
            },
            "actions": [{"type": "add_tag", "tag": f"t{i}"}],
        }
        for i in range(n_auto)
    ]
    sla = {
        "targets": {
            p: {"first_response": "4h", "resolution": "2d"} for p in ("P1", "P2", "P3", "P4")
        },
        "policies": [{"id": "all", "priority": "P3"}],
    }
    text = yaml.safe_dump(
        {"categories": categories, "impact": {"rules": impacts}, "automations": autos, "sla": sla},
        allow_unicode=True,
    )
    (directory / "generated.yaml").write_text(text, encoding="utf-8")


def main() -> None:
    """Print the figures."""
    facts = requests()
    started = time.perf_counter()
    default = load_ruleset()
    load_ms = (time.perf_counter() - started) * 1000
    print(f"default pack: {default.describe()} (loaded in {load_ms:.0f} ms)")
    print(f"default pack: median decide() = {median_us(default, facts):.0f} µs")
    with tempfile.TemporaryDirectory() as tmp:
        generated_pack(Path(tmp))
        started = time.perf_counter()
        big = load_ruleset(Path(tmp))
        load_ms = (time.perf_counter() - started) * 1000
        rules = sum(v for k, v in big.counts.items() if k not in ("files", "calendars"))
        print(f"generated pack: {rules} rules (loaded in {load_ms:.0f} ms)")
        print(f"generated pack: median decide() = {median_us(big, facts):.0f} µs")
    for name in ("labelled_requests.yaml", "rules/holdout_requests.yaml"):
        ok, total = accuracy(default, DATA / name)
        print(f"category accuracy on {name}: {ok}/{total} = {ok / total:.3f}")


if __name__ == "__main__":
    main()
