"""Postal addresses in FR/BE/CH/CA/UK/US/IE/AU formats: find the block a mail announces.

No well-kept library parses these offline (libpostal needs a data download; usaddress and
pyap cover North America and a few others only), so this is a small tested parser: an
address is the text after a cue ("nouvelle adresse", "we have moved to"…) up to and
including the line that carries a postcode in one of the supported formats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.extract.checks import address_doubts, has_numbered_street
from bot.extract.communes import postcode_agrees
from bot.extract.context import (
    OLD_WORD,
    ends_a_sentence,
    introduced_as_new,
    sender_context,
    someone_elses,
)

# A city: capitalised words (Saint-Denis, La Roche-sur-Yon, Den Haag), never a sentence.
_CITY = (
    r"[A-ZÀ-Ý][\w'’-]*"
    r"(?:\s(?!(?i:cedex)\b)(?:[A-ZÀ-Ý][\w'’-]*|(?:sur|en|lès|les|de|du|la|le|am|an|bei)\b)){0,4}"
)
# One pattern per format; each matches the postcode (with the city or state around it).
POSTCODES: dict[str, re.Pattern[str]] = {
    "FR": re.compile(
        rf"\b(?:F-?)?\d{{5}}\s+(?:{_CITY}|[a-zà-ÿ][\w'’-]*(?=\s*(?:[.,;\n]|$)))"
        r"(?:\s+(?i:cedex)(?:\s+\d{1,2})?)?",
        re.U,
    ),
    "BE_CH": re.compile(rf"\b(?:B-|CH-)?\d{{4}}\s+{_CITY}(?:\s+\d{{1,2}}\b)?", re.U),  # Genève 3
    "CA": re.compile(r"\b[A-Z]\d[A-Z]\s?\d[A-Z]\d\b", re.I),
    "UK": re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s+\d[A-Z]{2}\b", re.I),
    # a state's code and ZIP; any two capitals only after a city and a comma ("BP 40027" on
    # its own is a French post-office box)
    "US": re.compile(
        r"(?:\b(?:A[KLRSZ]|C[AOT]|D[CE]|FL|G[AU]|HI|I[ADLN]|K[SY]|LA|M[ADEINOPST]|N[CDEHJMVY]"
        r"|O[HKR]|P[AR]|RI|S[CD]|T[NX]|UT|V[AIT]|W[AIVY])|(?<=,\s)[A-Z]{2})\s+\d{5}(?:-\d{4})?\b"
    ),
    "IE": re.compile(r"\b[AC-FHKNPRTV-Y]\d{2}\s?[AC-FHKNPRTV-Y\d]{4}\b", re.I),
    "AU": re.compile(r"\b(?:NSW|VIC|QLD|SA|WA|TAS|ACT|NT)\s+\d{4}\b"),
}
_STREET = re.compile(
    r"\b\d+[a-z]?(?:\s*(?:bis|ter))?[, ]+\s*(?:rue|avenue|av\.?|boulevard|bd|chemin|place|"
    r"impasse|all[ée]e|route|quai|cours|square|passage|straat|weg|street|st\.?|road|rd\.?|"
    r"lane|ln\.?|drive|dr\.?|avenue|ave\.?|boulevard|blvd\.?|court|ct\.?|way|close|crescent|"
    r"terrace|place|parade|highway|hwy|parkway|pkwy|square|row|mews|green|gardens|park)\b"
    r"|\b(?:rue|avenue|boulevard|chemin|place|impasse|all[ée]e|route|quai|chauss[ée]e)\s+\w"
    r"|\b\w+(?:strasse|straße|gasse|weg|platz|laan|straat|steenweg)\s+\d+",
    re.I,
)
_CUE = re.compile(
    r"(?:(?:ma|mon|notre|nos)\s+(?:nouvelle\s+)?adresse(?:\s+postale)?(?=\s*(?::|est|sera|devient))"
    r"|nouvelle\s+adresse(?:\s+postale)?|nouvelles?\s+coordonn[ée]es\s+postales"
    r"|adresse\s+postale\s*:|d[ée]m[ée]nag[ée]s?\s+(?:au|à|a)\b"
    r"|(?:j['’]habite|je\s+r[ée]side|nous\s+r[ée]sidons|nous\s+sommes|je\s+suis|i\s+live|we\s+live|we\s+are"
    r"|i\s+am|we['’]re|i['’]m)\s+(?:maintenant|d[ée]sormais|dor[ée]navant|now)(?:\s+(?:au|à|at|in)\b)?"
    r"|(?:new|nouveaux?|nouvelles?)\s+(?:office|offices|premises|home|headquarters|hq|locaux|bureaux"
    r"|si[èe]ge)\s+(?:is|are|sont|est)\s+(?:now\s+|located\s+|situ[ée]s?\s+|d[ée]sormais\s+)?"
    r"(?:at|au|à)\b"
    r"|(?:update|change|modifier|changer)\s+(?:my|our|mon|notre)\s+(?:postal\s+|mailing\s+|home\s+)?"
    r"(?:address|adresse)(?:\s+postale)?\s+(?:to|en|pour|par)\b"
    r"|(?:envoyer|adresser)\s+(?:d[ée]sormais\s+)?(?:le|les|mon|mes|notre|nos|vos|tout\s+le)\s+"
    r"(?:courriers?|factures|correspondances?)\s+(?:d[ée]sormais\s+)?(?:au|à)"
    r"|send\s+(?:all\s+|your\s+|our\s+|the\s+)?(?:invoices|correspondence)\s+to"
    r"|(?:d[ée]sormais|maintenant|now)\s+(?:situ[ée]e?s?|install[ée]e?s?|domicili[ée]e?s?|located"
    r"|based)\s+(?:au|à|at|in)\b"
    r"|new\s+(?:postal\s+|mailing\s+|billing\s+|home\s+|office\s+)?address"
    r"|(?:my|our)\s+(?:(?:postal|mailing|home|office|registered|business|company|billing"
    r"|correspondence)\s+)?address(?=\s*(?::|is|will|has))"
    r"|(?:have|has|'ve|’ve|we|i)\s+(?:moved|relocated)\s+to|moving\s+to|relocated\s+to"
    r"|(?:have|has|'ve|’ve|we|i)\s+(?:moved|relocated)\s+from\s+[^\n:]{5,80}?\s+to\b"
    # "quitter X pour Y", "passer du X au Y", "moving from X to Y" (not "quitter le logement
    # que je loue au X": that one is left)
    r"|quitt\w+\s+[^\n:.!?]{5,80}?\s+pour\s+(?:le|la|l['’])?"
    r"|pass\w+\s+d[eu]\s+[^\n:.!?]{5,80}?\s+au\b|moving\s+from\s+[^\n:.!?]{5,80}?\s+to\b"
    r"|(?m:^\s*(?:new|nouvelle)\s*:)"
    r"|send\s+(?:all\s+)?(?:post|mail|letters)\s+to(?:\s+our\s+new\s+address)?"
    r"|adresse\s+est\s+d[ée]sormais|adresse\s+(?:de\s+facturation\s+)?devient"
    # a correction of the address on file: "Full address is …", "la bonne adresse c'est …"
    r"|(?:full|complete|correct|right)\s+(?:postal\s+)?address\s+is"
    r"|(?:la\s+bonne\s+adresse|adresse\s+(?:compl[èe]te|exacte|correcte))\s+(?:est|c['’]est)"
    r"|(?:mes|nos)\s+nouvelles\s+coordonn[ée]es(?:\s+postales)?(?=\s*:)"
    r"|changement\s+d['’]adresse[^:\n.]{0,40}:"
    r"|(?:update|change|modifier|changer)\s+(?:my|our|the|mon|notre|la|l['’])\s*"
    r"(?:(?:postal|mailing|home|billing|office)\s+)?(?:address|adresse)"
    r"(?:\s+(?:postale|de\s+facturation))?\s+(?:(?:on|in)\s+(?:my|our|your)\s+(?:account|file"
    r"|records?)\s+)?(?:to|en|pour|par)\b"
    r"|(?:update|change|modifier|changer|mettre\s+[àa]\s+jour)\s+(?:my|our|the|mon|notre|la|l['’])"
    r"\s*(?:(?:postal|mailing|home|billing|office|registered)\s+)?(?:address|adresse)"
    r"(?:\s+(?:postale|de\s+facturation))?\s*:"
    # a line ending on a colon that speaks of the address, the mail or sending, the block
    # below it: "Merci de noter :", "L'adresse complète c'est :", "send everything to:"
    r"|(?m:(?:^|(?<=[.!?] ))[^\n.!?:]*\b(?:adresse|address|courriers?|correspondences?|post"
    r"|mail|bills|factures?|statements|everything|tout|noter|note|(?:la|the)\s+(?:nouvelle|bonne"
    r"|new\s+one|right\s+one))\b[^\n.!?:]*:[ \t]*(?=\n)))"
    r"(?:\s*(?:will\s+be|sera|is\s+now|est\s+maintenant|est\s+d[ée]sormais|est|is|has\s+changed\s+to|devient"
    r"|à\s+compter\s+du[^:\n]*|as\s+of[^:\n]*|from[^:\n]*|d[èe]s\s+le[^:\n]*))?"
    r"[ \t]*(?:(?:le|the)[ \t]+)?[:,–-]?\s*",
    re.I,
)
_STREET_WORD = re.compile(
    r"\b(?:street|st|road|rd|avenue|ave|parkway|pkwy|lane|ln|drive|dr|boulevard|blvd|way|court|"
    r"ct|highway|hwy|rue|chemin|route|all[ée]e|impasse|quai|place)\b",
    re.I,
)
_BUILDING = re.compile(
    r"(?:case\s+postale|p\.?\s?o\.?\s+box|gpo\s+box|postfach|b[âa]t(?:iment)?\.?|r[ée]sidence|appartement|appt\.?|apt\.?|escalier|[ée]tage|flat|unit|"
    r"suite|building|floor|zi|za|zac|bp|cs|lieu-dit|hameau)\b",
    re.I,
)
_OLD = re.compile(r"\b(?:ancienne|old|previous|former|pr[ée]c[ée]dente)\b", re.I)
_STOP_LINE = re.compile(
    r"^(?:merci|cordialement|bien\s+[àa]|thanks|thank\s+you|kind\s+regards|regards|best|"
    r"bonne\s+journ[ée]e|sinc[eè]rement|t[ée]l|phone|--)",
    re.I,
)


@dataclass(frozen=True, slots=True)
class FoundAddress:
    """An address block and how sure the parser is of it (0..1)."""

    text: str
    confidence: float
    postcode_format: str
    doubts: tuple[str, ...] = ()  # why it may not be applied unseen (bot/extract/checks.py)


def postcode_format(line: str) -> str | None:
    """The first supported postcode format found in `line`, or None."""
    for name in ("UK", "CA", "US", "AU", "IE", "FR", "BE_CH"):
        if POSTCODES[name].search(line):
            return name
    return None


def _clean(part: str) -> str:
    part = part.strip(" \t,;.:?!–-«»\"'")
    if part.count("(") != part.count(")"):  # "(10 rue des Carmes, 31000 Toulouse"
        part = part.strip(" \t()")
    return " ".join(part.split())


# A recipient line before the address ("M. et Mme Dupont", "SARL Dubois"): not the address.
_RECIPIENT = re.compile(
    r"^(?:M\.|MM\.|Mme|Mlle|Madame|Monsieur|Mr\.?|Mrs\.?|Ms\.?|Miss|Dr\.?|SARL|SAS|SASU|EURL|SCI|"
    r"Soci[ée]t[ée]|Cabinet|Attn\.?|[àa]\s+l['’]attention\s+de)\s",
    re.I,
)


def _postcode_end(line: str) -> tuple[str, int] | None:
    """The postcode format of a line and where its postcode (with city) ends.

    A Belgian/Swiss four-digit code must start the line or follow a comma, and not be a
    street number ("1600 Amphitheatre Parkway").
    """
    fmt = postcode_format(line)
    if fmt is None:
        return None
    match = POSTCODES[fmt].search(line)
    assert match is not None
    if fmt == "BE_CH":
        before = line[: match.start()].rstrip()
        if (before and not before.endswith(",")) or _STREET_WORD.search(line[match.start() :]):
            return None
    return fmt, match.end()


# A line above the street naming a house, a building, a facility or a service ("Millbank
# House", "EHPAD Les Jardins", "Service Comptabilité"): part of the address for some, not for
# others (a person's or a company's name is the recipient, never part of it).
# A lower-case word that is no particle of a name: words of a sentence, not a name.
_PROSE_WORD = re.compile(r"(?:^|\s)(?!(?:de|du|des|la|le|les|van|von|der)\b)[a-zà-ÿ]{3,}")
_PLACE_OR_SERVICE = re.compile(
    r"\b(?:house|cottage|farm|lodge|manor|barn|mill|forge|hall|gardens?|villa|r[ée]sidence|"
    r"ehpad|maison|domaine|ch[âa]teau|ferme|mas|service|department|dept|office|bureau|"
    r"centre|center|building|b[âa]timent|immeuble|tower|tour|school|[ée]cole|college|"
    r"hospital|h[ôo]pital|clinic|clinique|care|finance|accounts?|comptabilit[ée]|"
    r"facturation|billing|payable|unit[ée]?|wing|block|annexe?|campus|estate|parc|park)\b",
    re.I,
)


_MONTHS = (
    r"janvier|f[ée]vrier|mars|avril|mai|juin|juillet|ao[ûu]t|septembre|octobre|novembre|"
    r"d[ée]cembre|january|february|march|april|may|june|july|august|september|october|"
    r"november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
# Where an address starts in its first line: a street number (12, 12 bis, 221B; not "1er
# mars", not a year), or a building, box or street word.
_ADDRESS_START = re.compile(
    r"(?<![\w-])\d{1,3}(?:st|nd|rd|th|e|er|[èe]me)\s+(?:floor|[ée]tage)\b|"
    rf"(?<![\w-])(?:\d{{1,4}}(?:\s?(?:bis|ter)\b|[A-Za-z](?![A-Za-z]))?(?=[\s,])"
    rf"(?!\s*(?:{_MONTHS})\b)"
    r"|(?:b[âa]t(?:iment)?|r[ée]sidence|appartement|appt|apt|flat|unit|suite|zi|za|zac|bp|cs|"
    r"lieu-dit|hameau|rue|avenue|boulevard|chemin|place|impasse|all[ée]e|route|quai|cours|"
    r"chauss[ée]e|domaine|lotissement|c/o|p\.?o\.?\s+box)\b)",
    re.I,
)


def _address_start(part: str) -> str:
    """The first line of a block from where the address starts ("à partir du 1er mars est
    12 rue …" → "12 rue …") when words of a sentence come first; else the line as it is."""
    match = _ADDRESS_START.search(part)
    if match is None:
        return part
    prefix = part[: match.start()]
    prose = ":" in prefix or re.search(r"(?:^|\s)[a-zà-ÿ]", prefix)  # not "Bahnhofstrasse 1"
    return part[match.start() :] if prose else part


def _agreement(block: str, fmt: str) -> float:
    """1.0 unless a French postcode contradicts its commune (then the block is a note)."""
    if fmt != "FR":
        return 1.0
    match = re.search(r"\b(?:F-?)?(\d{5})\s+(.+)$", block)
    if match is None:
        return 1.0
    agrees = postcode_agrees(match.group(1), match.group(2))
    return 0.5 if agrees is False else 1.0


# A word every branch of `_CUE` holds (one of them): a text without any has no cue, and
# this is much cheaper to look for than the cue itself.
_CUE_WORDS = re.compile(
    r"adress|address|coordonn|m[ée]nag|maintenant|d[ée]sormais|dor[ée]navant|now|new|nouve"
    r"|envoyer|send|moved|relocated|moving|quitt|pass\w+\s+d[eu]",
    re.I,
)


def may_hold_address(subject: str, text: str) -> bool:
    """Whether `find_address` or `find_bare_address` could find anything: each needs its cue."""
    if SUBJECT_CUE.search(subject):
        return True
    return _CUE_WORDS.search(text) is not None and _CUE.search(text) is not None


def find_address(
    text: str, max_lines: int = 6, max_cues: int = 20, region: str | None = None
) -> FoundAddress | None:
    """The new postal address the sender announces as their own, or None.

    `text` is the sender's own text (quotes and signature cut). The block runs from the cue
    to the line with the postcode; the sender-context checks of bot/extract/context.py
    apply. Two different announced addresses make none certain: None. `region` is the mail's
    (a postcode of another country is a doubt, bot/extract/checks.py).
    """
    found: list[FoundAddress] = []
    for tried, cue in enumerate(_CUE.finditer(text)):
        if tried >= max_cues:
            break
        before = text[max(0, cue.start() - 30) : cue.start()]
        if _OLD.search(before.rsplit("\n", 1)[-1]) or (
            cue.group(0).rstrip().endswith(":") and OLD_WORD.search(cue.group(0))
        ):
            continue  # "Ancienne adresse :", "Mon adresse actuelle :"
        block_start = cue.end()
        rest = text[block_start : block_start + 200 * (max_lines + 1)]
        parts: list[str] = []
        fmt = None
        consumed = 0
        for line in rest.split("\n")[: max_lines + 1]:
            consumed += len(line) + 1
            line = line.strip()
            if not line:
                if parts:
                    break
                continue
            if _STOP_LINE.match(line) or _CUE.search(line):
                break
            if line.endswith(":") and not postcode_format(line):
                parts = []  # a label ("Address:"), the address follows
                continue
            ends = _postcode_end(line)
            if ends:
                fmt = ends[0]
                parts.append(line[: ends[1]])
                consumed += ends[1] - len(line) - 1
                break
            parts.append(line)
        if not parts or not fmt:
            continue
        if not sender_context(text, cue.start(), block_start, block_start + consumed):
            continue
        # A name line above the street ("Jean Dupont", "Boulangerie Martin"): the recipient,
        # dropped; from a line naming a house or a service down ("Millbank House", "Attn:
        # Billing Dept."), the lines are kept, with a doubt (whether they belong is taste).
        kept_names = False
        head, comma, rest = parts[0].partition(",")
        if (  # "Corinne Wenger, Rue des Alpes 9, 1630 Bulle": the name on the street's line
            comma
            and not re.search(r"\d|:", head)
            and not re.search(
                r"(?:^|\s)(?!(?:de|du|des|la|le|les|van|von|der)\b)[a-zà-ÿ]{3,}", head
            )
            and not _ADDRESS_START.match(head.strip())
            and _ADDRESS_START.match(rest.strip())
        ):
            parts = [head.strip(), rest.strip(), *parts[1:]]
        while (
            len(parts) > 1
            and not re.search(r"\d", parts[0])
            and (
                _RECIPIENT.match(parts[0])
                or (
                    not _ADDRESS_START.match(parts[0])
                    and any(_ADDRESS_START.match(p) for p in parts[1:])
                )
            )
        ):
            if _PLACE_OR_SERVICE.search(parts[0]):
                kept_names = True
                break
            parts.pop(0)
        first = _address_start(parts[0])
        prefix = parts[0][: len(parts[0]) - len(first)]
        if someone_elses(prefix) or OLD_WORD.search(prefix) or ends_a_sentence(prefix):
            continue  # "… the new address of our supplier is …", "(l'ancienne était le …",
            # "I'm moving to Atlanta. Send the box to: 2290 …" (another sentence's address)
        parts[0] = first
        if any(ends_a_sentence(p) and len(p.split()) > 10 for p in parts):
            continue  # sentences run into the block: "… anyway. Close my account. Send to: 2290"
        block = ", ".join(_clean(p) for p in parts if _clean(p))
        looks = _STREET.search(block) or re.match(r"\d", block) or _BUILDING.match(block)
        confidence = (0.95 if looks else 0.7) * _agreement(block, fmt)
        introduced = introduced_as_new(text, cue.start(), block_start)
        doubts = address_doubts(block, fmt, region, introduced)
        if kept_names:
            doubts += ("address_name_line_unsure",)  # "Millbank House": in it or not?
        found.append(FoundAddress(block, confidence, fmt, doubts))
    distinct = {_fold_block(f.text) for f in found}
    if len(distinct) != 1:
        return None
    return max(found, key=lambda f: f.confidence)


def _fold_block(block: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", block.casefold()).split())


# A subject that announces the change when the body gives the address bare, on its own lines.
SUBJECT_CUE = re.compile(
    r"changement\s+d['’]adresse|nouvelle\s+adresse|d[ée]m[ée]nagement|change\s+of\s+address|"
    r"new\s+(?:postal\s+|mailing\s+)?address|address\s+(?:change|update)|"
    r"(?:we|i)(?:['’]ve|\s+have)\s+moved",
    re.I,
)
_BARE_LINE = re.compile(r"[^.!?:;]{2,70}")  # an address line: short, no sentence punctuation
_GREETING = re.compile(r"(?:bonjour|bonsoir|hello|hi|dear|madame|monsieur)\b[^\n]{0,40}", re.I)


def find_bare_address(
    subject: str, text: str, region: str | None = None, max_lines: int = 4
) -> FoundAddress | None:
    """The address a body gives on lines of its own under a subject that announces the change
    ("Changement d'adresse" / "Bonjour,\\n12 rue X\\n75001 Paris\\nMerci"), or None.

    Only when it is the one address block of the sender's own text and nothing in the text
    calls anything old or someone else's; never applied unseen (the subject alone
    introduces it).
    """
    if not SUBJECT_CUE.search(subject) or _OLD.search(text) or someone_elses(text):
        return None
    lines = text.split("\n")
    blocks: list[FoundAddress] = []
    for k, line in enumerate(lines):
        ends = _postcode_end(line.strip())
        if ends is None or not _BARE_LINE.fullmatch(line.strip()):
            continue
        parts = [line.strip()[: ends[1]]]
        for before in reversed(lines[max(0, k - max_lines + 1) : k]):
            if not before.strip() or not _BARE_LINE.fullmatch(before.strip()):
                break
            parts.insert(0, before.strip())
        while len(parts) > 1 and _GREETING.fullmatch(parts[0]):
            parts.pop(0)
        if not _ADDRESS_START.match(parts[0]):
            continue  # a name line before the street: a signature, not an announcement
        block = ", ".join(_clean(p) for p in parts if _clean(p))
        if not (_STREET.search(block) or has_numbered_street(block)):
            continue
        doubts = address_doubts(block, ends[0], region, True)
        blocks.append(FoundAddress(block, 0.95 * _agreement(block, ends[0]), ends[0], doubts))
    if len({_fold_block(b.text) for b in blocks}) != 1:
        return None
    found = blocks[0]
    return FoundAddress(
        found.text, found.confidence, found.postcode_format,
        (*found.doubts, "introduced_only_by_the_subject"),
    )  # fmt: skip


def address_from_lines(lines: list[str], region: str | None = None) -> FoundAddress | None:
    """An address given as lines of a labelled block ("Adresse : 27 rue X" + "75011 Paris"):
    up to the line with the postcode, or None without one."""
    parts: list[str] = []
    for line in lines:
        ends = _postcode_end(line.strip())
        if ends:
            parts.append(line.strip()[: ends[1]])
            block = ", ".join(_clean(p) for p in parts if _clean(p))
            doubts = address_doubts(block, ends[0], region, True)
            return FoundAddress(block, 0.95 * _agreement(block, ends[0]), ends[0], doubts)
        parts.append(line.strip())
    return None
