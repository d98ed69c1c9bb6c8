"""What singles out one matter among a person's requests, for grouping (FR and EN).

A customer's two problems in one area (two invoices, two contracts, two sites, two devices)
share most of their words; what tells them apart is what each names: an invoice or contract
number, a site, an amount. Read here, pure text work; `bot/stages/dedup.py` weighs it:

- typed identifiers: a number with the word that says what it numbers (facture/invoice,
  contrat/contract, commande/order, PDL/meter, série/serial, dossier/ticket) or its letter
  prefix (INV-88213, CN-204518). A customer, account or bank number says who writes, not
  about what: it is kept apart and never counts;
- sites: a street address ("14 rue Victor Hugo", "4 Mill Lane") or a named place ("agence de
  Bron", "our Leeds branch");
- amounts ("312,40 €", "84.50 GBP"), weaker: a chase may quote a total;
- an explicit cue that a mail raises a new matter ("autre problème", "par ailleurs",
  "une deuxième demande", "another issue", "on a separate note");
- a cue that a reply corrects itself or answers a question ("I meant", "je me suis trompé",
  "comme demandé"): its numbers are the case's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from bot.textfold import strip_accents
from bot.topic import is_identifier, stem

# The word before a number that says what it numbers (folded), by kind.
_KIND_WORDS: dict[str, tuple[str, ...]] = {
    "invoice": ("facture", "fact", "invoice", "inv", "bill", "fa"),
    # a credit note is numbered apart from the bill it credits: its own kind, no conflict
    "credit": ("avoir", "credit note", "av"),
    "contract": ("contrat", "contract", "police", "policy", "abonnement", "subscription"),
    "order": ("commande", "order", "cde", "cmd", "purchase order", "bon de commande", "ord"),
    # a supply point and the meter on it are numbered apart: two kinds, never in conflict
    "supply": ("pdl", "prm", "pce", "mpan", "mprn", "point de livraison", "supply number"),
    "meter": ("compteur", "meter", "meter serial", "numero de compteur"),
    "device": ("serie", "serial", "sn", "imei", "appareil", "device", "box", "routeur", "router"),
    "ticket": ("ticket", "dossier", "reclamation", "claim", "incident", "sinistre", "rma"),
    # who writes, not about what: never evidence for or against
    "party": (
        "client",
        "customer",
        "account",
        "compte",
        "adherent",
        "member",
        "abonne",
        "iban",
        "rib",
        "bic",
        "siret",
        "siren",
        "tva",
        "vat",
        "tel",
        "telephone",
        "phone",
        "mobile",
        "fax",
    ),
}
_KIND_OF = {word: kind for kind, words in _KIND_WORDS.items() for word in words}
_KIND_WORD = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, _KIND_OF), key=len, reverse=True)) + r")s?\b"
)
IGNORED_KINDS = frozenset({"party"})
# Kinds that number one matter (a bill, an order, a ticket), not what all of one person's
# matters carry (a contract, a supply point, a meter, a device, a site).
MATTER_KINDS = frozenset({"invoice", "credit", "order", "ticket"})
# A long number with no word saying what it numbers: shared, it is evidence; it never conflicts.
UNTYPED = "number"
_BEFORE_CHARS = 32

_TOKEN = re.compile(r"[a-z0-9]+(?:[-/.][a-z0-9]+)*")
_SPACED = re.compile(r"(?<![\w+])\d{2,6}(?: \d{2,6}){1,5}(?![\w])")
_DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")
_LETTERS = re.compile(r"^[a-z]+")

# Amounts with a currency, either side: "312,40 €", "84.50 GBP", "£120", "89 euros".
_AMOUNT = re.compile(
    r"(?:(?:£|\$|€)\s?(\d{1,3}(?:[ \u00a0\u202f.,]\d{3})*(?:[.,]\d{1,2})?)(?![\d]))"
    r"|(?:(?<![\d.,])(\d{1,3}(?:[ \u00a0\u202f.,]\d{3})*(?:[.,]\d{1,2})?)\s?"
    r"(?:€|euros?\b|eur\b|gbp\b|£|pounds?\b|usd\b|dollars?\b|\$))",
    re.I,
)

_CENTS = re.compile(r"^(.*?)(?:[.,](\d{1,2}))?$")

# The month a bill is for: "facture d'octobre", "mensualité de novembre", "my October bill".
_MONTH_NAMES = (
    ("janvier", "january"),
    ("fevrier", "february"),
    ("mars", "march"),
    ("avril", "april"),
    ("mai", "may"),
    ("juin", "june"),
    ("juillet", "july"),
    ("aout", "august"),
    ("septembre", "september"),
    ("octobre", "october"),
    ("novembre", "november"),
    ("decembre", "december"),
)
_MONTHS = {name: f"{i:02d}" for i, names in enumerate(_MONTH_NAMES, 1) for name in names}
_MONTH = "(" + "|".join(_MONTHS) + ")"
_PERIOD = re.compile(
    r"\b(?:facture|releve|mensualite|echeance|prelevement|bill|invoice|statement|payment"
    r"|direct debit)s? (?:de |d['’ ]|du mois de |du mois d['’ ]|for |of )(?:the month of )?"
    + _MONTH
    + r"\b|\b"
    + _MONTH
    + r"(?: 20\d\d)? (?:bill|invoice|statement|payment|direct debit|instalment)s?\b"
)

# Street addresses: the street's own name, capitalised (FR: type first; EN: type last).
_NAME = r"[A-ZÀ-Ý][\w'’-]*"
_FR_STREET = re.compile(
    r"(?i:\b(?:rue|avenue|av\.|boulevard|bd|cours|impasse|all[ée]e|chemin|place|quai|route"
    r"|square|passage|r[ée]sidence|lotissement))\s+"
    r"(?:(?:de la|de l['’]|des|du|de|d['’])\s*)?"
    rf"({_NAME}(?:[ -](?:{_NAME}|de|du|des|la|le|l['’]{_NAME}|d['’]{_NAME}))*)"
)
_EN_STREET = re.compile(
    rf"\b({_NAME}(?: {_NAME}){{0,2}}) "
    r"(?:Street|St|Road|Rd|Lane|Ln|Avenue|Ave|Close|Drive|Dr|Way|Place|Court|Crescent"
    r"|Terrace|Square|Gardens|Hill|Row|Parade|Mews|Grove|Walk)\b"
)
# Named places: "agence de Bron", "site de Villeurbanne"; "our Leeds branch", "office in York".
_FR_PLACE = re.compile(
    r"(?i:\b(?:agence|site|magasin|boutique|entrep[oô]t|d[ée]p[oô]t|usine|succursale"
    r"|[ée]tablissement|restaurant|antenne|bureaux?|r[ée]sidence|logement|appartement"
    r"|maison|local|locaux|chantier|immeuble|b[âa]timent|[ée]cole|h[ôo]tel|zac"
    r"|g[îi]te|cabinet|pharmacie|clinique|parc|zone))\s+"
    r"(?:de |d['’]|du |des |à |a )\s*(?:la |le |l['’])?"
    rf"({_NAME}(?:[ -](?:{_NAME}|sur|sous|en|les|le|la|de|du|des))*)"
)
_EN_PLACE = re.compile(
    rf"\b({_NAME}(?: {_NAME})?) "
    r"(?i:branch|office|site|store|shop|warehouse|depot|plant|factory|agency|premises"
    r"|restaurant|clinic|flat|house|property|building|school|hotel|surgery|pharmacy"
    r"|unit|yard|farm|campus)\b"
    r"|(?i:\b(?:branch|office|site|store|shop|warehouse|depot|plant|factory|flat|house"
    r"|property|building|school|hotel|surgery|pharmacy|unit|premises) (?:in|at)) "
    rf"({_NAME}(?: {_NAME})?)"
)
_NOT_A_NAME = frozenset(
    """
    the our your my this that these those a an head main central local registered post home
    box new old other same second first hello hi dear bonjour madame monsieur le la les un une
    notre votre mon ma mes nos vos ce cette de du des d l sur sous en
    """.split()  # noqa: SIM905
)

# A mail that says it raises another matter than the ones before.
_NEW_MATTER = re.compile(
    r"\b(?:another (?:problem|issue|question|matter|request|fault|complaint|query)"
    r"|(?:a|one) (?:second|separate|different|further|unrelated) "
    r"(?:problem|issue|question|matter|request|fault|complaint|query)"
    r"|a new (?:problem|issue|fault|outage|incident)"
    r"|(?:another|a second|a different) (?:invoice|bill|contract|order|site|property|flat"
    r"|meter|device|address|branch|office|account|policy)"
    r"|on a (?:separate|different|another|unrelated) (?:note|matter|subject|issue|point|topic)"
    r"|separate(?:ly)? (?:from|to) my (?:other|previous|earlier)"
    r"|(?:not|un)related to my (?:other|previous|earlier|last)"
    r"|nothing to do with my (?:other|previous|earlier|last)"
    r"|(?:un|une) (?:autre|deuxieme|seconde?) "
    r"(?:probleme|souci|question|demande|sujet|reclamation|panne|incident|point)"
    r"|(?:un|une) (?:nouvelle|nouveau) (?:probleme|souci|panne|incident|coupure|fuite)"
    r"|(?:un|une) (?:autre|deuxieme|seconde?) (?:facture|contrat|commande|site|logement"
    r"|compteur|appareil|adresse|agence|boutique|magasin|chantier|appartement|police)"
    r"|(?<!l )(?<!mon )(?<!ma )(?<!mes )autre (?:probleme|souci|sujet)"
    r"|(?:aussi|egalement) un (?:autre )?(?:probleme|souci)"
    r"|par ailleurs|d autre part|sans (?:aucun )?rapport avec|rien a voir avec"
    r"|independamment de (?:ma|mon|mes) (?:demande|precedent|message|autre))\b"
)
_SEPARATELY = re.compile(
    r"(?:^|[.!?]\s*)(separately|on another note|sur un autre sujet|autre chose|another thing"
    r"|new issue|nouveau probleme|nouveau sujet)\s*[,:]",
    re.M | re.I,
)
# A mail that says outright it is not about the case it writes under ("rien à voir avec la
# facture", "nothing to do with", "c'est pour une autre question", "it's a new thing"): said
# in a reply, it outweighs the headers or the case reference the reply carries.
_UNRELATED = re.compile(
    r"\b(?:rien a voir avec|n a rien a voir|sans (?:aucun )?rapport avec|nothing to do with"
    r"|(?:not|un)related to (?:my|the|this|that|your)|not about (?:my|the|this|that)"
    r"|ne concerne pas (?:ma|mon|mes|la|le|les|cette|ce|cet)"
    r"|(?:c est|cest|pour|it s|its|it is|this is|that s) (?:un|une|a|an) (?:autre|nouvelle?"
    r"|deuxieme|another|new|different|separate|second) (?:question|sujet|demande|chose"
    r"|probleme|affaire|thing|matter|issue|topic|subject|request|problem|query)"
    r"|(?:different|separate|unrelated) (?:question|matter|topic|subject|query)"
    r"|(?:un|une) (?:autre|nouveau) sujet|question differente)\b"
)
_NON_WORD = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Identifier:
    """A number and what it numbers ("invoice", "contract" …, or "ref:cn" by its prefix)."""

    kind: str
    key: str  # its digits (5+), else letters and digits: "FA 2026 00871" = "FA-2026-00871"
    text: str


@dataclass(frozen=True, slots=True)
class Site:
    """A street ("address") or a named place ("place") and its folded name words."""

    kind: str
    words: frozenset[str]
    text: str


@dataclass(frozen=True, slots=True)
class Specifics:
    """What a request names: typed identifiers, sites, amounts, the months of bills."""

    identifiers: frozenset[Identifier]
    sites: frozenset[Site]
    amounts: frozenset[str]
    months: frozenset[str] = frozenset()

    def keys(self) -> frozenset[str]:
        """Every identifier's key, whatever its kind."""
        return frozenset(i.key for i in self.identifiers)


NOTHING = Specifics(frozenset(), frozenset(), frozenset())


def specifics_of(subject: str, body: str) -> Specifics:
    """The identifiers, sites and amounts a request names (first 300 + 4,000 characters)."""
    return _specifics_of(subject[:300], body[:4000])


@lru_cache(maxsize=4096)
def _specifics_of(subject: str, body: str) -> Specifics:
    text = f"{subject}\n{body}"
    folded = strip_accents(text)
    months = frozenset(_MONTHS[next(g for g in m.groups() if g)] for m in _PERIOD.finditer(folded))
    return Specifics(
        frozenset(_identifiers(folded)),
        frozenset(_sites(text)),
        frozenset(_amounts(text)),
        months,
    )


def _key(compact: str) -> str:
    digits = "".join(c for c in compact if c.isdigit())
    return digits if len(digits) >= 5 else compact


def _kind(folded: str, start: int, compact: str) -> str:
    window = folded[max(0, start - _BEFORE_CHARS) : start]
    words = [m.group(1) for m in _KIND_WORD.finditer(window)]
    if words:
        return _KIND_OF[words[-1]]
    prefix = _LETTERS.match(compact)
    if prefix:
        return _KIND_OF.get(prefix.group(0), f"ref:{prefix.group(0)}")
    return UNTYPED


def _identifiers(folded: str) -> list[Identifier]:
    found: list[Identifier] = []
    taken = bytearray(len(folded) + 1)  # 1 where a spaced number already read lies
    for match in _SPACED.finditer(folded):
        compact = match.group(0).replace(" ", "")
        if is_identifier(compact):
            taken[match.start() : match.end()] = b"\x01" * (match.end() - match.start())
            kind = _kind(folded, match.start(), compact)
            found.append(Identifier(kind, _key(compact), match.group(0).upper()))
    for match in _TOKEN.finditer(folded):
        raw = match.group(0).strip(".")
        compact = re.sub(r"[-/.]", "", raw)
        if taken[match.start()] or _DATE.fullmatch(raw) or not is_identifier(compact):
            continue
        found.append(Identifier(_kind(folded, match.start(), compact), _key(compact), raw.upper()))
    return found


def _name_words(name: str) -> frozenset[str]:
    words = {w for w in _NON_WORD.split(strip_accents(name)) if len(w) >= 2}
    return frozenset(words - _NOT_A_NAME)


def _sites(text: str) -> list[Site]:
    found: list[Site] = []
    for kind, pattern in (
        ("address", _FR_STREET),
        ("address", _EN_STREET),
        ("place", _FR_PLACE),
        ("place", _EN_PLACE),
    ):
        for match in pattern.finditer(text):
            name = next(g for g in match.groups() if g)
            words = _name_words(name)
            if words:
                found.append(Site(kind, words, name.strip()))
    return found


def _amounts(text: str) -> list[str]:
    found = []
    for match in _AMOUNT.finditer(text):
        raw = next(g for g in match.groups() if g)
        digits = re.sub(r"[ \u00a0\u202f]", "", raw)
        split = _CENTS.match(digits)
        whole, cents = (split.group(1), split.group(2)) if split else (digits, None)
        whole = re.sub(r"[.,]", "", whole)
        if whole:
            found.append(f"{int(whole)}.{(cents or '0').ljust(2, '0')}")
    return found


def says_new_matter(subject: str, body: str) -> str | None:
    """The words by which a mail says it raises another matter ("autre problème",
    "par ailleurs", "another issue", "on a separate note"), or None."""
    folded = strip_accents(f"{subject}\n{body[:3000]}")
    opening = _SEPARATELY.search(folded)
    if opening:
        return opening.group(1)
    flat = " ".join(_NON_WORD.split(folded)).strip()
    match = _NEW_MATTER.search(flat) or _UNRELATED.search(flat)
    return match.group(0) if match else None


def says_unrelated(subject: str, body: str) -> str | None:
    """The words by which a mail says outright it is not about what it replies to ("rien à
    voir avec", "nothing to do with", "c'est pour une autre question", "it's a new thing",
    "different question"), or None: a stronger cue than "par ailleurs" or "another bill"."""
    folded = strip_accents(f"{subject}\n{body[:3000]}")
    match = _UNRELATED.search(" ".join(_NON_WORD.split(folded)).strip())
    return match.group(0) if match else None


# A reply that corrects what it said before, or answers the agent's question: the numbers it
# names are the case's own, not another matter's.
_CORRECTION = re.compile(
    r"\b(?:my (?:mistake|bad|error)|i made (?:a|an) (?:mistake|error|typo)|typo|i meant"
    r"|should (?:read|have been|be)|(?:the )?(?:right|correct) (?:number|reference|one|invoice"
    r"|contract|order) is|wrong (?:number|reference|invoice|contract|order)|instead of"
    r"|not the one i (?:gave|sent|wrote)|as (?:you )?requested|as you asked|you asked (?:for|me)"
    r"|(?:to|in) answer (?:to )?your question|in reply to your question"
    r"|here (?:is|are) the (?:number|reference|details|information|document)"
    r"|voici (?:le|la|les) (?:numero|reference|information|element|detail|document)s?"
    r"|je me suis trompee?|erreur de ma part|petite erreur|coquille|faute de frappe"
    r"|je voulais dire|il fallait lire|au lieu de|et non (?:pas )?(?:la|le|l|celle|celui)"
    r"|(?:le|la) (?:bon|bonne|vrai|vraie) (?:numero|reference|facture|contrat|commande)"
    r"|(?:numero|reference) (?:correct|exact)e?|mauvais numero|mauvaise reference"
    r"|comme (?:vous me l avez |vous l avez )?demande|suite a votre (?:demande|question)"
    r"|vous m avez demande|(?:pour|en) repon(?:se|dre) a votre question)\b"
)


def says_correction(subject: str, body: str) -> str | None:
    """The words by which a reply corrects itself or answers a question ("sorry, I meant",
    "je me suis trompé", "comme demandé"), or None."""
    folded = strip_accents(f"{subject}\n{body[:3000]}")
    match = _CORRECTION.search(" ".join(_NON_WORD.split(folded)).strip())
    return match.group(0) if match else None


@dataclass(frozen=True, slots=True)
class Comparison:
    """What a new request and a case's requests name alike, and where they disagree."""

    shared: tuple[str, ...]  # identifiers or sites both name
    conflicts: tuple[str, ...]  # "invoice F2026-11-0587, not F2026-10-4412"
    differ: tuple[str, ...]  # weak evidence: "amounts 120.00, not 84.50"
    party: tuple[str, ...] = ()  # a customer or account number both name: who, not what
    alike: tuple[str, ...] = ()  # amounts both name: weak evidence for
    months: tuple[str, ...] = ()  # months of bills both name: evidence for a chase only
    other_months: tuple[str, ...] = ()  # bills of months the case never names, none it names
    matter: tuple[str, ...] = ()  # the shared identifiers that number one matter (a bill …)


def compare(
    new: Specifics,
    new_words: frozenset[str],
    case: Specifics,
    case_words: frozenset[str],
    ignore: frozenset[str] = frozenset(),
) -> Comparison:
    """Compare what a new request names with what a case's requests named (`*_words`: their
    topic words, stemmed as `bot.topic` keeps them; `ignore`: the sender's name words, so
    that "Patel Pharmacy" under a signature is no site).

    Identifiers: a conflict when the new request names a kind the case names too and none
    of its values appears anywhere in the case (any kind). A customer or account number never
    counts; a bare number of unknown kind never conflicts. Sites (signatures and company
    names repeat them): a conflict when each side names a site of one kind that the other
    side's words never mention. Shared: an identifier both name, a site both mention. Alike:
    an amount both name (weak: a second signal, never a case's name; not a bill's month,
    which one person's two questions about this month's bill share)."""
    shared: list[str] = []
    matter: list[str] = []
    conflicts: list[str] = []
    case_keys = case.keys()
    for kind in sorted({i.kind for i in new.identifiers} - IGNORED_KINDS):
        mine = [i for i in new.identifiers if i.kind == kind]
        hits = [i for i in mine if i.key in case_keys]
        shared.extend(f"{kind} {i.text}" for i in hits)
        if kind in MATTER_KINDS or kind.startswith("ref:"):
            matter.extend(f"{kind} {i.text}" for i in hits)
        named = sorted({i.text for i in case.identifiers if i.kind == kind})
        if named and not hits and kind != UNTYPED:
            conflicts.append(f"{_label(kind)} {mine[0].text}, not {', '.join(named[:3])}")
    new_sites = [s for s in new.sites if not _stems(s.words) <= ignore]
    case_sites = [s for s in case.sites if not _stems(s.words) <= ignore]
    new_site_words = _stems(frozenset().union(*(s.words for s in new_sites))) | new_words
    case_site_words = _stems(frozenset().union(*(s.words for s in case_sites))) | case_words
    for kind in ("address", "place"):
        new_only = [
            s for s in new_sites if s.kind == kind and not _stems(s.words) & case_site_words
        ]
        case_only = [
            s for s in case_sites if s.kind == kind and not _stems(s.words) & new_site_words
        ]
        if new_only and case_only:
            theirs = ", ".join(sorted({s.text for s in case_only})[:3])
            conflicts.append(f"{kind} {new_only[0].text}, not {theirs}")
    both = {s.text for s in new_sites if _stems(s.words) & case_site_words}
    both |= {s.text for s in case_sites if _stems(s.words) & new_words}
    shared.extend(f"site {text}" for text in sorted(both))
    differ: list[str] = []
    other_months: list[str] = []
    if new.amounts and case.amounts and not new.amounts & case.amounts:
        differ.append(f"amounts {_list(new.amounts)}, not {_list(case.amounts)}")
    if new.months and case.months and not new.months & case.months:
        differ.append(f"bill of month {_list(new.months)}, not {_list(case.months)}")
        other_months.append(differ[-1])
    party = sorted(
        {i.text for i in new.identifiers if i.kind in IGNORED_KINDS and i.key in case_keys}
    )
    alike = [f"amount {a}" for a in sorted(new.amounts & case.amounts)]
    months = [f"bill of month {m}" for m in sorted(new.months & case.months)]
    return Comparison(
        tuple(shared),
        tuple(conflicts),
        tuple(differ),
        tuple(party),
        tuple(alike),
        tuple(months),
        tuple(other_months),
        tuple(matter),
    )


def _list(values: frozenset[str]) -> str:
    return ", ".join(sorted(values))


def _stems(words: frozenset[str]) -> frozenset[str]:
    return frozenset(stem(w) for w in words)


def _label(kind: str) -> str:
    return "reference" if kind.startswith("ref:") else kind


def union(items: list[Specifics]) -> Specifics:
    """Everything several requests named."""
    if not items:
        return NOTHING
    return Specifics(
        frozenset().union(*(s.identifiers for s in items)),
        frozenset().union(*(s.sites for s in items)),
        frozenset().union(*(s.amounts for s in items)),
        frozenset().union(*(s.months for s in items)),
    )
