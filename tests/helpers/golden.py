"""Decisions over the bundled corpus, as compared with tests/golden/decisions.jsonl.gz."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rules import load_ruleset
from rules.model.data import CORPUS_DIR, read_examples

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "decisions.jsonl.gz"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)


def facts(subject: str, body: str, lang: str | None, case: dict[str, Any]) -> dict[str, Any]:
    """The facts the worker builds for one message (no contact)."""
    return {
        "request": {
            "subject": subject,
            "body": body,
            "language": lang or "fr",
            "channel": "email",
            "sender_email": "someone@example.org",
            "received_at": NOW,
        },
        "contact": {},
        "company": {},
        "case": case,
    }


def golden_rows() -> list[dict[str, Any]]:
    """Every corpus message decided at creation and on a later follow-up, with the model's view."""
    ruleset = load_ruleset()
    model = ruleset.model
    assert model is not None, "the default pack should load the shipped model"
    rows = []
    for e in read_examples([CORPUS_DIR]):
        new = facts(
            e.subject, e.body, e.lang, {"status": "new", "follow_up_count": 0, "created_at": NOW}
        )
        first = ruleset.decide(new, now=NOW).to_dict()
        kept = {
            "status": "open",
            "follow_up_count": 1,
            "created_at": NOW,
            "category": first["category"],
        }
        later = ruleset.decide(
            facts(e.subject, e.body, e.lang, kept), event="case.follow_up", now=LATER
        )
        pred = model.predict(e.subject, e.body)
        head = model.heads["category"]
        probs = head.probabilities(pred.idx, pred.val)
        rows.append(
            {
                "id": e.id,
                "created": first,
                "follow_up": later.to_dict(),
                "model": {
                    "category": pred.category,
                    "probability": pred.probability,
                    "raw": {c: float(p) for c, p in zip(head.classes, probs, strict=True)},
                    "signals": pred.signals,
                    "words": pred.words,
                },
            }
        )
    return rows


def read_golden() -> list[dict[str, Any]]:
    """The committed golden rows."""
    with gzip.open(GOLDEN, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]
