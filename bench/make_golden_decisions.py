"""Write the golden file of decisions over the bundled corpus (tests/golden/decisions.jsonl.gz).

Each line: one message of rules/model/corpus/*.jsonl through `RuleSet.decide` (the default
pack with its shipped model) and the model's own prediction with unrounded probabilities.
tests/test_decide_golden.py compares the code's decisions to this file, so a speed-up that
changes any decision fails. Regenerate only when a decision is meant to change.

Run: python3 bench/make_golden_decisions.py
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers.golden import GOLDEN, golden_rows  # noqa: E402


def main() -> None:
    """Write every golden row, one JSON object a line."""
    rows = golden_rows()
    with gzip.open(GOLDEN, "wt", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"{len(rows)} decisions written to {GOLDEN.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
