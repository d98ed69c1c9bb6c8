"""Does a French postcode agree with its commune line? A small table of the larger communes.

The département is the postcode's first two digits (20 for Corsica, 97x overseas). For the
communes listed here (the prefectures and the larger towns) the département must match, and
Paris, Marseille and Lyon must carry one of their arrondissements' codes (a CEDEX code is
exempt). A commune not listed is not contradicted: the postcode alone must be plausible.
"""

from __future__ import annotations

import re
import unicodedata

# département → communes (folded: lower case, no accents, hyphens as spaces)
_BY_DEPARTEMENT: dict[str, tuple[str, ...]] = {
    "01": ("bourg en bresse",),
    "02": ("laon", "saint quentin", "soissons"),
    "03": ("moulins", "vichy", "montlucon"),
    "04": ("digne les bains",),
    "05": ("gap",),
    "06": ("nice", "cannes", "antibes", "grasse", "menton"),
    "07": ("privas", "annonay"),
    "08": ("charleville mezieres",),
    "09": ("foix",),
    "10": ("troyes",),
    "11": ("carcassonne", "narbonne"),
    "12": ("rodez",),
    "13": ("marseille", "aix en provence", "arles", "aubagne", "martigues"),
    "14": ("caen", "lisieux"),
    "15": ("aurillac",),
    "16": ("angouleme", "cognac"),
    "17": ("la rochelle", "saintes", "rochefort"),
    "18": ("bourges",),
    "19": ("tulle", "brive la gaillarde"),
    "20": ("ajaccio", "bastia"),
    "21": ("dijon", "beaune"),
    "22": ("saint brieuc", "lannion"),
    "23": ("gueret",),
    "24": ("perigueux", "bergerac"),
    "25": ("besancon", "montbeliard"),
    "26": ("valence", "montelimar"),
    "27": ("evreux", "vernon"),
    "28": ("chartres", "dreux"),
    "29": ("quimper", "brest", "morlaix"),
    "30": ("nimes", "ales"),
    "31": ("toulouse", "colomiers", "blagnac"),
    "32": ("auch",),
    "33": ("bordeaux", "merignac", "pessac", "talence"),
    "34": ("montpellier", "beziers", "sete"),
    "35": ("rennes", "saint malo"),
    "36": ("chateauroux",),
    "37": ("tours", "joue les tours"),
    "38": ("grenoble", "vienne", "echirolles"),
    "39": ("lons le saunier", "dole"),
    "40": ("mont de marsan", "dax"),
    "41": ("blois",),
    "42": ("saint etienne", "roanne"),
    "43": ("le puy en velay",),
    "44": ("nantes", "saint nazaire", "saint herblain", "reze"),
    "45": ("orleans",),
    "46": ("cahors",),
    "47": ("agen",),
    "48": ("mende",),
    "49": ("angers", "cholet", "saumur"),
    "50": ("saint lo", "cherbourg en cotentin", "cherbourg"),
    "51": ("reims", "chalons en champagne", "epernay"),
    "52": ("chaumont",),
    "53": ("laval",),
    "54": ("nancy",),
    "55": ("bar le duc", "verdun"),
    "56": ("vannes", "lorient"),
    "57": ("metz", "thionville"),
    "58": ("nevers",),
    "59": ("lille", "roubaix", "tourcoing", "dunkerque", "valenciennes", "douai"),
    "60": ("beauvais", "compiegne"),
    "61": ("alencon",),
    "62": ("arras", "calais", "boulogne sur mer", "lens"),
    "63": ("clermont ferrand",),
    "64": ("pau", "bayonne", "biarritz"),
    "65": ("tarbes", "lourdes"),
    "66": ("perpignan",),
    "67": ("strasbourg", "haguenau"),
    "68": ("colmar", "mulhouse"),
    "69": ("lyon", "villeurbanne", "venissieux"),
    "70": ("vesoul",),
    "71": ("macon", "chalon sur saone"),
    "72": ("le mans",),
    "73": ("chambery",),
    "74": ("annecy", "thonon les bains"),
    "75": ("paris",),
    "76": ("rouen", "le havre", "dieppe"),
    "77": ("melun", "meaux"),
    "78": ("versailles", "saint germain en laye"),
    "79": ("niort",),
    "80": ("amiens",),
    "81": ("albi", "castres"),
    "82": ("montauban",),
    "83": ("toulon", "frejus", "hyeres"),
    "84": ("avignon",),
    "85": ("la roche sur yon",),
    "86": ("poitiers",),
    "87": ("limoges",),
    "88": ("epinal",),
    "89": ("auxerre",),
    "90": ("belfort",),
    "91": ("evry courcouronnes", "evry"),
    "92": ("nanterre", "boulogne billancourt", "courbevoie"),
    "93": ("bobigny", "montreuil", "saint denis"),
    "94": ("creteil", "vitry sur seine"),
    "95": ("cergy", "argenteuil", "pontoise"),
}
_DEPARTEMENT_OF: dict[str, set[str]] = {}
for _dep, _communes in _BY_DEPARTEMENT.items():
    for _commune in _communes:
        _DEPARTEMENT_OF.setdefault(_commune, set()).add(_dep)
_DEPARTEMENT_OF["saint denis"].add("97")  # La Réunion
# Communes with arrondissements: the codes they may carry (not CEDEX).
_ARRONDISSEMENTS: dict[str, set[str]] = {
    "paris": {f"750{n:02d}" for n in range(1, 21)} | {"75116"},
    "marseille": {f"130{n:02d}" for n in range(1, 17)},
    "lyon": {f"6900{n}" for n in range(1, 10)},
}


def fold(text: str) -> str:
    """Lower case, no accents, hyphens and apostrophes as spaces, single spaces."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[-'’]", " ", text).split())


def plausible_postcode(code: str) -> bool:
    """Whether five digits can be a French postcode (a real département, not 00/96/99)."""
    if not re.fullmatch(r"\d{5}", code):
        return False
    dep = int(code[:2])
    return 1 <= dep <= 95 or code[:3] in {"971", "972", "973", "974", "976", "980"}


def postcode_agrees(code: str, commune: str) -> bool | None:
    """True/False when the table can tell whether `code` fits `commune`; None when it cannot."""
    if not plausible_postcode(code):
        return False
    name = fold(re.sub(r"(?i)\bcedex\b.*$", "", commune))
    cedex = bool(re.search(r"(?i)\bcedex\b", commune))
    deps = _DEPARTEMENT_OF.get(name)
    if deps is None:
        return None
    if code[:2] not in deps:
        return False
    if name in _ARRONDISSEMENTS and not cedex:
        return code in _ARRONDISSEMENTS[name]
    return True
