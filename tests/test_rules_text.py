"""Word and phrase matching: case, accents, word boundaries, prefixes, plurals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.text import TermError, TermMatcher, TextIndex, normalise


def found(terms: list[str], text: str) -> list[str]:
    return TermMatcher.compile(terms).found(TextIndex.of(text))


@pytest.mark.parametrize(
    ("terms", "text", "expected"),
    [
        (["facture"], "Ma FACTURE est fausse", ["facture"]),
        (["facture"], "mes factures de mars", ["facture"]),
        (["factur*"], "vous m'avez facturé deux fois", ["factur*"]),
        (["factur*"], "la facturation", ["factur*"]),
        (["invoice*"], "Invoiced twice", ["invoice*"]),
        (["résiliation"], "demande de resiliation", ["résiliation"]),
        (["resiliation"], "DEMANDE DE RÉSILIATION", ["resiliation"]),
        (["mise en demeure"], "Ceci vaut MISE  EN\nDEMEURE.", ["mise en demeure"]),
        (["mise en demeure"], "mise en attente de la demeure", []),
        (["avocat"], "mon avocat", ["avocat"]),
        (["avocat"], "des avocats", ["avocat"]),
        (["avocat"], "avocatier", []),
        (["cnil"], "je saisis la C.N.I.L", []),
        (["cnil"], "plainte à la CNIL.", ["cnil"]),
        (["can t log in"], "I can't log in since Monday", ["can t log in"]),
        (["l avocat"], "j'appelle l'avocat", ["l avocat"]),
        (["sue"], "we will sue you", ["sue"]),
        (["sue"], "this issue is open", []),
        (["bureau"], "nos bureaux", ["bureau"]),
        (["cœur"], "COEUR de métier", ["cœur"]),
        (["plus rien ne fonction*"], "plus rien ne fonctionnait hier", ["plus rien ne fonction*"]),
        (["a", "b"], "", []),
    ],
)
def test_term_matching_table(terms: list[str], text: str, expected: list[str]) -> None:
    assert found(terms, text) == expected


def test_contains_all_terms_reported_once_each() -> None:
    assert sorted(found(["iban", "rib", "iban"], "IBAN et RIB, iban")) == ["iban", "rib"]


@pytest.mark.parametrize("bad", ["", "  ", "!!!", "ab*"])
def test_unusable_terms_are_refused(bad: str) -> None:
    with pytest.raises(TermError):
        TermMatcher.compile([bad])


words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéèàçù", min_size=3, max_size=10)
fillers = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz ,.;!?'\n", max_size=20), min_size=2, max_size=2
)


@given(term=st.lists(words, min_size=1, max_size=3), around=fillers, upper=st.booleans())
def test_a_phrase_surrounded_by_separators_is_always_found(
    term: list[str], around: list[str], upper: bool
) -> None:
    phrase = " ".join(term)
    inserted = phrase.upper() if upper else phrase
    text = f"{around[0]} {inserted} {around[1]}"
    assert found([phrase], text) == [phrase]


@given(word=words, glued=st.text(alphabet="qwxz", min_size=2, max_size=4))
def test_a_word_glued_inside_a_longer_word_is_not_found(word: str, glued: str) -> None:
    text = f"x {glued}{word}{glued} y"
    assert found([word], text) == []


@given(st.text(max_size=200))
def test_normalise_is_idempotent_and_ascii(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert all(ch.isascii() for ch in once)
