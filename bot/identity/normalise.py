"""Normalisation of identity fields: emails, phones, names, company domains, free text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import phonenumbers

from bot.textfold import strip_accents

GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "outlook.com", "outlook.fr", "hotmail.com", "hotmail.fr",
        "hotmail.co.uk", "live.com", "live.fr", "msn.com", "yahoo.com", "yahoo.fr",
        "yahoo.co.uk", "ymail.com", "icloud.com", "me.com", "mac.com", "aol.com", "aol.fr",
        "orange.fr", "wanadoo.fr", "free.fr", "laposte.net", "sfr.fr", "neuf.fr", "bbox.fr",
        "numericable.fr", "gmx.com", "gmx.fr", "gmx.de", "web.de", "protonmail.com",
        "proton.me", "pm.me", "tutanota.com", "zoho.com", "mail.com", "yandex.com",
        "yandex.ru", "btinternet.com", "sky.com", "virginmedia.com", "bigpond.com",
        "fastmail.com", "hey.com", "qq.com", "163.com",
    }
)  # fmt: skip

ROLE_LOCAL_PARTS = frozenset(
    {
        "contact", "info", "infos", "information", "accueil", "admin", "administration",
        "support", "help", "helpdesk", "hello", "bonjour", "sales", "vente", "ventes",
        "office", "secretariat", "secretariat.general", "direction", "compta",
        "comptabilite", "accounting", "accounts", "billing", "facturation", "factures",
        "invoice", "invoices", "rh", "hr", "jobs", "recrutement", "careers", "service",
        "service.client", "serviceclient", "customer.service", "customerservice", "team",
        "equipe", "mail", "email", "noreply", "no-reply", "donotreply", "postmaster",
        "webmaster", "reception", "commercial", "commandes", "orders", "sav", "general",
        "enquiries", "inquiries", "marketing", "press", "presse", "legal", "juridique",
    }
)  # fmt: skip

# Nicknames and short forms -> canonical given name (FR and EN). Keys and values are folded.
NICKNAMES: dict[str, str] = {
    "bob": "robert", "bobby": "robert", "rob": "robert", "robbie": "robert", "bert": "robert",
    "bill": "william", "billy": "william", "will": "william", "willy": "william",
    "liam": "william", "guillaume": "william", "guigui": "william", "willem": "william",
    "kate": "katherine", "katie": "katherine", "kathy": "katherine", "cathy": "katherine",
    "catherine": "katherine", "kathryn": "katherine", "kat": "katherine", "cath": "katherine",
    "jim": "james", "jimmy": "james", "jamie": "james",
    "mike": "michael", "mick": "michael", "mickey": "michael", "mikey": "michael",
    "michel": "michael", "michou": "michael",
    "dick": "richard", "rick": "richard", "ricky": "richard", "rich": "richard", "rico": "richard",
    "tom": "thomas", "tommy": "thomas", "thom": "thomas", "toto": "thomas",
    "tony": "anthony", "antony": "anthony", "antoine": "anthony", "tonio": "anthony",
    "andy": "andrew", "drew": "andrew", "andre": "andrew", "dede": "andrew",
    "dave": "david", "davy": "david",
    "steve": "stephen", "steven": "stephen", "stevie": "stephen", "stephane": "stephen",
    "etienne": "stephen",
    "chris": "christopher", "kit": "christopher", "christophe": "christopher",
    "matt": "matthew", "mathieu": "matthew", "matthieu": "matthew",
    "dan": "daniel", "danny": "daniel",
    "joe": "joseph", "joey": "joseph", "jo": "joseph", "jojo": "joseph",
    "ben": "benjamin", "benny": "benjamin", "sam": "samuel", "sammy": "samuel",
    "alex": "alexander", "sandy": "alexander", "alexandre": "alexander",
    "ed": "edward", "eddie": "edward", "ted": "edward", "teddy": "edward", "ned": "edward",
    "fred": "frederick", "freddie": "frederick", "freddy": "frederick", "frederic": "frederick",
    "greg": "gregory", "gregoire": "gregory",
    "jeff": "jeffrey", "geoff": "jeffrey", "geoffrey": "jeffrey",
    "jerry": "gerald", "gerry": "gerald",
    "harry": "henry", "hank": "henry", "henri": "henry", "riri": "henry",
    "jack": "john", "johnny": "john", "jon": "john", "jonny": "john",
    "larry": "lawrence", "laurie": "lawrence", "len": "leonard", "lenny": "leonard",
    "nick": "nicholas", "nicky": "nicholas", "nic": "nicholas", "nico": "nicholas",
    "nicolas": "nicholas",
    "pat": "patrick", "paddy": "patrick", "patou": "patrick",
    "pete": "peter", "pierre": "peter", "pierrot": "peter",
    "phil": "philip", "phillip": "philip", "philippe": "philip",
    "ron": "ronald", "ronnie": "ronald", "ray": "raymond", "russ": "russell", "stan": "stanley",
    "tim": "timothy", "timmy": "timothy", "vince": "vincent", "wally": "walter",
    "abby": "abigail", "abbie": "abigail",
    "annie": "ann", "anne": "ann", "anna": "ann", "annick": "ann", "nanou": "ann",
    "beth": "elizabeth", "betty": "elizabeth", "liz": "elizabeth", "lizzie": "elizabeth",
    "libby": "elizabeth", "eliza": "elizabeth", "elisabeth": "elizabeth", "babette": "elizabeth",
    "becky": "rebecca", "becca": "rebecca", "cindy": "cynthia", "debbie": "deborah",
    "deb": "deborah", "jen": "jennifer", "jenny": "jennifer", "jess": "jessica",
    "jessie": "jessica", "maggie": "margaret", "meg": "margaret", "peggy": "margaret",
    "mandy": "amanda", "pam": "pamela", "sue": "susan", "susie": "susan", "suzy": "susan",
    "vicky": "victoria", "vicki": "victoria", "tori": "victoria",
    "steph": "stephanie", "stephanie": "stephanie", "sophie": "sophia",
    "jackie": "jacqueline", "molly": "mary", "polly": "mary",
    "jeannot": "jean", "jeanjean": "jean",
    "jacquot": "jacques", "jacky": "jacques",
    "seb": "sebastien", "sebastian": "sebastien", "manu": "emmanuel",
    "titi": "thierry", "fanfan": "francois", "flo": "florence", "vero": "veronique",
    "isa": "isabelle", "isabel": "isabelle", "val": "valerie",
    "domi": "dominique", "dom": "dominique", "alain": "alan", "allan": "alan",
    "max": "maxime", "ju": "julien", "juju": "julien", "mimile": "emile",
    "loulou": "louis", "benoit": "benedict",
    "thibault": "thibaut", "thibaud": "thibaut",
    "jeannette": "jeanne", "jeanine": "jeanne",
}  # fmt: skip

PARTICLES = frozenset(
    {"de", "du", "des", "d", "la", "le", "van", "von", "der", "den", "ter", "ten", "di", "da",
     "del", "della", "dos", "das", "st", "saint", "mac", "mc", "o", "y", "e"}
)  # fmt: skip
TITLES = frozenset(
    {"mr", "mrs", "ms", "miss", "mme", "mlle", "m", "dr", "prof", "sir", "madame",
     "monsieur", "mademoiselle", "me", "maitre", "jr", "sr", "ii", "iii"}
)  # fmt: skip

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_NON_DIGIT = re.compile(r"\D+")
_SPACES = re.compile(r"\s+")
_PHONE_SEPARATORS = re.compile(r"[\s.\-()/]+")
_FR_NATIONAL = re.compile(r"0[1-79]\d{8}")
_FR_E164 = re.compile(r"\+33[1-79]\d{8}")


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lower-case, strip accents and map every run of punctuation/space to one space."""
    return _NON_ALNUM.sub(" ", strip_accents(text)).strip()


def _idna(domain: str) -> str:
    """Domain to its ASCII (punycode) form; left as is when it is not valid IDNA."""
    if domain.isascii():
        return domain
    try:
        return _SPACES.sub("", domain.encode("idna").decode("ascii"))
    except UnicodeError:
        return domain


def normalise_email(
    value: str | None, *, fold_plus_addressing: bool = True, fold_gmail_dots: bool = True
) -> str | None:
    """Canonical form of an email address, or None when it is not one."""
    if not value:
        return None
    text = value.strip().strip("<>").strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    text = _SPACES.sub("", text)
    local, sep, domain = text.rpartition("@")
    if not sep or not local or not domain:
        return None
    domain = _idna(domain.rstrip(".").lower())
    local = local.lower()
    if domain in GMAIL_DOMAINS:
        domain = "gmail.com"
        if fold_gmail_dots:
            local = local.replace(".", "")
    if fold_plus_addressing and "+" in local.lstrip("+"):
        local = local[0] + local[1:].split("+", 1)[0]
    if not local:
        return None
    return f"{local}@{domain}"


def is_role_address(email: str | None) -> bool:
    """True for a shared/generic mailbox (contact@, info@, accueil@ …) used by many people."""
    if not email:
        return False
    local = email.partition("@")[0].lower()
    return local in ROLE_LOCAL_PARTS or local.replace("-", ".").replace("_", ".") in (
        ROLE_LOCAL_PARTS
    )


def email_domain(email: str | None) -> str | None:
    """The domain part of a normalised email."""
    if not email or "@" not in email:
        return None
    return email.rpartition("@")[2]


def company_domain(value: str | None) -> str | None:
    """Company domain from an email or a URL/domain; None for free-mail providers."""
    if not value:
        return None
    text = value.strip().lower()
    if "@" in text:
        text = text.rpartition("@")[2]
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text).split("/", 1)[0].split(":", 1)[0]
    text = _idna(text.strip().rstrip("."))
    if text.startswith("www."):
        text = text[4:]
    if not text or "." not in text or text in FREE_MAIL_DOMAINS:
        return None
    return text


def normalise_phone(value: str | None, region: str = "FR") -> str | None:
    """E.164 form of a phone number, or None when it cannot be parsed as a possible number."""
    if not value:
        return None
    text = value.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if region == "FR":  # fast path for the common French forms: 0X XX XX XX XX, +33 X …
        compact = _PHONE_SEPARATORS.sub("", text)
        if _FR_NATIONAL.fullmatch(compact):
            return "+33" + compact[1:]
        if _FR_E164.fullmatch(compact):
            return compact
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def canonical_given(token: str) -> str:
    """Canonical given name for a folded token (nickname table), else the token itself."""
    return NICKNAMES.get(token, token)


def name_tokens(value: str | None) -> list[str]:
    """Folded name tokens without titles; particles kept (use `core_tokens` to drop them)."""
    if not value:
        return []
    return [t for t in fold(value).split() if t not in TITLES]


def core_tokens(tokens: list[str]) -> list[str]:
    """Name tokens without particles (de, du, van …), unless nothing else is left."""
    core = [t for t in tokens if t not in PARTICLES]
    return core or tokens


def split_name(
    name: str | None, given_name: str | None = None, surname: str | None = None
) -> tuple[str, str]:
    """(given, surname) as folded strings from whatever the source gave.

    "DUPONT Jean" (upper-case surname first, as in French forms) and "Dupont, Jean" are
    recognised; otherwise the last non-particle token is taken as the surname.
    """
    given = " ".join(name_tokens(given_name))
    sur = " ".join(name_tokens(surname))
    if given or sur or not name:
        return given, sur
    raw = name.strip()
    if "," in raw:
        left, _, right = raw.partition(",")
        return " ".join(name_tokens(right)), " ".join(name_tokens(left))
    words = [w for w in re.split(r"\s+", raw) if w]
    letters = [w for w in words if any(c.isalpha() for c in w)]
    upper = [w for w in letters if w.isupper() and len(w.strip(".")) > 1]
    if upper and len(upper) < len(letters):
        sur_words = upper
        given_words = [w for w in words if w not in upper]
        return " ".join(name_tokens(" ".join(given_words))), " ".join(
            name_tokens(" ".join(sur_words))
        )
    tokens = name_tokens(raw)
    if len(tokens) <= 1:
        return "", " ".join(tokens)
    # surname starts at the first particle after the first token, else is the last token
    for i in range(1, len(tokens) - 1):
        if tokens[i] in PARTICLES:
            return " ".join(tokens[:i]), " ".join(tokens[i:])
    return " ".join(tokens[:-1]), tokens[-1]


def digits(value: str | None) -> str:
    """Only the digits of a value ("" when none)."""
    return _NON_DIGIT.sub("", value) if value else ""


def normalise_date(value: str | None) -> str | None:
    """A birth date as YYYYMMDD from YYYYMMDD, YYYY-MM-DD or DD/MM/YYYY; None otherwise."""
    if not value:
        return None
    text = value.strip()
    parts = re.split(r"[-/. ]", text)
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        if len(parts[0]) == 4:
            y, m, d = parts
        elif len(parts[2]) == 4:
            d, m, y = parts
        else:
            return None
        return f"{y}{int(m):02d}{int(d):02d}"
    only = digits(text)
    return only if len(only) == 8 else None


def normalise_text(value: str | None) -> str:
    """Folded free text (addresses, cities)."""
    return fold(value) if value else ""


@dataclass
class ContactRecord:
    """What a CRM or a mail tells about a person; every field is optional."""

    email: str | None = None
    name: str | None = None
    given_name: str | None = None
    surname: str | None = None
    phone: str | None = None
    company: str | None = None
    address: str | None = None
    postcode: str | None = None
    city: str | None = None
    birth_date: str | None = None
    national_id: str | None = None
    external_ids: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Profile:
    """A contact record in normalised form: what keys and comparators work on ("" = unknown)."""

    email: str = ""
    role_email: bool = False
    domain: str = ""
    phone: str = ""
    given: str = ""
    given_canon: str = ""
    surname: str = ""
    company: str = ""
    address: str = ""
    postcode: str = ""
    city: str = ""
    birth_date: str = ""
    national_id: str = ""
    external_ids: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Compact JSON form (empty fields left out)."""
        out: dict[str, Any] = {}
        for name in _PROFILE_FIELDS:
            value = getattr(self, name)
            if value:
                out[name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Profile:
        """Inverse of `to_json`."""
        return cls(**{k: v for k, v in data.items() if k in _PROFILE_FIELDS})


_PROFILE_FIELDS = (
    "email", "role_email", "domain", "phone", "given", "given_canon", "surname", "company",
    "address", "postcode", "city", "birth_date", "national_id", "external_ids",
)  # fmt: skip


def merge_profiles(old: Profile, new: Profile) -> Profile:
    """`new` with its unknown fields filled from `old` (what a contact said before still counts)."""
    merged = Profile(**{name: getattr(new, name) or getattr(old, name) for name in _PROFILE_FIELDS})
    if new.email:
        merged.role_email = new.role_email
    merged.external_ids = {**old.external_ids, **new.external_ids}
    if new.given:  # given name and its canonical form go together
        merged.given_canon = new.given_canon
    else:
        merged.given, merged.given_canon = old.given, old.given_canon
    return merged


def canonical_given_name(given: str) -> str:
    """Given-name tokens with each nickname replaced by its canonical form."""
    return " ".join(canonical_given(t) for t in given.split())


def normalise_record(
    record: ContactRecord,
    *,
    fold_plus_addressing: bool = True,
    fold_gmail_dots: bool = True,
    default_region: str = "FR",
) -> Profile:
    """Normalise every field of a record into a `Profile`."""
    email = normalise_email(
        record.email, fold_plus_addressing=fold_plus_addressing, fold_gmail_dots=fold_gmail_dots
    )
    given, surname = split_name(record.name, record.given_name, record.surname)
    surname = " ".join(core_tokens(surname.split()))
    company = record.company or ""
    domain = company_domain(email)
    if not domain and "." in company and " " not in company.strip():
        domain = company_domain(company)
    national = fold(record.national_id).replace(" ", "") if record.national_id else ""
    return Profile(
        email=email or "",
        role_email=is_role_address(email),
        domain=domain or "",
        phone=normalise_phone(record.phone, default_region) or "",
        given=given,
        given_canon=canonical_given_name(given),
        surname=surname,
        company=fold(company) if company else "",
        address=normalise_text(record.address),
        postcode=fold(record.postcode).replace(" ", "") if record.postcode else "",
        city=normalise_text(record.city),
        birth_date=normalise_date(record.birth_date) or "",
        national_id=national,
        external_ids={
            fold(k).replace(" ", "_"): str(v).strip()
            for k, v in record.external_ids.items()
            if v is not None and str(v).strip()
        },
    )
