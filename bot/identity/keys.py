"""Blocking keys: short strings under which a contact is indexed and its candidates found."""

from __future__ import annotations

from functools import lru_cache

from bot.identity.normalise import Profile

_CODES = {
    **dict.fromkeys("bfpv", "1"),
    **dict.fromkeys("cgjkqsxz", "2"),
    **dict.fromkeys("dt", "3"),
    "l": "4",
    **dict.fromkeys("mn", "5"),
    "r": "6",
}


@lru_cache(maxsize=65536)
def phonetic(word: str) -> str:
    """A Soundex-style code of a folded word (first letter + up to 3 consonant classes)."""
    letters = [c for c in word if "a" <= c <= "z"]
    if not letters:
        return ""
    out = [letters[0]]
    last = _CODES.get(letters[0], "")
    for c in letters[1:]:
        code = _CODES.get(c, "")
        if code and code != last:
            out.append(code)
            if len(out) == 4:
                break
        if c not in "hw":
            last = code
    return "".join(out)


# How much sharing a key says, to rank candidates before scoring them (default 2).
KEY_WEIGHTS: dict[str, int] = {"x": 8, "e": 4, "t": 4, "i": 4, "l": 3, "n": 1, "si": 1, "c": 1}


# Keys made of names only are read with a smaller cap: a common name is no block at all.
NAME_ONLY_KINDS = frozenset({"n", "si"})


def key_kind(key: str) -> str:
    """The kind of a key: its prefix before the first colon."""
    return key.partition(":")[0]


def key_weight(key: str) -> int:
    """Ranking weight of a blocking key, from its kind (the prefix before the first colon)."""
    return KEY_WEIGHTS.get(key.partition(":")[0], 2)


def _surname_code(surname: str) -> str:
    """Phonetic code of the whole surname (its tokens joined)."""
    return phonetic(surname.replace(" ", ""))


def blocking_keys(p: Profile) -> list[str]:
    """Every blocking key of a profile; precise keys first, combined fuzzy keys after."""
    keys: list[str] = []
    for system, value in sorted(p.external_ids.items()):
        keys.append(f"x:{system}:{value}"[:200])
    if p.email:
        keys.append(f"e:{p.email}"[:200])
        local = p.email.partition("@")[0]
        if not p.role_email and len(local) >= 4:
            keys.append(f"l:{local}"[:200])
    if p.phone:
        keys.append(f"t:{p.phone}")
    if p.national_id:
        keys.append(f"i:{p.national_id}"[:200])
    sur = _surname_code(p.surname) if p.surname else ""
    first_given = p.given_canon.split()[0] if p.given_canon else ""
    giv = phonetic(first_given) if first_given else ""
    if sur and giv:
        a, b = sorted((sur, giv))  # order-free: survives given/surname swaps
        keys.append(f"n:{a}:{b}")
    if sur and p.given:
        keys.append(f"si:{sur}:{p.given[0]}")  # "J. Dupont" meets "Jean Dupont"
    if p.birth_date:
        if p.given:
            keys.append(f"dg:{p.birth_date}:{p.given[0]}")
        if sur:
            keys.append(f"ds:{p.birth_date}:{sur[0]}")
        if p.postcode:
            keys.append(f"dp:{p.birth_date}:{p.postcode}")
    if p.postcode:
        if sur:
            keys.append(f"sp:{sur}:{p.postcode}")
        if giv:
            keys.append(f"gp:{giv}:{p.postcode}")
        if p.address:
            words = p.address.split()
            if words:
                keys.append(f"ap:{p.postcode}:{'-'.join(sorted(words)[:2])}"[:200])
    if sur and p.birth_date:
        keys.append(f"sy:{sur}:{p.birth_date[:4]}")
    if p.domain and sur:
        keys.append(f"c:{p.domain}:{sur}"[:200])
    if p.company and sur and not p.domain:
        keys.append(f"co:{p.company[:40]}:{sur}"[:200])
    return keys
