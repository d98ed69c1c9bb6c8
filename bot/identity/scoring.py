"""Field comparators and Fellegi–Sunter weights: how much each field's agreement counts."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler, Levenshtein

from bot.identity.normalise import Profile


@dataclass(frozen=True, slots=True)
class FieldModel:
    """Comparison levels of one field with their m (match) and u (non-match) probabilities."""

    levels: tuple[str, ...]
    m: tuple[float, ...]
    u: tuple[float, ...]

    def weight(self, level: int) -> float:
        """log2(m/u) of a level: positive is evidence for a match, negative against."""
        return math.log2(self.m[level] / self.u[level])


# Levels per field, most similar first; the last level is "disagree".
LEVELS: dict[str, tuple[str, ...]] = {
    "given": ("identical", "similar", "roughly similar", "initial", "different"),
    "surname": ("identical", "similar", "roughly similar", "different"),
    "birth_date": ("identical", "one typo", "day/month swapped", "different"),
    "national_id": ("identical", "one typo", "two typos", "different"),
    "address": ("identical", "similar", "roughly similar", "different"),
    "postcode": ("identical", "one typo", "different"),
    "city": ("identical", "similar", "different"),
    "email": ("identical", "identical (shared mailbox)", "same local part", "different"),
    "phone": ("identical", "different"),
    "domain": ("identical", "different"),
    "company": ("identical", "similar", "different"),
}

# m/u of the Febrl fields were estimated on febrl2 only (`python bench/bench_identity.py
# --calibrate febrl2`): m from its 1,934 true pairs, u from 200,000 random pairs of different
# people, add-one smoothing; febrl1, 3 and 4 are held out. m/u of the fields Febrl lacks
# (email, phone, domain, company) are set by hand from what they mean: an identical personal
# email or phone is near-proof; a shared mailbox, a company domain or name is weak evidence.
DEFAULT_MODELS: dict[str, FieldModel] = {
    name: FieldModel(LEVELS[name], m, u)
    for name, m, u in (
        ("given", (0.6939, 0.1464, 0.03526, 0.0005342, 0.1239),
                  (0.004281, 0.001113, 0.007286, 6.272e-05, 0.9873)),
        ("surname", (0.6506, 0.2209, 0.04195, 0.08656), (0.003947, 0.0008109, 0.003644, 0.9916)),
        ("birth_date", (0.9032, 0.03083, 0.0005408, 0.06544),
                       (3.661e-05, 0.001166, 2.615e-05, 0.9988)),
        ("national_id", (0.8705, 0.0743, 0.001548, 0.05366),
                        (5.001e-06, 1.5e-05, 0.000235, 0.9997)),
        ("address", (0.4675, 0.3075, 0.144, 0.08101), (3e-05, 0.00012, 0.0009751, 0.9989)),
        ("postcode", (0.761, 0.06763, 0.1714), (0.0009101, 0.0126, 0.9865)),
        ("city", (0.8297, 0.09337, 0.07692), (0.001174, 0.0003623, 0.9985)),
        ("email", (0.6, 0.02, 0.05, 0.33), (1e-6, 0.002, 1e-4, 0.997898)),
        ("phone", (0.7, 0.3), (1e-5, 0.99999)),
        ("domain", (0.5, 0.5), (0.01, 0.99)),
        ("company", (0.7, 0.1, 0.2), (0.02, 0.03, 0.95)),
    )
}  # fmt: skip

# Prior that a candidate pair (one sharing a blocking key) is a match: the share of true
# pairs among the candidates met while streaming febrl2.
DEFAULT_PRIOR = 0.2956
EXTERNAL_ID_CONFLICT_WEIGHT = -20.0


def _jw(a: str, b: str) -> float:
    """Jaro–Winkler similarity in 0..1."""
    return JaroWinkler.similarity(a, b)


def compare_given(a: Profile, b: Profile) -> tuple[int, float]:
    """Level and similarity of two given names (nicknames, initials, accents handled)."""
    if a.given_canon == b.given_canon or a.given == b.given:
        return 0, 1.0
    fa, fb = a.given.split()[0], b.given.split()[0]
    if len(fa) == 1 or len(fb) == 1:
        return (3, 0.8) if fa[0] == fb[0] else (4, 0.0)
    sim = max(_jw(a.given, b.given), _jw(a.given_canon, b.given_canon))
    if sim >= 0.92:
        return 1, sim
    if sim >= 0.80:
        return 2, sim
    return 4, sim


def _name_level(sim: float) -> int:
    """Level of a surname similarity."""
    if sim >= 0.9999:
        return 0
    if sim >= 0.92:
        return 1
    if sim >= 0.80:
        return 2
    return 3


def compare_surname(a: str, b: str) -> tuple[int, float]:
    """Level and similarity of two surnames (particles already dropped)."""
    if a == b:
        return 0, 1.0
    sim = _jw(a, b)
    if a.replace(" ", "") == b.replace(" ", ""):
        sim = 1.0
    return _name_level(sim), sim


_GIVEN_FROM_SURNAME_LEVEL = (0, 1, 2, 4)
# Fields that identify one person; names and places are shared by families and neighbours.
_PERSONAL = frozenset({"email", "phone", "national_id", "birth_date", "address"})
_NONE = (99, 0.0)


def compare_date(a: str, b: str) -> tuple[int, float]:
    """Level of two YYYYMMDD dates: identical, one typo/transposition, day-month swap."""
    if a == b:
        return 0, 1.0
    if len(a) == 8 and len(b) == 8 and a[:4] == b[:4] and a[4:6] == b[6:8] and a[6:8] == b[4:6]:
        return 2, 0.8
    if OSA.distance(a, b) <= 1:
        return 1, 0.9
    return 3, 0.0


def compare_id(a: str, b: str) -> tuple[int, float]:
    """Level of two identifiers: identical, one typo (or transposition), two typos."""
    if a == b:
        return 0, 1.0
    d = OSA.distance(a, b, score_cutoff=3)
    if d <= 1:
        return 1, 0.9
    if d == 2:
        return 2, 0.7
    return 3, 0.0


def compare_address(a: str, b: str) -> tuple[int, float]:
    """Level of two folded addresses by token-set ratio."""
    if a == b:
        return 0, 1.0
    sim = fuzz.token_set_ratio(a, b) / 100.0
    if sim >= 0.97:
        return 0, sim
    if sim >= 0.88:
        return 1, sim
    if sim >= 0.7:
        return 2, sim
    return 3, sim


def compare_postcode(a: str, b: str) -> tuple[int, float]:
    """Level of two postcodes."""
    if a == b:
        return 0, 1.0
    if Levenshtein.distance(a, b, score_cutoff=2) <= 1:
        return 1, 0.8
    return 2, 0.0


def compare_city(a: str, b: str) -> tuple[int, float]:
    """Level of two folded city names."""
    if a == b:
        return 0, 1.0
    sim = _jw(a, b)
    if sim >= 0.96:
        return 0, sim
    if sim >= 0.88:
        return 1, sim
    return 2, sim


def compare_email(a: Profile, b: Profile) -> tuple[int, float]:
    """Level of two normalised emails; a shared mailbox (info@ …) is weak evidence."""
    if a.email == b.email:
        return (1, 1.0) if a.role_email else (0, 1.0)
    la, lb = a.email.partition("@")[0], b.email.partition("@")[0]
    if la == lb and not a.role_email and not b.role_email and len(la) >= 4:
        return 2, 0.8
    return 3, 0.0


def compare_company(a: str, b: str) -> tuple[int, float]:
    """Level of two folded company names."""
    if a == b:
        return 0, 1.0
    sim = fuzz.token_set_ratio(a, b) / 100.0
    if sim >= 0.9:
        return 1, sim
    return 2, sim


@dataclass(slots=True)
class PairScore:
    """The comparison of two profiles: total weight, posterior score, levels and flags."""

    weight: float
    score: float
    fields: dict[str, tuple[int, float]]
    id_reasons: list[str]
    models: dict[str, FieldModel]
    external_id_equal: bool = False
    external_id_conflict: bool = False
    email_equal: bool = False
    name_conflict: bool = False
    personal_weight: float = 0.0  # evidence from personal identifiers (not name, not place)
    person_proof: bool = False  # an identifier of one person agrees (email, id, birth date)

    @property
    def reasons(self) -> list[str]:
        """Human reasons, one per compared field ("surname similar 0.93", "email identical")."""
        out = list(self.id_reasons)
        for name, (level, sim) in self.fields.items():
            out.append(_reason(name, self.models[name].levels[level], sim))
        return out


def compare_profiles(a: Profile, b: Profile) -> dict[str, tuple[int, float]]:
    """Comparison level and similarity for every field both profiles know."""
    out: dict[str, tuple[int, float]] = {}
    if a.given and b.given and a.surname and b.surname:
        g, s = compare_given(a, b), compare_surname(a.surname, b.surname)
        if g[0] + s[0] > 0 and (a.given[0] == b.surname[0] or a.surname[0] == b.given[0]):
            # try the given/surname swap ("DUPONT Jean" typed the other way round)
            x = compare_surname(a.given, b.surname)
            y = compare_surname(a.surname, b.given)
            if x[1] + y[1] > g[1] + s[1] + 0.1:  # symmetric: the weaker side rates the given name
                low, high = (x, y) if x[1] <= y[1] else (y, x)
                g = (_GIVEN_FROM_SURNAME_LEVEL[low[0]], low[1])
                s = high
        out["given"], out["surname"] = g, s
    else:
        if a.given and b.given:
            out["given"] = compare_given(a, b)
        if a.surname and b.surname:
            out["surname"] = compare_surname(a.surname, b.surname)
    if a.birth_date and b.birth_date:
        out["birth_date"] = compare_date(a.birth_date, b.birth_date)
    if a.national_id and b.national_id:
        out["national_id"] = compare_id(a.national_id, b.national_id)
    if a.address and b.address:
        out["address"] = compare_address(a.address, b.address)
    if a.postcode and b.postcode:
        out["postcode"] = compare_postcode(a.postcode, b.postcode)
    if a.city and b.city:
        out["city"] = compare_city(a.city, b.city)
    if a.email and b.email:
        out["email"] = compare_email(a, b)
    if a.phone and b.phone:
        out["phone"] = (0, 1.0) if a.phone == b.phone else (1, 0.0)
    if a.domain and b.domain and a.email != b.email:  # same email implies same domain
        out["domain"] = (0, 1.0) if a.domain == b.domain else (1, 0.0)
    if a.company and b.company:
        out["company"] = compare_company(a.company, b.company)
    return out


_LABELS = {
    "given": "given name",
    "surname": "surname",
    "birth_date": "birth date",
    "national_id": "national id",
    "address": "address",
    "postcode": "postcode",
    "city": "city",
    "email": "email",
    "phone": "phone",
    "domain": "company domain",
    "company": "company",
}


class Scorer:
    """Scores a pair of profiles with Fellegi–Sunter weights mapped to a 0..1 posterior."""

    def __init__(
        self, models: dict[str, FieldModel] | None = None, prior: float = DEFAULT_PRIOR
    ) -> None:
        """Use the given field models (default: the calibrated ones) and match prior."""
        self.models = models or DEFAULT_MODELS
        self.prior_log2_odds = math.log2(prior / (1.0 - prior))
        self._weights = {
            name: tuple(model.weight(i) for i in range(len(model.levels)))
            for name, model in self.models.items()
        }

    def score(self, a: Profile, b: Profile) -> PairScore:
        """Compare two profiles; symmetric in a and b."""
        total = 0.0
        id_reasons: list[str] = []
        ext_equal = ext_conflict = False
        if a.external_ids and b.external_ids:
            for system in sorted(a.external_ids.keys() & b.external_ids.keys()):
                if a.external_ids[system] == b.external_ids[system]:
                    ext_equal = True
                    id_reasons.append(f"{system} id identical")
                else:
                    ext_conflict = True
                    id_reasons.append(f"{system} id differs")
        if ext_conflict and not ext_equal:
            total += EXTERNAL_ID_CONFLICT_WEIGHT
        fields = compare_profiles(a, b)
        weights = self._weights
        personal = 0.0
        for name, (level, _) in fields.items():
            w = weights[name][level]
            total += w
            if name in _PERSONAL:
                personal += w
        surname_level = fields["surname"][0] if "surname" in fields else 0
        given_level = fields["given"][0] if "given" in fields else 0
        name_conflict = surname_level == 3 or (given_level == 4 and surname_level >= 2)
        log_odds = total + self.prior_log2_odds
        score = 1.0 / (1.0 + 2.0 ** (-log_odds)) if log_odds > -60 else 0.0
        if ext_equal:
            score = 1.0
        email_level = fields["email"][0] if "email" in fields else -1
        return PairScore(
            weight=total,
            score=score,
            fields=fields,
            id_reasons=id_reasons,
            models=self.models,
            external_id_equal=ext_equal,
            external_id_conflict=ext_conflict,
            email_equal=email_level in (0, 1),
            name_conflict=name_conflict,
            personal_weight=personal + (30.0 if ext_equal else 0.0),
            person_proof=ext_equal
            or email_level == 0
            or fields.get("national_id", _NONE)[0] <= 1
            or fields.get("birth_date", _NONE)[0] <= 2,
        )


def _reason(name: str, level_name: str, sim: float) -> str:
    """A short human reason: "surname similar 0.93", "birth date day/month swapped"."""
    label = _LABELS[name]
    if level_name in ("similar", "roughly similar") and 0 < sim < 1:
        return f"{label} {level_name} {sim:.2f}"
    return f"{label} {level_name}"


def estimate_models(
    pairs: Iterable[tuple[Profile, Profile, bool]],
    fields: Sequence[str],
    base: dict[str, FieldModel] | None = None,
) -> tuple[dict[str, FieldModel], float]:
    """Count level frequencies among labelled pairs into m/u (add-one smoothing) and the prior."""
    base = dict(base or DEFAULT_MODELS)
    counts = {f: ([1.0] * len(LEVELS[f]), [1.0] * len(LEVELS[f])) for f in fields}
    n_match = n_total = 0
    for a, b, is_match in pairs:
        n_total += 1
        n_match += is_match
        for name, (level, _) in compare_profiles(a, b).items():
            if name in counts:
                counts[name][0 if is_match else 1][level] += 1
    for name, (m_counts, u_counts) in counts.items():
        m_sum, u_sum = sum(m_counts), sum(u_counts)
        base[name] = FieldModel(
            LEVELS[name],
            tuple(c / m_sum for c in m_counts),
            tuple(c / u_sum for c in u_counts),
        )
    prior = (n_match + 1) / (n_total + 2)
    return base, prior
