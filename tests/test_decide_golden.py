"""Speed work must not change a decision: every corpus message decides as the golden file says."""

from __future__ import annotations

import json
import math

from rules import load_ruleset
from rules.model.data import CORPUS_DIR, read_examples
from tests.helpers.golden import NOW, facts, golden_rows, read_golden

# The model computes in float32 (its weights ship as float32): numpy builds and CPUs may sum
# in another order (SIMD), which moves a probability by a few float32 ulps, ~1e-8. Decisions
# must match exactly; probabilities to 1e-6, far below anything a threshold could notice.
TOLERANCE = 1e-6


def test_every_corpus_decision_matches_the_golden_file_and_model_probabilities_to_1e_6() -> None:
    golden = {row["id"]: row for row in read_golden()}
    rows = golden_rows()
    assert len(rows) == len(golden) > 1000
    for row in rows:
        want = golden[row["id"]]
        # Decisions as JSON round-trips them (tuples become lists), field by field.
        for event in ("created", "follow_up"):
            assert json.loads(json.dumps(row[event])) == want[event], (row["id"], event)
        got, exp = row["model"], want["model"]
        assert (got["category"], got["words"], got["signals"]) == (
            exp["category"],
            exp["words"],
            exp["signals"],
        ), row["id"]
        assert math.isclose(got["probability"], exp["probability"], abs_tol=TOLERANCE), row["id"]
        assert got["raw"].keys() == exp["raw"].keys()
        for cat, p in got["raw"].items():
            assert math.isclose(p, exp["raw"][cat], abs_tol=TOLERANCE), (row["id"], cat)


def test_categorise_gives_the_category_decide_gives_a_new_request() -> None:
    ruleset = load_ruleset()
    examples = read_examples([CORPUS_DIR])
    assert len(examples) > 1000
    for e in examples:
        f = facts(e.subject, e.body, e.lang, {})
        want = ruleset.decide(f, event="request.received", now=NOW).category
        assert ruleset.categorise(f, now=NOW) == want, e.id
