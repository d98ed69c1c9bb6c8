"""Field comparators and Fellegi–Sunter scores: symmetric, graded, explained."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.identity.normalise import ContactRecord, normalise_record
from bot.identity.scoring import Scorer, compare_date, compare_id

names = st.sampled_from(
    ["Jean Dupont", "DUPONT Jean", "J. Dupont", "Jeannot Dupond", "Marie Curie", "Bob Smith",
     "Robert Smyth", "Hélène Müller", "Helene Muller", "", "Kate O'Brien", "Katherine OBrien"]
)  # fmt: skip
records = st.builds(
    ContactRecord,
    email=st.sampled_from(
        [
            None,
            "jean.dupont@acme.fr",
            "JeanDupont@gmail.com",
            "info@acme.fr",
            "bob@smith.co.uk",
            "j.dupont+x@acme.fr",
        ]
    ),
    name=names,
    phone=st.sampled_from([None, "06 12 34 56 78", "+33612345678", "07700 900123"]),
    postcode=st.sampled_from([None, "75011", "75012", "2600"]),
    birth_date=st.sampled_from([None, "19650413", "19651304", "19650431", "19560413"]),
    national_id=st.sampled_from([None, "1234567", "1243567", "7654321"]),
    address=st.sampled_from([None, "12 rue de la paix", "12 r de la paix", "4 main street"]),
    external_ids=st.sampled_from([{}, {"hubspot": "1"}, {"hubspot": "2"}, {"zendesk": "1"}]),
)


@settings(max_examples=300)
@given(records, records)
def test_score_is_symmetric(a: ContactRecord, b: ContactRecord) -> None:
    scorer = Scorer()
    pa, pb = normalise_record(a), normalise_record(b)
    ab, ba = scorer.score(pa, pb), scorer.score(pb, pa)
    assert ab.score == ba.score
    assert ab.weight == ba.weight
    assert sorted(ab.reasons) == sorted(ba.reasons)
    assert 0.0 <= ab.score <= 1.0


def test_date_comparator_grades_typos_and_day_month_swaps() -> None:
    assert compare_date("19650413", "19650413")[0] == 0
    assert compare_date("19650413", "19650431")[0] == 1  # transposed digits
    assert compare_date("19650413", "19650414")[0] == 1  # one typo
    assert compare_date("19650413", "19651304")[0] == 2  # day and month swapped
    assert compare_date("19650413", "19720101")[0] == 3


def test_id_comparator_grades_typos() -> None:
    assert compare_id("1234567", "1234567")[0] == 0
    assert compare_id("1234567", "1243567")[0] == 1
    assert compare_id("1234567", "1243568")[0] == 2
    assert compare_id("1234567", "7654321")[0] == 3


def _score(a: ContactRecord, b: ContactRecord) -> float:
    return Scorer().score(normalise_record(a), normalise_record(b)).score


def test_more_agreement_scores_higher() -> None:
    base = ContactRecord(name="Jean Dupont", birth_date="19650413", postcode="75011")
    same = ContactRecord(name="Jean Dupont", birth_date="19650413", postcode="75011")
    typo = ContactRecord(name="Jean Dupond", birth_date="19650431", postcode="75011")
    other = ContactRecord(name="Marc Lefebvre", birth_date="19801201", postcode="13001")
    assert _score(base, same) > _score(base, typo) > _score(base, other)
    assert _score(base, other) < 0.01


def test_reasons_name_the_fields_and_their_similarity() -> None:
    a = normalise_record(ContactRecord(name="Jean Dupont", birth_date="19650413"))
    b = normalise_record(ContactRecord(name="Jean Dupond", birth_date="19651304"))
    reasons = Scorer().score(a, b).reasons
    assert "given name identical" in reasons
    assert any(r.startswith("surname similar 0.9") for r in reasons)
    assert "birth date day/month swapped" in reasons


def test_swapped_given_name_and_surname_still_agree() -> None:
    a = ContactRecord(given_name="Jean", surname="Dupont", birth_date="19650413")
    b = ContactRecord(given_name="Dupont", surname="Jean", birth_date="19650413")
    assert _score(a, b) > 0.99


def test_conflicting_crm_ids_weigh_against_a_match() -> None:
    a = ContactRecord(name="Jean Dupont", postcode="75011", external_ids={"hubspot": "1"})
    b = ContactRecord(name="Jean Dupont", postcode="75011", external_ids={"hubspot": "2"})
    c = ContactRecord(name="Jean Dupont", postcode="75011")
    assert _score(a, b) < 0.97 < _score(a, c)
    pa, pb = normalise_record(a), normalise_record(b)
    assert Scorer().score(pa, pb).reasons[0] == "hubspot id differs"


GIVEN_NAMES = ["Jean", "Hélène", "François", "Éloïse", "Robert", "Katherine", "William", "Zoë"]
SURNAMES = ["Dupont", "Lefèvre", "Müller", "de la Fontaine", "O'Brien", "Smith", "Château"]


def _variants(given: str, surname: str) -> list[str]:
    core = surname.split()[-1]
    return [
        f"{given} {surname}",
        f"{surname.upper()} {given}",
        f"{core.upper()}, {given.lower()}",
        f"{given[0]}. {surname}",
        f"{given.upper()} {surname.upper()}".replace("É", "E").replace("È", "E"),
        f"Mme {given} {surname}",
    ]


@given(st.sampled_from(GIVEN_NAMES), st.sampled_from(SURNAMES), st.data())
def test_name_variants_agree_on_surname_and_given_name(
    given_name: str, surname: str, data: st.DataObject
) -> None:
    a, b = data.draw(
        st.lists(st.sampled_from(_variants(given_name, surname)), min_size=2, max_size=2)
    )
    pa, pb = normalise_record(ContactRecord(name=a)), normalise_record(ContactRecord(name=b))
    pair = Scorer().score(pa, pb)
    assert pair.fields["surname"][0] == 0, (a, b, pa, pb)
    assert pair.fields["given"][0] in (0, 3), (a, b, pa, pb)  # identical, or an initial
