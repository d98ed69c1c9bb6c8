"""Deciding with the default pack: category, impact, SLA, automations, cascades and notes."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules import Decision, RuleSet, load_ruleset

MONDAY_10_PARIS = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def pack() -> RuleSet:
    return load_ruleset()


def facts(subject: str, body: str = "", **parts: dict[str, Any]) -> dict[str, Any]:
    request = {
        "subject": subject,
        "body": body,
        "language": "fr",
        "channel": "email",
        "sender_email": "client@example.fr",
        "received_at": MONDAY_10_PARIS,
    }
    request.update(parts.pop("request", {}))
    case = {"reference": "CASE-1", "status": "open", "follow_up_count": 0}
    case.update(parts.pop("case", {}))
    return {"request": request, "case": case, **parts}


def decide(pack: RuleSet, f: dict[str, Any], event: str = "case.created", now=None) -> Decision:
    return pack.decide(f, event=event, now=now or MONDAY_10_PARIS)


def test_billing_request_gets_category_confidence_and_reasons(pack: RuleSet) -> None:
    d = decide(pack, facts("Facture de mars", "vous m'avez facturé deux fois"))
    assert d.category == "billing"
    assert 0.5 < d.category_confidence <= 1
    assert d.category_reasons
    assert "triage:low_confidence" not in d.tags
    assert d.priority == "P3" and d.base_priority == "P3" and d.reasons == []


def test_vague_request_falls_back_to_other_with_triage_tag(pack: RuleSet) -> None:
    d = decide(pack, facts("Bonjour", "Pouvez-vous me rappeler ?"))
    assert d.category == "other"
    assert "triage:low_confidence" in d.tags


def test_english_request_is_classified(pack: RuleSet) -> None:
    f = facts("Cancel my subscription", "Please terminate my plan at the end of the month.")
    f["request"]["language"] = "en"
    d = decide(pack, f)
    assert d.category == "cancellation"
    assert any(a.type == "send_reply" and "received" in a.params["subject"] for a in d.actions)


def test_impact_reasons_raise_priority_with_points(pack: RuleSet) -> None:
    f = facts(
        "Facture contestée",
        "Sans réponse sous 8 jours je saisis mon avocat.",
        contact={"vip": True},
        case={"follow_up_count": 2, "amount": 8000},
    )
    d = decide(pack, f)
    codes = {r.code: r.points for r in d.reasons}
    assert codes == {
        "strategic_customer": 30,
        "legal_risk": 40,
        "repeated_follow_ups": 10,
        "amount_at_stake": 15,
    }
    assert d.score == 95
    assert d.priority == "P1"
    assert "legal_risk" in d.tags
    assert d.reasons[2].message_fr == "relances ×2"


def test_legal_risk_alone_sets_a_priority_floor(pack: RuleSet) -> None:
    d = decide(pack, facts("Mes données", "Je vais saisir la CNIL de votre refus."))
    assert d.priority == "P2" and "legal_risk" in d.tags


def test_a_formal_notice_sets_a_p1_floor(pack: RuleSet) -> None:
    d = decide(pack, facts("Mise en demeure", "Ceci constitue une mise en demeure."))
    assert d.priority == "P1" and {"legal_risk", "formal_notice"} <= set(d.tags)


def test_customer_tier_selects_a_policy(pack: RuleSet) -> None:
    f = facts("Bug", "l'application plante", company={"tier": "Gold"})
    d = decide(pack, f)
    assert d.sla is not None and d.sla.policy == "incident_strategic"
    assert d.base_priority == "P2"
    fired = [t.rule_id for t in d.trace if t.kind == "sla_policy" and t.fired]
    assert fired == ["incident_strategic"]


def test_out_of_hours_request_starts_the_clock_on_monday(pack: RuleSet) -> None:
    f = facts("Facture", "facture fausse", request={"received_at": SATURDAY})
    f["case"]["created_at"] = SATURDAY
    d = decide(pack, f, now=SATURDAY)
    assert d.sla is not None
    # P3: first response 1 business day; Monday 09:00 Paris + 1 day = Tuesday 09:00 Paris.
    assert d.sla.first_response_due == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert [w.event for w in d.wakeups] == ["sla.warning", "sla.breached", "sla.breached"]
    assert d.wakeups[0].at < d.wakeups[1].at < d.wakeups[2].at


def test_paused_status_stops_the_clock_and_schedules_nothing(pack: RuleSet) -> None:
    f = facts("Facture", "facture fausse", case={"status": "waiting_customer"})
    f["case"]["updated_at"] = MONDAY_10_PARIS
    running = decide(
        pack, facts("Facture", "facture fausse"), now=datetime(2026, 11, 25, 9, tzinfo=UTC)
    )
    paused = decide(pack, f, now=datetime(2026, 11, 25, 9, tzinfo=UTC))
    assert paused.wakeups == []
    assert paused.sla is not None and running.sla is not None
    assert paused.sla.first_response_due > running.sla.first_response_due


def test_acknowledgement_is_planned_with_a_stable_key(pack: RuleSet) -> None:
    f = facts("Facture", "facture fausse", contact={"name": "Alice"})
    first, second = decide(pack, f), decide(pack, f)
    acks = [a for a in first.actions if a.rule_id == "acknowledge_new_request"]
    assert len(acks) == 1
    assert "Bonjour Alice" in acks[0].params["body"]
    assert acks[0].params["to"] == "client@example.fr"
    assert [a.key for a in first.actions] == [a.key for a in second.actions]
    assert len({a.key for a in first.actions}) == len(first.actions)


def test_auto_replies_are_not_acknowledged(pack: RuleSet) -> None:
    f = facts("Absence", "je suis absent", request={"auto_reply": "auto-submitted"})
    d = decide(pack, f)
    assert not [a for a in d.actions if a.type == "send_reply"]


def test_status_request_is_answered_on_each_follow_up_with_distinct_keys(pack: RuleSet) -> None:
    f = facts(
        "Où en est ma demande ?",
        "toujours pas de nouvelles",
        case={"category": "status_request"},
        request={"relation": "follow_up"},
    )
    f["case"]["follow_up_count"] = 1
    one = decide(pack, f, event="case.follow_up")
    f["case"]["follow_up_count"] = 2
    two = decide(pack, f, event="case.follow_up")
    key1 = [a.key for a in one.actions if a.rule_id == "answer_status_request"]
    key2 = [a.key for a in two.actions if a.rule_id == "answer_status_request"]
    assert key1 and key2 and key1 != key2
    assert one.category_reasons == ["kept from the case (status_request)"]


def test_set_field_cascades_into_case_updated_rules(pack: RuleSet) -> None:
    d = decide(pack, facts("Nouveau RIB", "voici mes nouvelles coordonnées bancaires, IBAN FR76"))
    assert d.category == "admin_update"
    assert d.field_changes["case.status"] == "pending_verification"
    assert "verification:bank_details" in d.tags
    cascaded = [t for t in d.trace if t.rule_id == "admin_update_queue" and t.fired]
    assert cascaded


def test_sla_breach_escalates_and_recomputes_the_sla(pack: RuleSet) -> None:
    f = facts("Facture", "facture fausse", case={"category": "billing"})
    d = decide(pack, f, event="sla.breached")
    assert d.priority == "P2"
    assert d.sla is not None and d.sla.priority == "P2"
    esc = [a for a in d.actions if a.type == "escalate"]
    assert esc and esc[0].params["from"] == "P3" and esc[0].params["to"] == "P2"
    assert esc[0].key == "CASE-1/sla_breached/2/sla.breached"
    assert "sla:breached" in d.tags


def test_decision_is_json_safe_and_has_a_note(pack: RuleSet) -> None:
    f = facts("Facture", "mon avocat", contact={"vip": True}, case={"follow_up_count": 2})
    d = decide(pack, f)
    json.dumps(d.to_dict())
    note_fr, note_en = d.note("fr"), d.note("en")
    assert "Catégorie : facturation (confiance 0," in note_fr
    assert "client stratégique (+30)" in note_fr and "relances ×2 (+10)" in note_fr
    assert "Échéance première réponse : " in note_fr
    assert "Category: billing (confidence 0." in note_en and "legal risk (+40)" in note_en


def test_naive_now_and_unknown_event_are_refused(pack: RuleSet) -> None:
    with pytest.raises(ValueError, match="aware"):
        pack.decide(facts("x"), now=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="unknown event"):
        pack.decide(facts("x"), event="case.deleted", now=MONDAY_10_PARIS)


def test_decide_does_not_modify_the_facts(pack: RuleSet) -> None:
    f = facts("Nouveau RIB", "IBAN FR76")
    before = json.dumps(f, default=str, sort_keys=True)
    decide(pack, f)
    assert json.dumps(f, default=str, sort_keys=True) == before


def chain_pack(tmp_path: Path, length: int, limit: int) -> RuleSet:
    rules = [
        f"""\
        - id: step{i}
          events: [{"case.created" if i == 1 else "case.updated"}]
          order: {100 - i}
          {"" if i == 1 else f"when: {{field: case.f{i - 1}, op: changed}}"}
          actions:
            - {{type: set_field, field: case.f{i}, value: done}}
        """
        for i in range(1, length + 1)
    ]
    text = f"settings:\n  recursion_limit: {limit}\nautomations:\n" + textwrap.indent(
        "".join(textwrap.dedent(r) for r in rules), "  "
    )
    (tmp_path / "chain.yaml").write_text(text, encoding="utf-8")
    return load_ruleset(tmp_path)


def test_recursion_limit_caps_cascades_and_is_traced(tmp_path: Path) -> None:
    ruleset = chain_pack(tmp_path, length=8, limit=5)
    d = ruleset.decide({"case": {"reference": "R"}}, now=MONDAY_10_PARIS)
    fired = [t.rule_id for t in d.trace if t.kind == "automation" and t.fired]
    assert sorted(fired) == ["step1", "step2", "step3", "step4", "step5"]
    assert any(t.rule_id == "recursion_limit" for t in d.trace)


def test_short_cascade_runs_to_completion(tmp_path: Path) -> None:
    ruleset = chain_pack(tmp_path, length=3, limit=5)
    d = ruleset.decide({"case": {"reference": "R"}}, now=MONDAY_10_PARIS)
    assert set(d.field_changes) == {"case.f1", "case.f2", "case.f3"}
    assert not any(t.rule_id == "recursion_limit" for t in d.trace)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    subject=st.text(max_size=80),
    body=st.text(max_size=400),
    follow_ups=st.one_of(st.none(), st.integers(-3, 50), st.text(max_size=3)),
    amount=st.one_of(st.none(), st.floats(allow_nan=True), st.text(max_size=5)),
    lang=st.sampled_from(["fr", "en", None, "de"]),
)
def test_decide_never_fails_on_odd_facts(
    pack: RuleSet, subject: str, body: str, follow_ups: Any, amount: Any, lang: Any
) -> None:
    f = facts(subject, body, request={"language": lang})
    f["case"].update({"follow_up_count": follow_ups, "amount": amount})
    d = decide(pack, f)
    assert d.category in pack.category_ids
    assert d.priority in ("P1", "P2", "P3", "P4")
    assert 0 <= d.category_confidence <= 1
    json.dumps(d.to_dict())
