"""Administrative updates read from French and English mail, each field with a confidence.

Fields: postal_address, phone (E.164, `phonenumbers`), email, company_name, billing_contact,
iban (compact, checksum validated with `schwifty`). A field is extracted only next to a cue
that announces a change ("nouveau numéro", "new e-mail address"…) and never from a value
the mail calls old, kept, someone else's or takes back further down (bot/extract/turns.py).
Each value carries the doubts the checks of bot/extract/checks.py have about applying it
unseen, and those of the mail around it: another value of its kind not said old, other
contact details not read as a change, a correction, a mail written for someone else, a
request for credentials, and what the rest of the mail says (bot/extract/mail_doubts.py:
second thoughts after the value, a change already made, another person named).
`plan_update` then decides what may be applied: a single field (or a phone and an e-mail
together), confident and without a doubt, from a verified sender (bot/verify.py); bank
details never; everything else is a note for an agent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import islice

import phonenumbers
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from bot.extract.checks import email_doubts, phone_doubts
from bot.extract.context import (
    INTRODUCING,
    NEW_WORD,
    OLD_WORD,
    ON_BEHALF,
    called_old,
    called_old_after,
    is_question,
    own_text,
    sender_context,
    sentence_end,
    sentence_start,
    someone_elses,
)
from bot.extract.details import labelled_details, may_hold_details
from bot.extract.mail_doubts import mail_doubts, persons_value
from bot.extract.postal import (
    POSTCODES,
    address_from_lines,
    find_address,
    find_bare_address,
    may_hold_address,
    postcode_format,
)
from bot.extract.turns import last_turn, retracted_below

CONFIDENT = 0.9
MAX_CHARS = 20_000
MAX_CANDIDATES = 20  # values of a kind looked at in one mail (a real one has a few)
FIELDS = ("postal_address", "phone", "email", "company_name", "billing_contact", "iban")

_REGION = {"fr": "FR", "en": "GB", "be": "BE", "ch": "CH", "ca": "CA", "us": "US",
           "gb": "GB", "uk": "GB", "ie": "IE", "au": "AU"}  # fmt: skip
_NEW = (  # whole words: "known" holds no "now"
    r"\b(?:nouveaux?|nouvel(?:les?)?|new|updated|mis\s+[àa]\s+jour|d[ée]sormais|now|chang[ée]s?"
    r"|changed?|chang(?:er|ez|ement|ing)"
    r"|dor[ée]navant|[àa]\s+compter\s+d[ue]|as\s+of|going\s+forward)\b"
)
# A number that is no phone's: "numéro de contrat", "account number", "n° client".
_NOT_A_PHONE = (
    r"(?:client|contrat|facture|commande|dossier|compte|compteur|siret|siren|tva|pdl|pce|police|"
    r"s[ée]rie|r[ée]f[ée]rence|adh[ée]rent|abonn[ée]|sinistre|ticket|suivi)"
)
_PHONE_NOUN = (
    rf"(?:num[ée]ro(?!\s+(?:de\s+|d['’])?{_NOT_A_PHONE})|t[ée]l[ée]phone|t[ée]l\b|portable|mobile"
    r"|phone|(?<!account )(?<!contract )(?<!customer )(?<!meter )(?<!policy )(?<!order )"
    r"(?<!reference )(?<!invoice )(?<!tracking )(?<!case )(?<!ticket )(?<!claim )(?<!serial )"
    r"(?<!vat )(?<!company )number|ligne|fixe|standard"
    rf"|joindre|reach|call|gsm|natel|cell(?:phone)?|n[°º](?!\s*(?:de\s+)?{_NOT_A_PHONE}))"
)
_PHONE_CUE = re.compile(
    rf"{_NEW}[^\n.]{{0,40}}?{_PHONE_NOUN}|(?:num[ée]ro|t[ée]l[ée]phone|phone|number|mobile|cell"
    rf"(?:phone)?|portable|gsm|natel|fixe|landline)[^\n.]{{0,30}}?{_NEW}|"
    # "… n'est plus le bon, le nouveau est le 06 …", "the correct number is …"
    r"\b(?:le|the)\s+(?:nouveau|new\s+one)\s+(?:est|c['’]est|is)\b|"
    r"\b(?:the|le)\s+(?:correct|right|bon)\s+(?:phone\s+)?(?:number|num[ée]ro)\s+(?:is|est)\b|(?:mon|ma|notre|my|our)\s+(?:\w+\s+)?{_PHONE_NOUN}\s+"
    rf"(?:sera|will\s+be|devient)|(?:update|change|changer|modifier)\b[^\n.]{{0,30}}?"
    rf"{_PHONE_NOUN}[^\n.]{{0,20}}?\b(?:to|en|par|pour)\b"
    # a "Tél :" line in the block of new details the sender announces
    r"|(?:nouvelles\s+coordonn[ée]es|new\s+(?:contact\s+)?details)[^\n]*(?:\n[^\n]+){0,6}?"
    r"\n\s*(?:t[ée]l[ée]?(?:phone)?|phone|mobile|portable|gsm)\b\.?\s*:?"
    # "remplacer le 01 … par le 06 …", "replace 0161 … with 0161 …": the value after par/with
    r"|(?:remplac\w*|replace)\b[^\n.]{0,60}?\b(?:par|with|by)\b",
    re.I,
)
_EMAIL_NOUN = (
    r"(?:adresse\s+(?:e-?mail|mail|[ée]lectronique|courriel)|e-?mail(?:\s+address)?|courriel|mail"
    r"|adresse|address)\b"
)
_EMAIL_CUE = re.compile(
    rf"{_NEW}[^\n.]{{0,30}}?{_EMAIL_NOUN}|{_EMAIL_NOUN}[^\n.]{{0,30}}?{_NEW}"
    rf"|(?:mon|ma|notre|my|our)\s+(?:\w+\s+)?{_EMAIL_NOUN}\s+(?:sera|will\s+be|devient)"
    rf"|(?:update|change|changer|modifier|remplac\w*|replace)\b[^\n.]{{0,30}}?{_EMAIL_NOUN}"
    rf"[^\n.]{{0,20}}?\b(?:to|en|par|pour|with|by)\b"
    # the sender's block of new details, inline or an "E-mail :" line of it
    r"|(?:nouvelles\s+coordonn[ée]es|new\s+(?:contact\s+)?details)\b(?:[^\n]*(?:\n[^\n]+){0,6}?"
    r"\n\s*(?:e-?mail|courriel|mail)\b\.?\s*:)?",
    re.I,
)
# "désormais écrivez-moi à …", "write to me at … from now on": counts only with a new word
# in the sentence (bot/extract/context.py NEW_WORD).
_WRITE_CUE = re.compile(
    r"(?:m['’][ée]crire|[ée]crivez[- ](?:moi|nous)|write\s+to\s+(?:me|us)|e-?mail\s+(?:me|us))"
    r"\s+(?:\w+\s+){0,2}?(?:sur|à|a|at|on|to)\b"
    # "please use tom.r@… for all e-mails going forward", "utiliser à l'avenir l'adresse
    # suivante :", "mettre jf.g@… à la place"
    r"|\b(?:use|utiliser|utilisez|mettre|mettez)\b",
    re.I,
)
_OLD = re.compile(
    r"\b(?:ancien(?:ne)?|old|previous|former|pr[ée]c[ée]dent(?:e)?|instead\s+of|au\s+lieu\s+de"
    r"|plus\s+valable|no\s+longer)\b",
    re.I,
)
_EMAIL = re.compile(r"[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}\.[a-z]{2,24}\b", re.I)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
_COMPANY = re.compile(
    r"(?:nouvelle\s+(?:raison\s+sociale|d[ée]nomination(?:\s+sociale)?)|"
    r"(?:raison\s+sociale|d[ée]nomination(?:\s+sociale)?)\s+(?:devient|est\s+d[ée]sormais|"
    r"a\s+chang[ée]\s+(?:pour|en))|"
    r"(?:notre\s+)?(?:soci[ée]t[ée]|entreprise)\s+(?:s'appelle|se\s+nomme|devient)\s+d[ée]sormais|"
    r"(?:notre\s+)?(?:soci[ée]t[ée]|entreprise)\s+(?:s'appelle|devient)|"
    r"new\s+(?:company|legal|business|trading)\s+name|"
    r"(?:company|business)\s+(?:name\s+)?(?:is\s+now|has\s+(?:been\s+)?(?:changed|renamed)\s+to)|"
    r"(?:are|is)\s+now\s+(?:called|named|trading\s+as|known\s+as)|renamed\s+to|rebranded\s+as|"
    r"nous\s+nous\s+(?:appelons|nommons)\s+(?:d[ée]sormais|maintenant|dor[ée]navant)|"
    r"(?:notre\s+)?(?:soci[ée]t[ée]|entreprise)\s+(?:s'appelle|se\s+nomme)\s+(?:maintenant|dor[ée]navant)|"
    # "la raison sociale figurant sur nos contrats, qui devient :", "the surviving entity name
    # is:", "update the account name to", "is now operating as", "le nom sur les factures
    # doit être maintenant :"
    r"(?:raison\s+sociale|d[ée]nomination(?:\s+sociale)?|(?:company|entity|account|legal|"
    r"registered|business|trading)\s+name)\b[^\n.:;]{0,40}?\b(?:devient|will\s+be|is\s+now|"
    r"(?<=name\s)is|to|sera)\s*:?|"
    r"(?:is\s+now\s+)?(?:operating|trading)\s+(?:as|under\s+the\s+name)|"
    r"nom\s+(?:sur|de)\s+(?:les|nos|la)\s+factures?\s+(?:doit|devra)\s+[êe]tre\s+"
    r"(?:maintenant|d[ée]sormais|dor[ée]navant)\s*:?)"
    r"\s*(?:est|is|:|-|–|to|en|à)?\s*",
    re.I,
)
_BILLING = re.compile(
    r"(?:nouve(?:au|lle)\s+(?:contact|interlocut(?:eur|rice)|responsable)\s+(?:pour\s+la\s+|de\s+la\s+|du\s+service\s+|de\s+)?"
    r"(?:facturation|comptabilit[ée])|(?:contact|interlocut(?:eur|rice)|responsable)\s+"
    r"(?:pour\s+la\s+|de\s+)?(?:facturation|comptabilit[ée])\s+(?:est\s+)?d[ée]sormais|"
    r"new\s+(?:billing|accounts?\s+payable|invoicing)\s+contact|"
    r"(?:billing|invoicing|accounts?\s+payable)\s+contact\s+(?:is\s+now|will\s+(?:now\s+)?be|"
    r"has\s+changed\s+to))"
    r"\s*(?:est|is|sera|will\s+be|:|-|–)?\s*",
    re.I,
)
_NAME_END = re.compile(
    r"\s*(?:[(<;!\n]|,(?!\s*(?-i:LLC|L\.L\.C\.|Inc\b|Ltd\b|LLP|PLC|SA\b|SAS\b|SARL|GmbH|Pty))|\.(?=\s|$)|\b(?:et|and)\b(?!\s+(?-i:[A-ZÀ-Ý]))|\bqui\b|\bwho\b"
    r"|\bà\s+compter\b|\bas\s+of\b"
    r"|\bfrom\b|\bdepuis\b|\bjoignable\b|\breachable\b)",
    re.I,
)


@dataclass(frozen=True, slots=True)
class FieldValue:
    """One extracted value and how sure the extractor is (0..1)."""

    value: str
    confidence: float
    doubts: tuple[str, ...] = ()  # why it may not be applied unseen (bot/extract/checks.py)


@dataclass(slots=True)
class AdminUpdate:
    """What a mail asks to change on the contact."""

    fields: dict[str, FieldValue] = field(default_factory=dict)

    def values(self) -> dict[str, str]:
        """The extracted values by field name."""
        return {name: fv.value for name, fv in self.fields.items()}

    def confident(self, threshold: float = CONFIDENT) -> bool:
        """Whether every extracted field is at or over `threshold`."""
        return bool(self.fields) and all(f.confidence >= threshold for f in self.fields.values())


def region_for(locale: str | None, lang: str | None = None) -> str:
    """The phone region for a locale ("fr-BE" → "BE", "en" → "GB")."""
    tag = (locale or lang or "fr").replace("_", "-").lower().split("-")
    return _REGION.get(tag[-1], _REGION.get(tag[0], "FR"))


def _cued(text: str, cue: re.Pattern[str], start: int, end: int) -> bool:
    """Whether a change cue in the 160 characters before `start` owns the value (context.py)."""
    window_start = max(0, start - 160)
    cues = list(cue.finditer(text, window_start, start))
    return bool(cues) and sender_context(text, cues[-1].start(), start, end)


def extract_phone(text: str, region: str) -> FieldValue | None:
    """The new phone number (E.164) the sender announces as their own.

    A cued number that is valid for its region is confident; one that is only possible
    (a reserved or unallocated range) is a note. Two different cued numbers: None.
    """
    found: dict[str, float] = {}
    doubts: dict[str, tuple[str, ...]] = {}
    for match in phonenumbers.PhoneNumberMatcher(
        text, region, leniency=phonenumbers.Leniency.POSSIBLE, max_tries=200
    ):
        if called_old(text, match.start) or not _cued(text, _PHONE_CUE, match.start, match.end):
            continue
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        valid = phonenumbers.is_valid_number(match.number)
        found[e164] = max(found.get(e164, 0.0), 0.95 if valid else 0.6)
        doubts[e164] = phone_doubts(match.number, region)
    if len(found) != 1:
        return None
    value, confidence = found.popitem()
    return FieldValue(value, confidence, doubts[value])


def extract_email(text: str, sender: str | None) -> FieldValue | None:
    """The new e-mail address the sender announces as their own (never the sender's own:
    whether that one is already on file, the mail does not tell)."""
    own = (sender or "").lower()
    candidates: set[str] = set()
    for match in _EMAIL.finditer(text):
        address = match.group(0).rstrip(".").lower()
        if address == own or called_old(text, match.start()):
            continue
        if _cued(text, _EMAIL_CUE, match.start(), match.end()):
            candidates.add(address)
        elif _cued(text, _WRITE_CUE, match.start(), match.end()):
            sentence = text[sentence_start(text, match.start()) : sentence_end(text, match.end())]
            if NEW_WORD.search(sentence):
                candidates.add(address)
    if len(candidates) == 1:
        address = candidates.pop()
        return FieldValue(address, 0.95, email_doubts(address, sender))
    return None


def extract_iban(text: str) -> FieldValue | None:
    """The IBAN in the mail (compact), with its checksum validated; None when two different
    ones are not told apart as old and new, or when the mail announces no change ("voici mon
    RIB pour le remboursement"), or gives it as someone else's, asked about or hedged."""
    if not INTRODUCING.search(text):
        return None
    found: set[str] = set()
    for match in islice(_IBAN.finditer(text.upper()), MAX_CANDIDATES):
        lead = text[sentence_start(text, match.start()) : match.start()]
        if (
            called_old(text, match.start())
            or called_old_after(text, match.end())
            or someone_elses(lead)
            or is_question(text, match.end())
        ):
            continue
        try:
            found.add(IBAN(match.group(0)).compact)
        except (SchwiftyException, ValueError):
            continue
    return FieldValue(found.pop(), 0.99) if len(found) == 1 else None


_HONORIFIC = re.compile(r"^(?:M\.|Mme\.?|Mlle\.?|Madame|Monsieur|Mr\.?|Mrs\.?|Ms\.?|Miss|Dr\.?)\s+")


# A statement that names the field itself ("nouvelle raison sociale :", "new billing contact
# is"): the only wording under which a name may be applied unseen.
_NAMES_THE_FIELD = re.compile(
    r"raison\s+sociale|d[ée]nomination|(?:company|legal|business|trading)\s+name|"
    r"(?:contact|interlocut\w+|responsable)\s+(?:(?:pour\s+la|de\s+la|du\s+service|de)\s+)?"
    r"(?:facturation|comptabilit[ée])|(?:billing|invoicing|accounts?\s+payable)\s+contact",
    re.I,
)
# What may follow a name that a statement gives outright: the end of its sentence or line.
_STATEMENT_END = re.compile(r"\s*[«»\"'“”]?\s*(?:[.!]?\s*(?:\n|$)|[.!]\s)")


def _name_doubts(text: str, cue: re.Match[str], name_end: int) -> tuple[str, ...]:
    """Whether a name is stated outright: the statement names the field and ends with it."""
    if _NAMES_THE_FIELD.search(cue.group(0)) and _STATEMENT_END.match(text, name_end):
        return ()
    return ("name_not_stated_outright",)


_PARTICLES = frozenset({
    "de", "du", "des", "d'", "la", "le", "les", "l'", "et", "&", "and", "of", "the", "von",
    "van", "der", "den", "da", "di", "del", "della", "y", "+", "-",
})  # fmt: skip


def _trim_name(name: str) -> str:
    """A name without the words of the sentence that run on after it: it stops at a lower-case
    word that is no particle ("Les Jardins de Marie suite au rachat"), or at a particle before
    a date ("SAS Martin le 1er janvier")."""
    words = name.split()
    kept = words[:1]
    for k, word in enumerate(words[1:], start=1):
        particle = word.lower() in _PARTICLES
        if re.match(r"(?i:[ld])['’][A-ZÀ-Ý]", word):  # "Les Fournils de l'Allier"
            kept.append(word)
            continue
        if particle and k + 1 < len(words) and words[k + 1][:1].isdigit():
            break
        if not (particle or word[:1].isupper() or word[:1].isdigit()):
            break
        kept.append(word)
    while len(kept) > 1 and kept[-1].lower() in _PARTICLES:
        kept.pop()
    return " ".join(kept)


def _name_after(text: str, cue: re.Pattern[str]) -> tuple[str, int, tuple[str, ...]] | None:
    for match in cue.finditer(text):
        if called_old(text, match.start()):
            continue
        rest = text[match.end() : match.end() + 120].lstrip(" \t«»\"'“”:")
        rest = _HONORIFIC.sub("", rest)
        name = _NAME_END.split(rest, maxsplit=1)[0].strip(" \t«»\"'“”:")
        raw = _HONORIFIC.sub("", name)
        name = _trim_name(raw)
        if not 1 < len(name) <= 80 or (name != raw and len(name.split()) == 1):
            continue  # "Boulangerie du coin" cut to "Boulangerie": where it ends is a guess
        if not sender_context(text, match.start(), match.end(), match.end() + len(name)):
            continue
        name_end = text.find(name, match.end()) + len(name)
        return name, match.end(), _name_doubts(text, match, name_end)
    return None


# A person's name may be a "legal name" or an "account name" too: under those words only a
# name with a legal form is a company's ("changed my legal name to Alex Morgan" is not).
_A_PERSONS_NAME_TOO = re.compile(r"\b(?:legal|account|registered)\s+name\b[^\n]*$", re.I)
_LEGAL_FORM = re.compile(
    r"\b(?:ltd|limited|llc|l\.l\.c|llp|plc|inc|corp(?:oration)?|co|gmbh|ag|pty|sa|sas|sasu|sarl|"
    r"s[àa]rl|eurl|sci|snc|srl|sprl|bv|nv|scop|group|groupe|holdings?|partners|associ[ée]s)\b\.?",
    re.I,
)


# The words of a rename: "merged", "the surviving entity", "rebranded", "rachat".
_RENAMED = re.compile(
    r"\b(?:rebrand\w*|renam\w*|rachat|rachet[ée]e?s?|acqui\w+|fusion\w*|merge[ds]?|merger|"
    r"amalgamat\w*|absor\w+|surviving|forme\s+juridique|restructur\w*|trading\s+as|"
    r"operating\s+as|s['’]appelle|se\s+nomme|appelons|nommons|called|known\s+as|devient|"
    r"became|become)\b",
    re.I,
)


def extract_company(text: str) -> FieldValue | None:
    """The new company name a mail announces."""
    found = _name_after(text, _COMPANY)
    if not found:
        return None
    name, cue_end, doubts = found
    if _A_PERSONS_NAME_TOO.search(text[max(0, cue_end - 80) : cue_end]) and not _LEGAL_FORM.search(
        name
    ):
        return None
    lead = text[max(0, cue_end - 250) : cue_end]
    if not (INTRODUCING.search(lead) or _RENAMED.search(lead)):
        return None  # "Our business name is Acme Ltd": a name given, no change announced
    words = name.split()
    return FieldValue(name, 0.92 if 1 <= len(words) <= 6 else 0.5, doubts)


# Invoices sent to a person from now on: "adresser dorénavant les factures à l'attention de
# M. Thierry Caron", "address all invoices to Mr David Okafor", "send the invoices to our new
# bookkeeper, Ms Orla Gallagher". Read only when a person's name follows.
_INVOICES_TO = re.compile(
    r"\b(?:factures?|invoices?|bills?|statements?)\b[^\n.:;]{0,60}?"
    r"(?:\b[àa]\s+l['’]attention\s+d[e']|\b(?:to\s+)?the\s+attention\s+of"
    r"|\b(?:to|[àa])\s+(?:(?:our|my|notre|mon|ma)\s+(?:new\s+|nouve(?:au|lle)\s+)?[^\W\d]+,?\s+)?"
    r"(?=(?-i:M\.|Mme|Mlle|Mr|Mrs|Ms|Miss|Dr)\b))\s*",
    re.I,
)


def _a_person(name: str) -> bool:
    words = name.split()
    return 2 <= len(words) <= 4 and all(w[:1].isupper() for w in words)


def extract_billing_contact(text: str) -> FieldValue | None:
    """The new billing contact (a person's name) a mail announces."""
    found = _name_after(text, _BILLING)
    if not found:
        to = _name_after(text, _INVOICES_TO)
        if (
            to is None
            or not _a_person(to[0])
            or not NEW_WORD.search(text[sentence_start(text, to[1]) : sentence_end(text, to[1])])
        ):
            return None
        found = to
    name, _, doubts = found
    return FieldValue(name, 0.92 if _a_person(name) else 0.5, doubts)


_SUBJECT_PHONE = re.compile(
    r"(?:nouveau|changement\s+de)\s+(?:num[ée]ro|t[ée]l[ée]phone|portable|mobile|gsm)|"
    r"new\s+(?:phone|mobile|telephone|contact)\s*(?:number)?|(?:phone|number)\s+change",
    re.I,
)
_SUBJECT_EMAIL = re.compile(
    r"(?:nouvel(?:le)?|changement\s+d['’])\s*(?:adresse\s+)?(?:e-?mail|mail|courriel)|"
    r"new\s+e-?mail|e-?mail\s+(?:address\s+)?(?:change|update)",
    re.I,
)


def _on_a_bare_line(text: str, start: int, end: int) -> bool:
    """Whether a value stands nearly alone on its line (at most three words beside it, no
    question)."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    rest = text[line_start:start] + " " + text[end : len(text) if line_end < 0 else line_end]
    return "?" not in rest and len(re.findall(r"\w+", rest)) <= 3


def _bare_value(subject: str, body: str, region: str, sender: str | None) -> dict[str, FieldValue]:
    """A phone or e-mail the body gives bare, alone of its kind, under a subject announcing
    it ("Nouveau numéro" / "Bonjour, 06 12 34 56 78. Merci"): noted, never applied unseen."""
    if OLD_WORD.search(body) or someone_elses(body):
        return {}
    found: dict[str, FieldValue] = {}
    doubt = ("introduced_only_by_the_subject",)
    if _SUBJECT_PHONE.search(subject):
        matches = list(
            phonenumbers.PhoneNumberMatcher(
                body, region, leniency=phonenumbers.Leniency.VALID, max_tries=50
            )
        )
        numbers = {
            phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164): m.number
            for m in matches
        }
        if len(numbers) == 1 and all(_on_a_bare_line(body, m.start, m.end) for m in matches):
            ((e164, number),) = numbers.items()
            found["phone"] = FieldValue(e164, 0.95, phone_doubts(number, region) + doubt)
    if _SUBJECT_EMAIL.search(subject):
        own = (sender or "").lower()
        seen = [m for m in _EMAIL.finditer(body) if m.group(0).rstrip(".").lower() != own]
        addresses = {m.group(0).rstrip(".").lower() for m in seen}
        if len(addresses) == 1 and all(_on_a_bare_line(body, m.start(), m.end()) for m in seen):
            address = addresses.pop()
            found["email"] = FieldValue(address, 0.95, email_doubts(address, sender) + doubt)
    return found


def _from_details(body: str, region: str, sender: str | None) -> dict[str, FieldValue]:
    """The fields of a block of labelled new details (bot/extract/details.py)."""
    found: dict[str, FieldValue] = {}
    details = labelled_details(body)
    if "phone" in details:
        value = details["phone"][0]
        numbers = list(
            phonenumbers.PhoneNumberMatcher(
                value, region, leniency=phonenumbers.Leniency.POSSIBLE, max_tries=5
            )
        )
        if len(numbers) == 1:
            number = numbers[0].number
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            valid = phonenumbers.is_valid_number(number)
            found["phone"] = FieldValue(e164, 0.95 if valid else 0.6, phone_doubts(number, region))
    if "email" in details:
        addresses = {m.group(0).rstrip(".").lower() for m in _EMAIL.finditer(details["email"][0])}
        if len(addresses) == 1 and (address := addresses.pop()) != (sender or "").lower():
            found["email"] = FieldValue(address, 0.95, email_doubts(address, sender))
    if "billing_contact" in details:
        name = _trim_name(_HONORIFIC.sub("", _NAME_END.split(details["billing_contact"][0])[0]))
        words = name.split()
        if 2 <= len(words) <= 4 and all(w[:1].isupper() for w in words):
            found["billing_contact"] = FieldValue(name, 0.92)
    if "postal_address" in details:
        value, more = details["postal_address"]
        block = address_from_lines([value, *more], region)
        if block:
            found["postal_address"] = FieldValue(block.text, block.confidence, block.doubts)
    return found


def _corrected(kind: str, text: str, region: str, sender: str | None) -> FieldValue | None:
    """The one phone, e-mail or IBAN given after a correction ("sorry, typo, it's …")."""
    doubt = ("corrected_later_in_the_mail",)
    if kind == "phone":
        numbers = {
            phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164): m.number
            for m in phonenumbers.PhoneNumberMatcher(
                text, region, leniency=phonenumbers.Leniency.POSSIBLE, max_tries=50
            )
            if not called_old(text, m.start)
        }
        if len(numbers) == 1:
            ((e164, number),) = numbers.items()
            sure = 0.95 if phonenumbers.is_valid_number(number) else 0.6
            return FieldValue(e164, sure, phone_doubts(number, region) + doubt)
    if kind == "email":
        own = (sender or "").lower()
        addresses = {
            m.group(0).rstrip(".").lower()
            for m in _EMAIL.finditer(text)
            if not called_old(text, m.start())
        } - {own}
        if len(addresses) == 1:
            address = addresses.pop()
            return FieldValue(address, 0.95, email_doubts(address, sender) + doubt)
    if kind == "iban":
        found = extract_iban(text)
        return FieldValue(found.value, found.confidence, doubt) if found else None
    return None


# A letter glued to a digit ("Tel06 …", "par06 …"): a phone cue ending in a word boundary
# (`t[ée]l\b`, `\bpar\b`) matches the text cut where the number starts, as `_cued` cuts it,
# though it does not match the whole text.
_LETTER_THEN_DIGIT = re.compile(r"[^\W\d_]\d")


# A word every branch of the cue holds (one of them): cheaper to look for than the cue.
_PHONE_CUE_WORDS = re.compile(
    r"nouve|new|update|mis\s+[àa]\s+jour|d[ée]sormais|now|chang|dor[ée]navant|compter|as\s+of"
    r"|going\s+forward"
    r"|sera|will|devient|modifier|remplac|replace|correct|right|\bbon\b",
    re.I,
)
_COMPANY_WORDS = re.compile(
    r"nouve|new|devient|d[ée]sormais|chang|appel|nomm|now|renamed|rebranded|raison|nomination"
    r"|name|operating|trading|\bnom\s",
    re.I,
)


def _cue_in(words: re.Pattern[str], cue: re.Pattern[str], text: str) -> bool:
    return words.search(text) is not None and cue.search(text) is not None


def may_announce_change(subject: str, body: str, text: str) -> bool:
    """Whether any extractor of `extract_admin_update` could find a field (a cheap check).

    Each extractor needs its own cue somewhere, so a mail without any is none of them:
    phone, a phone cue (`_cued` reads it in a window that ends where the number starts: a
    cue ending in a word boundary may match there only, when a letter is glued to the
    number); e-mail, an "@"; company and billing contact, their cues in the body (billing:
    the contact cue or invoices sent to someone); IBAN, the IBAN pattern; an address, its cue
    or the subject's; a details block, its cue; a bare value, the subject's cue. `subject`,
    `body` and `text` are as `_extract` gets them. Cheapest checks first; a long cue only
    once a word it needs is there. A new cue in an extractor must be added here too:
    tests/test_admin_update_gate.py compares gated and full extraction on every mail we have.
    """
    return bool(
        _LETTER_THEN_DIGIT.search(text)
        or "@" in text
        or _SUBJECT_PHONE.search(subject)
        or _SUBJECT_EMAIL.search(subject)
        or may_hold_address(subject, body)
        or may_hold_details(body)
        or _BILLING.search(body)
        or _INVOICES_TO.search(body)
        or _IBAN.search(text.upper())
        or _cue_in(_PHONE_CUE_WORDS, _PHONE_CUE, text)
        or _cue_in(_COMPANY_WORDS, _COMPANY, body)
    )


def extract_admin_update(
    subject: str, body: str, *, sender: str | None = None, locale: str | None = None,
    lang: str | None = None,
) -> AdminUpdate:  # fmt: skip
    """Every change field the mail announces, each with a confidence.

    Only the first MAX_CHARS of the body are read: an update is a short mail, and a hostile
    one must cost no more than that. Only what follows the mail's last retraction or
    correction counts (bot/extract/turns.py): a retracted change is not asked for any more,
    a corrected one is only proposed.
    """
    subject, raw, body = subject[:1_000], body[:MAX_CHARS], own_text(body[:MAX_CHARS])
    start, turn = last_turn(body)
    if turn is None and retracted_below(raw):
        return AdminUpdate()  # taken back below the sign-off
    before, body = body[:start], body[start:]
    if turn == "retracted":
        subject = ""  # "Change of address - please ignore"
    update = _extract(subject, body, sender, region_for(locale, lang))
    if ON_BEHALF.search(f"{subject}\n{before}{body}"):
        update.fields = {
            k: FieldValue(v.value, v.confidence, (*v.doubts, "written_for_someone_else"))
            for k, v in update.fields.items()
        }
    _add_mail_doubts(update, subject, before + body, region_for(locale, lang))
    if turn == "corrected":
        region = region_for(locale, lang)
        earlier = _extract(subject, before, sender, region)
        for kind in earlier.fields.keys() - update.fields.keys():
            value = _corrected(kind, body, region, sender)
            if value is not None:
                update.fields[kind] = value
        update.fields = {
            k: FieldValue(v.value, v.confidence, (*v.doubts, "corrected_later_in_the_mail"))
            if "corrected_later_in_the_mail" not in v.doubts
            else v
            for k, v in update.fields.items()
        }
    return update


def _value_at(text: str, name: str, value: str, region: str) -> int:
    """Where a value read stands in the text (-1 when it is not found as it was read)."""
    if name == "phone":
        matches = phonenumbers.PhoneNumberMatcher(
            text, region, leniency=phonenumbers.Leniency.POSSIBLE, max_tries=200
        )
        for match in islice(matches, MAX_CANDIDATES):
            e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            if e164 == value:
                return match.start
        return -1
    if name == "iban":
        found = re.search(r"\s?".join(map(re.escape, value)), text, re.I)
        return found.start() if found else -1
    head = value.split(",")[0].split("\n")[0].strip()
    return text.lower().find(head.lower()) if head else -1


def _add_mail_doubts(update: AdminUpdate, subject: str, text: str, region: str) -> None:
    """Add to each value the doubts the whole mail casts on it (bot/extract/mail_doubts.py):
    second thoughts after the first value read, a change already made, another person's."""
    at = {k: _value_at(text, k, v.value, region) for k, v in update.fields.items()}
    common = mail_doubts(subject, text, min((a for a in at.values() if a >= 0), default=0))
    for name, value in list(update.fields.items()):
        doubts = common
        if name in ("email", "phone") and persons_value(text, value.value, at[name]):
            doubts = (*doubts, "another_person_named_in_the_mail")
        new = tuple(d for d in doubts if d not in value.doubts)
        if new:
            update.fields[name] = FieldValue(value.value, value.confidence, (*value.doubts, *new))


def _extract(subject: str, body: str, sender: str | None, region: str) -> AdminUpdate:
    """The fields of the sender's own text (after any retraction or correction)."""
    text = f"{subject}\n\n{body}"
    update = AdminUpdate()
    if not may_announce_change(subject, body, text):
        return update  # no extractor below could find anything
    found: dict[str, FieldValue | None] = {
        "postal_address": None,
        "phone": extract_phone(text, region),
        "email": extract_email(text, sender),
        "company_name": extract_company(body),
        "billing_contact": extract_billing_contact(body),
        "iban": extract_iban(text),
    }
    address = find_address(body, region=region) or find_bare_address(subject, body, region)
    if address:
        found["postal_address"] = FieldValue(address.text, address.confidence, address.doubts)
    for name, value in _from_details(body, region, sender).items():
        found[name] = found[name] or value
    if not any(found.values()):
        found.update(_bare_value(subject, body, region, sender))
    update.fields = {
        k: _with_rivals(k, v, body, region, sender) for k, v in found.items() if v is not None
    }
    if _CREDENTIALS.search(body):  # "change my e-mail and send my password there"
        update.fields = {
            k: FieldValue(v.value, v.confidence, (*v.doubts, "asks_for_credentials"))
            if k in ("email", "phone")
            else v
            for k, v in update.fields.items()
        }
    unread = [
        kind
        for kind in ("phone", "email", "postal_address", "iban")
        if kind not in update.fields and _rivals(kind, "", body, region, sender)
    ]
    if unread:  # a second change may be asked in words not read: nothing applied unseen
        update.fields = {
            k: v if v.doubts else FieldValue(v.value, v.confidence, ("other_details_in_the_mail",))
            for k, v in update.fields.items()
        }
    return update


_LEFT = re.compile(
    r"\b(?:quitt\w+|left|leaving|stop\s+sending|n['’]habit\w+\s+plus|ne\s+sont\s+plus)\b", re.I
)


def _said_old(body: str, start: int) -> bool:
    """Whether a value's own words or sentence call it old, kept or left."""
    sentence = body[sentence_start(body, start) : sentence_end(body, start)]
    return called_old(body, start) or bool(OLD_WORD.search(sentence) or _LEFT.search(sentence))


_BANK_CHANGE = re.compile(
    r"\b(?:rib|iban|coordonn[ée]es\s+bancaires|compte\s+bancaire|nouveau\s+compte|"
    r"nouvelle\s+banque|pr[ée]l[èe]vements?|bank\s+(?:details|account)|direct\s+debit|"
    r"sort\s+code|new\s+(?:bank|account\s+number))\b",
    re.I,
)
# Access sent to a new address or number: the usual shape of an account takeover.
_CREDENTIALS = re.compile(
    r"\b(?:mot\s+de\s+passe|password|identifiants?|credentials|login\s+details|"
    r"codes?\s+d['’]acc[èe]s|access\s+codes?|codes?\s+de\s+(?:v[ée]rification|s[ée]curit[ée])|"
    r"verification\s+codes?|one[- ]time\s+(?:code|password))\b",
    re.I,
)


def _rivals(name: str, value: str, body: str, region: str, sender: str | None) -> bool:
    """Whether the sender's text holds another value of the same kind, not said old: which
    is meant may then be misread (a signature not cut, an old value not told apart)."""
    if name == "phone":
        return any(
            phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164) != value
            and not _said_old(body, m.start)
            for m in phonenumbers.PhoneNumberMatcher(
                body, region, leniency=phonenumbers.Leniency.VALID, max_tries=MAX_CANDIDATES
            )
        )
    if name == "email":
        others = {
            m.group(0).rstrip(".").lower()
            for m in islice(_EMAIL.finditer(body), MAX_CANDIDATES)
            if not _said_old(body, m.start())
        }
        return bool(others - {value, (sender or "").lower()})
    if name == "iban":  # new bank details without an IBAN read: "nouveau compte, transit 800…"
        return any(
            not _said_old(body, m.start())
            for m in islice(_BANK_CHANGE.finditer(body), MAX_CANDIDATES)
        )
    if name == "postal_address":
        folded = " ".join(value.casefold().split())
        offset = 0
        for line in body.split("\n")[: MAX_CANDIDATES * 4]:
            fmt = postcode_format(line)
            match = POSTCODES[fmt].search(line) if fmt else None
            if (
                match
                and " ".join(match.group(0).casefold().split()) not in folded
                and not _said_old(body, offset + match.start())
            ):
                return True
            offset += len(line) + 1
    return False


def _with_rivals(
    name: str, found: FieldValue, body: str, region: str, sender: str | None
) -> FieldValue:
    if (
        name not in _RIVALLED
        or found.confidence < CONFIDENT
        or found.doubts
        or not _rivals(name, found.value, body, region, sender)
    ):
        return found
    return FieldValue(found.value, found.confidence, (f"another_{name}_in_the_mail",))


# The fields another value of the same kind may rival (two IBANs already give none).
_RIVALLED = ("phone", "email", "postal_address")


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    """What to do with an update: apply these fields, or note them for an agent, and why."""

    apply: dict[str, str]
    note: dict[str, str]
    verification_task: bool
    reasons: list[str]


# What may be applied together unseen: one field alone, or a new phone with a new e-mail.
_APPLIED_TOGETHER = frozenset({"phone", "email"})


def plan_update(
    update: AdminUpdate, verified: bool, why_not: list[str] | None = None
) -> UpdatePlan:
    """Apply only a verified sender's single checked change (or a phone and e-mail pair).

    Everything else is a note with the proposed values and why it was not applied: an
    unverified sender, bank details, several fields at once, an unsure value or one the
    checks doubt (bot/extract/checks.py). "A wrong change applied is worse than a note."
    """
    values = update.values()
    if not values:
        return UpdatePlan({}, {}, False, ["nothing_to_update"])
    bank = "iban" in values
    reasons = list(why_not or [])
    if bank:
        reasons.append("bank_details_need_verification")
    if not verified and not why_not:
        reasons.append("sender_not_verified")
    names = set(values)
    if len(names) > 1 and names != _APPLIED_TOGETHER and not bank:
        reasons.append("several_fields:" + ",".join(sorted(names)))
    unsure = sorted(k for k, f in update.fields.items() if f.confidence < CONFIDENT)
    if unsure:
        reasons.append("not_confident:" + ",".join(unsure))
    for name, fv in sorted(update.fields.items()):
        reasons.extend(f"not_checked:{name}:{doubt}" for doubt in fv.doubts)
    if verified and not reasons:
        return UpdatePlan(values, {}, False, [])
    return UpdatePlan({}, values, bank, reasons)
