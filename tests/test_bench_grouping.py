"""bench/bench_grouping.py on a small synthetic file written for it (never the frozen one)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "grouping_sample.jsonl"
DEV = ROOT / "bench" / "data" / "grouping-dev.jsonl"
sys.path.insert(0, str(ROOT / "bench"))

import bench_grouping as bench  # noqa: E402


def test_pairwise_scores_count_false_merges_and_ignore_related_pairs() -> None:
    items = [
        {"id": "a", "conversation": "C1"},
        {"id": "b", "conversation": "C1"},
        {"id": "c", "conversation": "C2", "also_relates_to": ["C1"]},
        {"id": "d", "conversation": "C3"},
    ]
    predicted = {"a": 1, "b": 2, "c": 1, "d": 2}
    scores = bench.pairwise(items, predicted)
    # a-b missed; a-c neutral (related); b-d a false merge; nothing found
    assert (scores.true_pairs, scores.missed_pairs, scores.false_merges) == (0, 1, 1)
    assert scores.precision == 0.0 and scores.recall == 0.0


def test_a_subject_placeholder_becomes_the_real_case_reference() -> None:
    (item,) = [i for i in bench.load(SAMPLE) if "{ref:" in i["subject"]]
    raw = bench.build_message(item, {"S1": "CB-7"})
    assert b"Subject: Re: [CB-7] Double" in raw
    assert b"Message-ID: <s9a@c.example>" in raw


def test_the_bench_beats_the_header_baseline_on_the_sample_without_false_merges(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert bench.main([str(SAMPLE), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    crmbot, baseline = figures["crmbot"], figures["baseline"]
    assert crmbot["false_merges"] == 0 and crmbot["precision"] == 1.0
    assert crmbot["recall"] > baseline["recall"]
    assert crmbot["recall"] == 1.0


def test_the_dev_scenarios_hold_one_persons_two_problems_in_the_bench_schema() -> None:
    items = bench.load(DEV)
    keys = {"id", "conversation", "message_id", "date", "from_email", "subject", "body"}
    assert all(keys <= item.keys() for item in items)
    assert len({i["id"] for i in items}) == len(items)
    convs_of: dict[str, set[str]] = {}
    for item in items:
        convs_of.setdefault(item["from_email"], set()).add(item["conversation"])
    two = [email for email, convs in convs_of.items() if len(convs) >= 2]
    assert len(two) >= 20  # people writing about two problems of one area
    assert {i["lang"] for i in items} == {"fr", "en"}


def test_false_merges_are_counted_by_how_the_later_message_joined() -> None:
    items = [
        {"id": "a", "conversation": "C1"},
        {"id": "b", "conversation": "C1"},
        {"id": "c", "conversation": "C2"},
        {"id": "d", "conversation": "C3", "also_relates_to": ["C1"]},
    ]
    predicted = {"a": "case:1", "b": "case:1", "c": "case:1", "d": "case:1"}
    joined_by = {"b": "similar_text", "c": "status_chase", "d": "similar_text"}
    # c with a and b: two false pairs; d with c: one (d with a, b: related, neutral)
    assert bench.false_merges_by_join(items, predicted, joined_by) == {
        "status_chase": 2,
        "similar_text": 1,
    }
