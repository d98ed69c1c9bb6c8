"""The learned classifier: shipped model, combination with the rules, train/activate, explain."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bot.cli import app
from rules import DEFAULT_PACK, load_ruleset
from rules.decision import Decision
from rules.model import DEFAULT_MODEL, ModelError, default_model, load_model
from rules.model.store import active_path

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
DATA = Path(__file__).parent / "data"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
runner = CliRunner()


def _decide(pack_dir: Path | None, subject: str, body: str, lang: str = "fr") -> Decision:
    facts = {"request": {"subject": subject, "body": body, "language": lang, "channel": "email"}}
    return load_ruleset(pack_dir).decide(facts, now=NOW)


# --------------------------------------------------------------------- the shipped model


def test_shipped_model_loads_from_the_package_is_small_and_carries_its_figures() -> None:
    assert DEFAULT_MODEL.exists() and DEFAULT_MODEL.parent.name == "model"
    assert DEFAULT_MODEL.stat().st_size <= 5 * 1024 * 1024
    model = load_model(DEFAULT_MODEL)
    assert model.version and model.version != "unversioned"
    assert set(model.classes) == {
        "admin_update",
        "billing",
        "cancellation",
        "complaint",
        "other",
        "status_request",
        "technical_incident",
    }
    assert model.meta["kfold"]["category"]["accuracy"] > 0.5
    assert {"blocking", "legal_risk"} <= set(model.heads)


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        (
            "Coupure d'électricité",
            "Plus de courant dans tout l'immeuble depuis ce matin, le compteur ne répond plus.",
            "technical_incident",
        ),
        (
            "Résiliation",
            "Je vous informe que je souhaite résilier mon contrat à la fin du mois.",
            "cancellation",
        ),
        (
            "New bank details",
            "Please use my new IBAN for the monthly direct debit from next month on.",
            "admin_update",
        ),
        (
            "Invoice question",
            "Why is my November invoice twice the usual amount? I was charged 240 euros.",
            "billing",
        ),
        (
            "Any news?",
            "I wrote three weeks ago about my claim and I'm still waiting for an answer. "
            "Where are we with it?",
            "status_request",
        ),
        (
            "Très déçue",
            "Votre conseiller m'a raccroché au nez, c'est inadmissible, je porte réclamation.",
            "complaint",
        ),
    ],
)
def test_shipped_model_classifies_french_and_english_messages(
    subject: str, body: str, expected: str
) -> None:
    assert default_model().predict(subject, body).category == expected


def test_a_model_file_with_pickled_objects_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "evil.npz"
    np.savez(bad, meta=np.array([{"format": "crmbot-model/1"}], dtype=object))
    with pytest.raises(ModelError):
        load_model(bad)
    not_a_model = tmp_path / "other.npz"
    np.savez(not_a_model, meta=np.frombuffer(b'{"format": "x"}', dtype=np.uint8))
    with pytest.raises(ModelError, match="not a crmbot-model"):
        load_model(not_a_model)


# ------------------------------------------------------------------ rules + model together

LEGAL_DEPOSIT = (
    "Mise en demeure",
    "Madame, Monsieur, malgré mes relances, vous n'avez pas remboursé le dépôt de garantie "
    "de 800 euros. Sans règlement sous 8 jours, je saisirai le tribunal.",
)


def _pack_copy(tmp_path: Path, extra: dict | None = None, settings: dict | None = None) -> Path:
    pack = tmp_path / "pack"
    shutil.copytree(DEFAULT_PACK, pack)
    if extra is not None:
        (pack / "zz_extra.yaml").write_text(yaml.safe_dump(extra), encoding="utf-8")
    if settings is not None:
        data = yaml.safe_load((pack / "settings.yaml").read_text(encoding="utf-8"))
        data["settings"]["categories"].update(settings)
        (pack / "settings.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return pack


def test_the_model_decides_when_the_rules_are_not_sure() -> None:
    d = _decide(None, *LEGAL_DEPOSIT)
    rules_side = d.judgement["rules"]
    assert rules_side["category"] != "billing" and rules_side["score"] < 12
    assert d.category == "billing" and d.category_source == "model"
    assert d.model_version == default_model().version


def test_an_explicit_rule_wins_over_the_model(tmp_path: Path) -> None:
    extra = {
        "version": 1,
        "categories": [
            {
                "id": "legal",
                "label": {"fr": "juridique", "en": "legal"},
                "signals": [{"weight": 1, "explicit": True, "terms": ["mise en demeure"]}],
            }
        ],
    }
    d = _decide(_pack_copy(tmp_path, extra), *LEGAL_DEPOSIT)
    assert d.category == "legal" and d.category_source == "explicit_rule"
    assert d.judgement["model"]["category"] == "billing"  # overruled, and shown


def test_very_sure_rules_win_and_model_off_gives_the_rules_alone(tmp_path: Path) -> None:
    sure = _decide(
        _pack_copy(tmp_path, settings={"rules_win_score": 3, "rules_win_confidence": 0.4}),
        *LEGAL_DEPOSIT,
    )
    assert sure.category_source == "rules" and sure.category == sure.judgement["rules"]["category"]
    off = _decide(_pack_copy(tmp_path / "b", settings={"model": False}), *LEGAL_DEPOSIT)
    assert off.category_source == "rules" and off.model_version is None
    assert "model" not in off.judgement


def test_model_probabilities_are_facts_for_the_impact_rules(tmp_path: Path) -> None:
    extra = {
        "version": 1,
        "impact": {
            "rules": [
                {
                    "id": "model_says_legal",
                    "points": 1,
                    "reason": {"fr": "modèle: juridique", "en": "model: legal"},
                    "when": {"field": "model.legal_risk_probability", "op": "greater", "value": 0},
                }
            ]
        },
    }
    d = _decide(_pack_copy(tmp_path, extra), *LEGAL_DEPOSIT)
    assert "model_says_legal" in [r.rule_id for r in d.reasons]


# --------------------------------------------------------------------- train and activate

TEMPLATES = {
    "billing": ["Ma facture {n} est fausse", "Invoice {n} shows the wrong amount"],
    "cancellation": ["Je veux résilier le contrat {n}", "Please cancel subscription {n}"],
    "technical_incident": ["Le site plante erreur {n}", "The app crashes with error {n}"],
}


def _small_export(path: Path, per_category: int = 6) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["subject", "body", "category"])
        writer.writeheader()
        for cat, (fr, en) in TEMPLATES.items():
            for n in range(per_category):
                text = (fr if n % 2 else en).format(n=n)
                writer.writerow({"subject": text[:20], "body": text, "category": cat})
    return path


def test_model_train_on_a_small_csv_prints_kfold_figures_and_json(tmp_path: Path) -> None:
    export = _small_export(tmp_path / "export.csv")
    out = tmp_path / "m.npz"
    result = runner.invoke(
        app, ["model", "train", str(export), "--out", str(out), "--k", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    kfold = figures["kfold"]
    assert kfold["k"] == 3 and 0 <= kfold["category"]["accuracy"] <= 1
    assert set(kfold["category"]["per_category"]) == set(TEMPLATES)
    assert {"precision", "recall"} <= set(kfold["category"]["per_category"]["billing"])
    assert sum(sum(row.values()) for row in kfold["category"]["confusion"].values()) == 15
    assert figures["held_out"] == 3 and (tmp_path / "m.holdout.jsonl").exists()
    assert load_model(out).version == figures["version"]
    tables = runner.invoke(app, ["model", "train", str(export), "--out", str(out), "--k", "3"])
    assert tables.exit_code == 0 and "Confusion matrix" in tables.output
    assert "precision" in tables.output


def test_model_activate_refuses_a_model_that_does_not_beat_the_current_one(
    tmp_path: Path,
) -> None:
    pack = _pack_copy(tmp_path)
    small = tmp_path / "small.npz"
    runner.invoke(
        app, ["model", "train", str(_small_export(tmp_path / "e.csv")), "--out", str(small)]
    )
    holdout = DATA / "rules" / "holdout_requests.yaml"
    refused = runner.invoke(
        app, ["model", "activate", str(small), "--rules", str(pack), "--holdout", str(holdout)]
    )
    assert refused.exit_code == 1 and "refused" in refused.output
    assert not active_path(pack).exists()
    # The other way round: with the small model active, the shipped one beats it.
    active_path(pack).parent.mkdir()
    shutil.copyfile(small, active_path(pack))
    assert load_ruleset(pack).model.version == load_model(small).version
    accepted = runner.invoke(
        app,
        ["model", "activate", str(DEFAULT_MODEL), "--rules", str(pack), "--holdout", str(holdout)],
    )
    assert accepted.exit_code == 0, accepted.output
    assert load_ruleset(pack).model.version == default_model().version
    assert (active_path(pack).parent / "history.jsonl").exists()


# ------------------------------------------------------------------ explain and the audit


def test_rules_explain_shows_the_rule_terms_and_the_model_ngrams(tmp_path: Path) -> None:
    request = tmp_path / "req.json"
    subject, body = LEGAL_DEPOSIT
    request.write_text(json.dumps({"subject": subject, "body": body, "language": "fr"}))
    result = runner.invoke(app, ["rules", "explain", str(request), "--now", NOW.isoformat()])
    assert result.exit_code == 0, result.output
    assert "decided by model" in result.output
    assert "relance" in result.output  # a rule term (status_request side)
    assert "euros (+" in result.output  # a model n-gram with its weight
    as_json = runner.invoke(
        app, ["rules", "explain", str(request), "--json", "--now", NOW.isoformat()]
    )
    data = json.loads(as_json.output)
    assert data["judgement"]["rules"]["terms"] and data["judgement"]["model"]["terms"]


def test_the_audit_trail_carries_the_model_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRMBOT_SETTINGS_FILE", raising=False)
    monkeypatch.setenv("CRMBOT_SECRETS_DIR", str(tmp_path / "no-secrets"))
    maildir = tmp_path / "maildir"
    shutil.copytree(EXAMPLES / "maildir", maildir)
    settings = tmp_path / "crmbot.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "store": {"url": f"sqlite:///{tmp_path}/crmbot.db"},
                "log": {"format": "json", "level": "warning"},
                "sources": {"acme": {"type": "maildir", "path": str(maildir)}},
            }
        )
    )
    assert runner.invoke(app, ["run", "--once", "--settings", str(settings)]).exit_code == 0
    shown = runner.invoke(app, ["show", "CB-1", "--json", "--settings", str(settings)])
    decided = [e for e in json.loads(shown.output)["audit"] if e["event"] == "case_decided"]
    assert decided
    for entry in decided:
        assert entry["detail"]["model_version"] == default_model().version
        assert entry["detail"]["category_source"] in ("model", "rules", "explicit_rule", "case")


# ------------------------------------------------------------ history from the CRM fakes


def test_read_closed_takes_labelled_closed_tickets_from_zendesk() -> None:
    from connectors.kit.clock import FakeClock
    from connectors.zendesk.settings import ZendeskSettings
    from connectors.zendesk.source import ZendeskSource
    from rules.model.history import LabelSpec, read_closed
    from tests.fakes.zendesk import EMAIL, TOKEN, FakeZendesk

    clock = FakeClock()
    with FakeZendesk(clock=clock) as fake:
        user = fake.add_user("Carla Client", "carla@example.com")
        tickets = [
            ("Facture fausse", "Le montant est faux.", "solved", ["cat_billing", "vip"]),
            ("Résiliation", "Je résilie mon contrat.", "closed", ["cat_cancellation"]),
            ("Still open", "Not closed yet.", "open", ["cat_billing"]),
            ("No label", "Closed without category.", "closed", ["misc"]),
        ]
        for subject, body, status, tags in tickets:
            clock.advance(1)
            fake.add_ticket(subject, body, requester_id=user["id"], status=status, tags=tags)
        clock.advance(120)
        settings = ZendeskSettings(type="zendesk", base_url=fake.url, email=EMAIL, api_token=TOKEN)
        source = ZendeskSource("zendesk", settings, clock=clock)
        examples = read_closed(source, LabelSpec.parse("tags:cat_"))
    assert [(e.subject, e.category) for e in examples] == [
        ("Facture fausse", "billing"),
        ("Résiliation", "cancellation"),
    ]


def test_label_spec_maps_rt_queues_and_custom_fields() -> None:
    from rules.model.history import LabelSpec

    queue = LabelSpec.parse("queue;Facturation=billing,Support=technical_incident")
    assert queue.label({"queue": "Facturation"}) == "billing"
    assert queue.label({"queue": "General"}) is None  # not mapped: not a training label
    custom = LabelSpec.parse("custom_fields.category")
    assert custom.label({"custom_fields": {"category": "complaint"}}) == "complaint"
    assert LabelSpec.parse("tags:cat_").label({"tags": ["cat_a", "cat_b"]}) is None


# ------------------------------------------------------------- impact and hot reload


def test_a_blocking_outage_without_the_listed_terms_is_flagged_blocking_by_the_model() -> None:
    subject, body = (
        "Terminal de paiement",
        "Le terminal refuse toutes les cartes depuis ce matin, les clients repartent sans "
        "payer et la file s'allonge.",
    )
    ruleset = load_ruleset()
    ruleset.model = None
    facts = {"request": {"subject": subject, "body": body, "language": "fr", "channel": "email"}}
    assert "blocking_incident" not in [r.rule_id for r in ruleset.decide(facts, now=NOW).reasons]
    d = _decide(None, subject, body)
    assert "blocking_incident" in [r.rule_id for r in d.reasons] and "blocking" in d.tags
    assert "legal_risk" not in d.tags


def test_an_activated_model_is_picked_up_by_the_rules_watcher(tmp_path: Path) -> None:
    from rules.reload import RulesWatcher

    pack = _pack_copy(tmp_path)
    watcher = RulesWatcher(pack)
    assert watcher.current().model.version == default_model().version
    small = tmp_path / "small.npz"
    result = runner.invoke(
        app, ["model", "train", str(_small_export(tmp_path / "e.csv")), "--out", str(small)]
    )
    assert result.exit_code == 0, result.output
    active_path(pack).parent.mkdir()
    shutil.copyfile(small, active_path(pack))
    assert watcher.current().model.version == load_model(small).version


# ---------------------------------------------------------------------- properties


@given(st.text(max_size=200), st.text(max_size=400))
@settings(max_examples=60, deadline=None)
def test_a_message_vector_has_unit_blocks_and_ignores_case_and_accents(
    subject: str, body: str
) -> None:
    model = default_model()
    pred = model.predict(subject, body)
    assert abs(sum(pred.probabilities.values()) - 1) < 1e-3
    words = np.array([model.features[j].startswith("w ") for j in pred.idx], dtype=bool)
    for mask in (words, ~words):
        if mask.any():
            assert abs(float(np.sum(pred.val[mask] ** 2)) - 1) < 1e-3
    folded = model.predict(subject.upper(), body.upper())
    if subject.upper().lower() == subject.lower() and body.upper().lower() == body.lower():
        assert folded.category == pred.category


@given(
    st.lists(
        st.tuples(st.text(max_size=30), st.sampled_from(["billing", "other", "complaint"])),
        max_size=40,
    ),
    st.floats(min_value=0, max_value=0.5),
)
@settings(max_examples=60, deadline=None)
def test_the_holdout_split_is_deterministic_disjoint_and_complete(
    rows: list[tuple[str, str]], fraction: float
) -> None:
    from rules.model.data import Example, split_holdout

    examples = [Example(subject=s, body=f"body {i}", category=c) for i, (s, c) in enumerate(rows)]
    train, held = split_holdout(examples, fraction)
    assert split_holdout(examples, fraction) == (train, held)
    assert sorted(map(id, train + held)) == sorted(map(id, examples))
    for cat in {e.category for e in examples}:
        n = sum(e.category == cat for e in examples)
        assert sum(e.category == cat for e in held) == round(n * fraction)


@given(st.text(alphabet="abc_:;=,. ", max_size=40), st.lists(st.text(max_size=8), max_size=5))
def test_a_label_spec_never_raises_and_gives_at_most_one_category(
    spec: str, tags: list[str]
) -> None:
    from rules.model.history import LabelSpec

    parsed = LabelSpec.parse(spec)
    label = parsed.label({"tags": tags, "queue": "a", "category": "b", "custom_fields": {}})
    assert label is None or isinstance(label, str)


def test_read_closed_takes_closed_hubspot_tickets_with_their_category() -> None:
    from connectors.hubspot.source import HubSpotSource
    from connectors.kit import FakeClock
    from rules.model.history import LabelSpec, read_closed
    from tests.fakes.hubspot import FakeHubSpot, settings_for

    clock = FakeClock()
    with FakeHubSpot(clock=clock) as fake:
        closed = fake.create_ticket(
            "Double prélèvement",
            "Vous m'avez prélevé deux fois.",
            hs_pipeline_stage="4",
            hs_ticket_category="BILLING_ISSUE",
        )
        fake.create_ticket(
            "Open one", "Not closed.", hs_pipeline_stage="1", hs_ticket_category="BILLING_ISSUE"
        )
        fake.create_ticket("No category", "Closed, no category.", hs_pipeline_stage="4")
        clock.advance(10)
        source = HubSpotSource("hubspot", settings_for(fake), clock=clock)
        spec = LabelSpec.parse("category;BILLING_ISSUE=billing", closed="4")
        examples = read_closed(source, spec)
    assert [(e.id, e.subject, e.category) for e in examples] == [
        (f"hubspot:ticket:{closed}", "Double prélèvement", "billing")
    ]


def test_model_train_from_a_configured_zendesk_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from connectors.kit.clock import FakeClock
    from tests.fakes.zendesk import EMAIL, TOKEN, FakeZendesk

    monkeypatch.delenv("CRMBOT_SETTINGS_FILE", raising=False)
    monkeypatch.setenv("CRMBOT_SECRETS_DIR", str(tmp_path / "no-secrets"))
    clock = FakeClock(start=time.time() - 3600)  # the tickets were closed an hour ago
    with FakeZendesk(clock=clock) as fake:
        user = fake.add_user("Carla Client", "carla@example.com")
        for cat, (fr, en) in TEMPLATES.items():
            for n in range(6):
                text = (fr if n % 2 else en).format(n=n)
                clock.advance(1)
                fake.add_ticket(
                    text[:20], text, requester_id=user["id"], status="solved", tags=[f"cat_{cat}"]
                )
        clock.advance(120)  # past the export's last minute
        settings = tmp_path / "crmbot.yaml"
        settings.write_text(
            yaml.safe_dump(
                {
                    "store": {"url": f"sqlite:///{tmp_path}/crmbot.db"},
                    "sources": {
                        "desk": {
                            "type": "zendesk",
                            "base_url": fake.url,
                            "email": EMAIL,
                            "api_token": TOKEN,
                        }
                    },
                }
            )
        )
        out = tmp_path / "m.npz"
        result = runner.invoke(
            app,
            [
                "model", "train", "--from-source", "desk", "--label", "tags:cat_",
                "-s", str(settings), "--out", str(out), "--k", "3", "--holdout", "0", "--json",
            ],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)  # the source's log lines go to stderr
    assert figures["examples"] == 18
    assert set(figures["kfold"]["category"]["per_category"]) == set(TEMPLATES)
    assert "closed tickets of desk" in load_model(out).meta["source"]
