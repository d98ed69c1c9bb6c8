"""bench/bench_judgement.py on a small synthetic corpus written here (never the eval file)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SYNTHETIC = [
    {
        "id": "S-1",
        "lang": "fr",
        "subject": "Mise en demeure",
        "format": "text",
        "body": "Je vous mets en demeure de me rembourser les 300 euros prélevés à tort, "
        "sans quoi mon avocat saisira le tribunal.",
        "category": "billing",
        "legal_risk": True,
        "blocking": False,
    },
    {
        "id": "S-2",
        "lang": "en",
        "subject": "Portal down",
        "format": "html",
        "body": "<p>Nobody in the office can log in to the portal since 8am, "
        "<b>we are completely blocked</b> and cannot work.</p>",
        "category": "technical_incident",
        "legal_risk": False,
        "blocking": True,
    },
    {
        "id": "S-3",
        "lang": "fr",
        "subject": "Résiliation",
        "format": "text",
        "body": "Bonjour, je souhaite résilier mon abonnement à la fin du mois. Merci.",
        "category": "cancellation",
        "legal_risk": False,
        "blocking": False,
    },
    {
        "id": "S-4",
        "lang": "en",
        "subject": "New address",
        "format": "text",
        "body": "Hello, we have moved: please update our address to 4 Elm Street, Leeds.",
        "category": "admin_update",
        "legal_risk": False,
        "blocking": False,
    },
]


def test_bench_prints_every_figure_for_rules_model_and_both(tmp_path: Path) -> None:
    corpus = tmp_path / "synthetic.jsonl"
    corpus.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in SYNTHETIC) + "\n")
    bench = ROOT / "bench" / "bench_judgement.py"
    out = subprocess.run(
        [sys.executable, str(bench), str(corpus), "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    report = json.loads(out.stdout)
    assert report["n"] == 4
    assert set(report["category"]) == {"rules", "model", "combined"}
    for rep in report["category"].values():
        assert set(rep["accuracy_by_language"]) == {"fr", "en"}
        assert {"precision", "recall"} <= set(rep["per_category"]["billing"])
    assert report["legal_risk"]["combined"]["positives"] == 1
    assert report["blocking"]["combined"]["positives"] == 1
    assert report["legal_risk"]["combined"]["recall"] == 1.0  # "mise en demeure", "avocat"
    assert report["decide_us"]["combined_median"] > 0
    assert report["model"]["file_bytes"] <= 5 * 1024 * 1024
    assert report["model"]["kfold"]["category"]["accuracy"] > 0
    text = subprocess.run(
        [sys.executable, str(bench), str(corpus)], capture_output=True, text=True, check=True
    )
    assert "Category accuracy on 4 messages" in text.stdout and "decide():" in text.stdout
