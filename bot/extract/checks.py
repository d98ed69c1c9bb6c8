"""The checks a value must pass before crmbot applies it without an agent (issue 12).

Extraction reads what a mail announces; these checks say whether that value is fit to be
written to the contact as it is. Each returns the doubts it has (stable snake_case words);
no doubt means the value may be applied. A value with a doubt still goes to the agent as a
proposed change in a note.

- a phone must be a valid number (not only a possible one) in the mail's region's numbering
  plan (its country calling code), and a line
  a person answers (not premium-rate, toll-free or shared-cost);
- an e-mail address must be syntactically valid (a dot-atom local part, a domain of proper
  labels and an alphabetic top-level domain);
- a postal address must carry a postcode valid for its country (FR 5 digits of a real
  département, BE/CH 4 digits, CA `A1A 1A1`, UK outward and inward codes, US state and ZIP,
  IE Eircode routing key and identifier, AU state and a postcode of that state's ranges),
  a street number next to a street-type word, and be introduced as the new one.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import PhoneNumberType

_PERSONAL_LINES = frozenset(
    {
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.VOIP,
        PhoneNumberType.PERSONAL_NUMBER,
        PhoneNumberType.UAN,
    }
)


def phone_doubts(number: phonenumbers.PhoneNumber, region: str) -> tuple[str, ...]:
    """Why a phone number may not be applied as the contact's own line (empty: it may)."""
    if not phonenumbers.is_valid_number(number):
        return ("phone_not_valid",)
    if number.country_code != phonenumbers.country_code_for_region(region):
        return ("phone_not_of_the_mails_region",)  # one numbering plan: +44 GB/GG/JE, +1 US/CA
    if phonenumbers.number_type(number) not in _PERSONAL_LINES:
        return ("phone_not_a_personal_line",)
    if number.extension:
        return ("phone_has_an_extension",)  # "020 7946 0958 ext. 12": E.164 has no room for it
    return ()


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL_SYNTAX = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z]{{2,24}}")


def email_doubts(address: str, sender: str | None) -> tuple[str, ...]:
    """Why an e-mail address may not be applied (empty: it may)."""
    local, _, domain = address.rpartition("@")
    if (
        not _EMAIL_SYNTAX.fullmatch(address)
        or len(local) > 64
        or len(domain) > 253
        or ".." in address
    ):
        return ("email_not_valid",)
    if sender and address.casefold() == sender.strip().casefold():
        return ("email_is_the_senders_own",)
    top = domain.rpartition(".")[2].casefold()
    if len(top) != 2 and top not in _GENERIC_TLDS:
        return ("email_domain_unusual",)  # "tom@gmail.com.thanks": a word glued on
    return ()


# Top-level domains an address is applied with unseen: every two-letter (country) one and
# these; any other ("….thanks", "….merci", a rare new gTLD) is only proposed in a note.
_GENERIC_TLDS = frozenset({
    "com", "net", "org", "info", "biz", "edu", "gov", "mil", "int", "name", "pro", "mobi",
    "app", "dev", "io", "email", "online", "site", "tech", "shop", "store", "cloud", "live",
    "life", "blog", "xyz", "club", "asia", "swiss", "paris", "bzh", "alsace", "corsica",
    "quebec", "london", "wales", "scot", "example",
})  # fmt: skip


# Postcodes as each country writes them (the whole code, anchored by the caller).
_FR_POSTCODE = re.compile(r"\b(?:F-?)?((?:0[1-9]|[1-8]\d|9[0-5])\d{3}|9[78][0-9]\d{2})\b")
_BE_CH_POSTCODE = re.compile(r"(?:^|,\s*|\b(?:B|CH)-)([1-9]\d{3})\s+[A-ZÀ-Ý]")
_CA_POSTCODE = re.compile(r"\b[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d\b")
_UK_POSTCODE = re.compile(
    r"\b(?:GIR 0AA|[A-PR-UWYZ](?:\d[A-HJKPSTUW\d]?|[A-HK-Y]\d[ABEHMNPRVWXY\d]?)"
    r" \d[ABD-HJLNP-UW-Z]{2})\b"
)
_US_STATES = frozenset(
    re.findall(
        r"[A-Z]{2}",
        "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV "
        "NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR GU VI AS MP",
    )
)
_US_ZIP = re.compile(r"\b([A-Z]{2})\s+(\d{5})(?:-\d{4})?\b")
# An Eircode: a routing key (a letter of the Eircode alphabet and two digits, or D6W) and a
# four-character identifier of that alphabet (no B, G, I, J, L, M, O, Q, S, U, Z).
_EIR = "ACDEFHKNPRTVWXY"
_IE_EIRCODE = re.compile(rf"\b(?:[{_EIR}]\d\d|D6W) ?[{_EIR}\d]{{4}}\b")
# An Australian state or territory and the postcode ranges Australia Post gives it.
_AU_POSTCODE = re.compile(r"\b(NSW|VIC|QLD|SA|WA|TAS|ACT|NT)\s+(\d{4})\b")
_AU_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "NSW": ((1000, 2599), (2619, 2899), (2921, 2999)),
    "ACT": ((200, 299), (2600, 2618), (2900, 2920)),
    "VIC": ((3000, 3999), (8000, 8999)),
    "QLD": ((4000, 4999), (9000, 9999)),
    "SA": ((5000, 5999),),
    "WA": ((6000, 6999),),
    "TAS": ((7000, 7999),),
    "NT": ((800, 999),),
}
# The postcode format the mail's region writes (bot/extract/postal.py's names).
_FORMAT_OF_REGION = {
    "FR": "FR", "BE": "BE_CH", "CH": "BE_CH", "CA": "CA", "GB": "UK", "US": "US", "IE": "IE",
    "AU": "AU",
}  # fmt: skip


def postcode_valid(block: str, fmt: str) -> bool:
    """Whether the address block's postcode is one its country issues, in its own format."""
    if fmt == "FR":
        return bool(_FR_POSTCODE.search(block))
    if fmt == "BE_CH":
        return any(_BE_CH_POSTCODE.search(part.strip()) for part in block.split(","))
    if fmt == "CA":
        return bool(_CA_POSTCODE.search(block.upper()))
    if fmt == "UK":
        return bool(_UK_POSTCODE.search(" ".join(block.upper().split())))
    if fmt == "US":
        return any(
            state in _US_STATES and zipcode != "00000" for state, zipcode in _US_ZIP.findall(block)
        )
    if fmt == "IE":
        return bool(_IE_EIRCODE.search(block.upper()))
    if fmt == "AU":
        return any(
            low <= int(code) <= high
            for state, code in _AU_POSTCODE.findall(block)
            for low, high in _AU_RANGES[state]
        )
    return False


_STREET_TYPE = (
    r"(?:rue|r|avenue|av|boulevard|boul|bd|chemin|route|all[ée]e|impasse|quai|place|cours|square|"
    r"passage|chauss[ée]e|esplanade|promenade|rond-point|sentier|voie|faubourg|mont[ée]e|"
    r"street|st|road|rd|lane|ln|drive|dr|avenue|ave|boulevard|blvd|court|ct|way|close|"
    r"crescent|terrace|parade|highway|hwy|parkway|pkwy|row|mews|grove|gardens|hill|walk|"
    r"strasse|straße|gasse|weg|platz|laan|straat|steenweg)"
)
# "12 bis rue X", "221B Baker Street", "1000 rue Sherbrooke Ouest" (a number, then at most
# three name words, then a street-type word) or "Rue de la Loi 16" (Belgian/Swiss order).
_NUMBERED_STREET = re.compile(
    rf"(?<![\w-])\d{{1,5}}[A-Za-z]?(?:\s*(?:bis|ter|quater))?,?\s+(?:[\w'’.-]+\s+){{0,3}}?"
    rf"{_STREET_TYPE}\b\.?"
    rf"|\b{_STREET_TYPE}\b[^,\n\d]{{1,40}}\s\d{{1,5}}[a-z]?\b"
    rf"|\b\w+(?:strasse|straße|gasse|weg|platz|laan|straat|steenweg)\s+\d{{1,5}}\b",
    re.I,
)


def has_numbered_street(block: str) -> bool:
    """Whether an address block has a street number next to a street-type word."""
    return bool(_NUMBERED_STREET.search(block))


def address_doubts(block: str, fmt: str, region: str | None, introduced: bool) -> tuple[str, ...]:
    """Why an address may not be applied (empty: it may).

    `introduced`: the sender's own words present it as the new address (a change cue in the
    sentence that leads to it).
    """
    doubts: list[str] = []
    if not postcode_valid(block, fmt):
        doubts.append("postcode_not_valid_for_its_country")
    elif region in _FORMAT_OF_REGION and _FORMAT_OF_REGION[region] != fmt:
        doubts.append("postcode_not_of_the_mails_region")
    if not has_numbered_street(block):
        doubts.append("no_street_number_and_street_type")
    if not introduced:
        doubts.append("address_not_introduced_as_new")
    return tuple(doubts)
