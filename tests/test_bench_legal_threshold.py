"""bench/bench_legal_threshold.py's sweep pack: the rules kept, the model-alone conditions off."""

from __future__ import annotations

import importlib.util
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import numpy as np

from rules import RuleSet, load_ruleset
from rules.model.artifact import Prediction

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_legal_threshold", ROOT / "bench" / "bench_legal_threshold.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def codes(
    ruleset: RuleSet, module: ModuleType, body: str, legal: float, blocking: float
) -> set[str]:
    """The reason codes of one message whose model outputs are the given probabilities."""
    subject = "Dossier"
    signals = {"legal_risk_probability": legal, "blocking_probability": blocking, "words": 20}
    pred = Prediction(
        "other", 0.9, {"other": 0.9}, signals, 20, Counter(), np.zeros(0, np.int64), np.zeros(0)
    )
    ruleset.model = module.OutOfFoldModel(["other"], {module._key(subject, body): pred})
    facts = {"request": {"subject": subject, "body": body, "language": "fr", "channel": "email"}}
    return {r.code for r in ruleset.decide(facts, now=NOW).reasons}


def test_the_sweep_pack_drops_only_the_model_alone_conditions(tmp_path: Path) -> None:
    module = bench()
    default = load_ruleset()
    sweep = load_ruleset(module.pack_without_model_alone(tmp_path))
    plain = "Bonjour, merci de me rappeler au sujet de mon dossier numéro 42 cette semaine."
    assert {"legal_risk", "blocking_incident"} <= codes(default, module, plain, 0.99, 0.99)
    assert not {"legal_risk", "blocking_incident"} & codes(sweep, module, plain, 0.99, 0.99)
    lawyer = "Bonjour, mon avocat vous écrira au sujet de ce dossier si rien ne bouge."
    assert "legal_risk" in codes(sweep, module, lawyer, 0.5, 0.0)
    assert "legal_risk" not in codes(sweep, module, lawyer, 0.05, 0.0)
    stopped = "Bonjour, personne ne peut travailler ce matin, tout est arrêté chez nous."
    assert "blocking_incident" in codes(sweep, module, stopped, 0.0, 0.0)
