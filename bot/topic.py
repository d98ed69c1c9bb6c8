"""What a request is about, for grouping: content words without greetings, sign-offs and
boilerplate, identifiers (invoice, contract numbers), reply prefixes, and bare status chases.

Everything here is pure text work (FR and EN); the dedup stage decides with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from bot.textfold import strip_accents

# "RE:", "Re :", "TR:", "Fwd:", "AW:", "WG:", "Réf :", "RE[2]:" … repeated.
REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|tr|fw|fwd|aw|wg|sv|vs|r[eé]f|r[eé]ponse|antw)\s*(?:\[\d+\])?\s*:\s*)+", re.I
)
_CASE_REF = re.compile(r"\[?#?[a-z][a-z0-9]{0,9}-\d{1,12}\]?", re.I)
_WORD = re.compile(r"[a-z0-9]+(?:[-/][a-z0-9]+)*")
_DIGITS = re.compile(r"\d")
_NON_WORD = re.compile(r"[^a-z0-9]+")

# Lines that greet, thank or sign off: they say nothing about the topic.
_BOILERPLATE_LINE = re.compile(
    r"^\W*(?:bonjour|bonsoir|hello|hi|hey|dear|madame|monsieur|mme|mr|mrs|ms|cher|chere|"
    r"cordialement|bien cordialement|bien a vous|salutations|sinceres salutations|"
    r"veuillez agreer|je vous prie|merci|merci d avance|merci par avance|thanks|thank you|"
    r"many thanks|regards|best regards|kind regards|best|cheers|sincerely|yours|"
    r"envoye de mon|sent from my|a bientot|bonne journee|have a nice day)\b"
    r"(?:[ \t,;.!:-]+[^\s?]+){0,3}[ \t,;.!:-]*$",  # a name at most, never a question
    re.M,
)

_STOPWORDS = frozenset(
    """
    a au aux avec ce ces cet cette ceci cela ca dans de des du elle elles en et eux il ils je
    j la le les leur leurs lui ma mais me meme mes moi mon ne nos notre nous on ou par pas pour
    qu que qui sa se ses son sur ta te tes toi ton tu un une vos votre vous y est sont ai as
    avons avez ont suis es etes etait ete etre avoir fait faire plus tres bien aussi donc car
    si deja encore tout tous toute toutes comme depuis sans sous chez entre vers apres avant
    alors ici la quand comment pourquoi quel quelle quels quelles dont cela celui celle ceux
    peux peut pouvez pourriez pourrait merci bonjour bonsoir madame monsieur cordialement
    svp stp the an and or of to in on at for from by with about as is are was were be been
    being have has had do does did will would can could should may might must shall this
    that these those it its we our ours you your yours he she they them their his her me my
    mine i not no yes please thanks thank hello hi dear regards kind best there here what
    which who whom when where why how all any some very just also so but if then than too
    into over under again still yet since get got make made need needs want would like
    """.split()  # noqa: SIM905
)

# Words of chasing itself: they tell a chase, not its topic.
_CHASE_WORDS = frozenset(
    """
    relance relancer relances relancons nouvelle nouvelles reponse reponses repondu retour
    toujours attente attends attendons update updates news answer answered reply replied
    response chasing chase following follow reminder rappel again writing ecris ecrire
    demande request requests status statut suivi point message mail email courriel semaine
    week jours days personne nobody anyone someone quelqu
    """.split()  # noqa: SIM905
)

# The customer chasing, not the company's payment reminder ("relance de paiement").
_RELANCE = (
    r"(?:je|nous) (?:me permets? de |nous permettons de )?(?:vous )?relanc\w*"
    r"|^(?:re )?relance\b(?! (?:de paiement|pour impaye|d impaye))"
    r"|(?:\d+e|\d+eme|deuxieme|troisieme|nouvelle|derniere|ceci est une) relance"
    r"|pour rappel|^rappel\b(?! de paiement)|petit rappel|nouveau rappel"
)
_REMINDER = (
    r"(?:second|third|2nd|3rd|final|another|friendly|gentle|last) reminder"
    r"|^(?:re )?reminder\b(?! (?:letter|notice))|just a reminder|as a reminder"
)

# The problem reported is still there ("still wrong", "toujours en panne"): a chase.
_PERSISTS = (
    r"still (?:wrong|broken|down|offline|stuck|missing|blank|incorrect"
    r"|unresolved|not fixed|not resolved|not solved|not working|the same|failing)"
    r"|toujours (?:faux|fausse|errone|erronee|bloque|bloquee"
    r"|en panne|le meme|la meme|incorrect|incorrecte|pas regle|pas resolu|pas corrige"
    r"|d actualite|hors service|coupe|coupee)"
)

# A bare status chase: the sender only asks where things stand.
_CHASE_PHRASES = re.compile(
    r"\b(?:any (?:update|news|progress)|an update"
    r"|still (?:waiting|nothing|not|no)|(?:i|we) (?:already )?wrote|writing again"
    rf"|{_PERSISTS}"
    rf"|{_REMINDER}|{_RELANCE}"
    r"|(?:i|we) (?:have|had) (?:already )?written|third time|second time|once again"
    r"|(?:no|without) (?:answer|reply|response|news)|following up|follow(?:ing)?[- ]up on"
    r"|just checking|checking in|chasing|where (?:are|do) (?:we|things) stand|what is the status"
    r"|status of my|heard nothing|haven t heard|have not heard"
    r"|des nouvelles|de nouvelles|sans nouvelles?|pas de nouvelles"
    r"|toujours (?:pas|rien|sans|en attente)"
    r"|sans reponse|pas de reponse|aucune reponse|(?:je|nous) vous (?:ai|avons) "
    r"(?:deja )?ecrit|deja ecrit|(?:deuxieme|troisieme|2e|3e) fois"
    r"|(?:ecris|ecrit|contacte|sollicite|permets) (?:a|de) nouveau|(?:a|de) nouveau vers vous"
    r"|ou en est|ou en sommes|ou en etes|qu en est il|avez[- ]vous (?:pu|du nouveau|avance)"
    r"|(?:je|nous) (?:me permets de |nous permettons de )?(?:vous )?re ?ecri\w*"
    r"|avez[- ]vous bien (?:note|recu|pris en compte|enregistre)"
    r"|did you (?:get|receive|see|note) my|have you (?:received|seen|noted) my"
    r"|point sur ma demande|suite a (?:mon|ma) (?:mail|message|demande|courriel))\b"
)
# The narrower list for a *bare* chase: asking for news or an answer, nothing else.
_BARE_CHASE = re.compile(
    r"\b(?:any (?:update|news|progress|feedback)|an update|(?:still|been) waiting"
    r"|still (?:no|nothing|not heard)|(?:no|without) (?:answer|reply|response|news|update)"
    r"|following up|follow(?:ing)?[- ]up|just checking|checking in|chasing"
    rf"|{_REMINDER}|{_RELANCE}"
    r"|where (?:are|do) (?:we|things) stand|what is the status|status of my|heard nothing"
    r"|haven t heard|have not heard|des nouvelles|de nouvelles"
    r"|sans nouvelles?|pas de nouvelles"
    r"|toujours (?:en attente|rien|sans (?:reponse|nouvelles?)"
    r"|pas de (?:reponse|nouvelles?|retour))"
    r"|sans reponse|pas de reponse|aucune reponse"
    r"|aucun retour|pas de retour|ou en est|ou en sommes|ou en etes|qu en est il"
    r"|avez[- ]vous (?:pu|du nouveau|avance)|point sur ma demande"
    r"|suite a (?:mon|ma) (?:mail|message|demande|courriel))\b"
)
CHASE_MAX_WORDS = 45
# A chase that points at the sender's own recent mail ("following up on my email from this
# morning", "suite à mon mail d'hier"): news of that mail, whatever words it adds.
_EARLIER_MAIL = r"(?:e mail|email|mail|message|courriel|demande|request)"
_POINTS_BACK = re.compile(
    r"\b(?:following up on|further to|suite a|suite de|concernant|regarding|about) (?:my|mon|ma)"
    rf" (?:(?:last|previous|earlier|dernier|derniere|precedent|precedente) )?{_EARLIER_MAIL}"
    rf"|\b(?:my|mon|ma) {_EARLIER_MAIL} (?:from |of |de |d |du )?(?:this morning|earlier today"
    r"|yesterday|today|ce matin|hier|aujourd hui|tout a l heure|cet apres midi)\b"
)


def strip_reply_prefix(subject: str) -> tuple[str, bool]:
    """The subject without its reply/forward prefixes, and whether it had one."""
    stripped = REPLY_PREFIX.sub("", subject or "")
    return stripped.strip(), stripped != (subject or "")


def subject_key(subject: str) -> str:
    """A subject folded for equality: no prefixes, no case reference, no punctuation."""
    text = _CASE_REF.sub(" ", strip_reply_prefix(strip_accents(subject or ""))[0])
    return " ".join(_WORD.findall(text))


def strip_boilerplate(text: str) -> str:
    """The folded text without greeting, thanks and sign-off lines."""
    return _BOILERPLATE_LINE.sub("", strip_accents(text or ""))


def stem(word: str) -> str:
    """A word as topics keep it: a long word's plural s or x dropped."""
    return _stem(word)


def _stem(word: str) -> str:
    if len(word) > 4 and word[-1] in "sx" and not _DIGITS.search(word):
        return word[:-1]
    return word


def is_identifier(word: str) -> bool:
    """An invoice, contract or meter number: six digits or more, or letters mixed with at
    least three digits (not a year, a postcode, a date or an amount)."""
    digits = sum(c.isdigit() for c in word)
    if word.isdigit():
        return digits >= 6 and not _PHONE.fullmatch(word)
    return digits >= 3 and any(c.isalpha() for c in word) and len(word) >= 5


# Digit groups written with spaces ("2148 6690 1375 02", "4016 3321") are one number.
_SPACED_NUMBER = re.compile(r"(?<![\w+])\d{2,6}(?: \d{2,6}){1,5}(?![\w])")
_PHONE = re.compile(r"0[1-9]\d{8}|(?:33|44)\d{9,10}")


def _identifiers_in(text: str) -> set[str]:
    found = set()
    for match in _SPACED_NUMBER.finditer(text):
        compact = match.group(0).replace(" ", "")
        if is_identifier(compact):
            found.add(compact)
    return found


@dataclass(frozen=True, slots=True)
class Topic:
    """What a request is about: its content words and its identifiers."""

    words: frozenset[str]
    identifiers: frozenset[str]
    text: str


def topic_of(subject: str, body: str) -> Topic:
    """Content words (stop words, chase words, greetings and sign-offs removed) and ids.

    Read from the first 300 characters of the subject and 4,000 of the body: a hostile 16 KB
    subject costs no more than a normal one, and the cache holds small keys only.
    """
    return _topic_of(subject[:300], body[:4000])


@lru_cache(maxsize=4096)
def _topic_of(subject: str, body: str) -> Topic:
    subject_text = _CASE_REF.sub(" ", strip_accents(strip_reply_prefix(subject)[0]))
    text = f"{subject_text}\n{strip_boilerplate(body[:4000])}"
    words: list[str] = []
    identifiers = _identifiers_in(text)
    for raw in _WORD.findall(text):
        compact = raw.replace("-", "").replace("/", "")
        if is_identifier(compact):
            identifiers.add(compact)
            continue
        for word in re.split(r"[-/]", raw):
            if len(word) < 3 or word.isdigit() or word in _STOPWORDS or word in _CHASE_WORDS:
                continue
            words.append(_stem(word))
    return Topic(frozenset(words), frozenset(identifiers), " ".join(words))


def topic_similarity(a: Topic, b: Topic) -> float:
    """How alike two topics are, 0..1: shared content words (Dice), tolerant of spelling."""
    if not a.words or not b.words:
        return 0.0
    dice = 2 * len(a.words & b.words) / (len(a.words) + len(b.words))
    fuzzy = fuzz.token_sort_ratio(a.text, b.text) / 100.0
    return max(dice, 0.5 * dice + 0.5 * fuzzy * min(1.0, 2 * dice + 0.2))


IDENTIFIER_BONUS = 0.15


def grouping_score(a: Topic, b: Topic, ignore: frozenset[str] = frozenset()) -> float:
    """Topic similarity, plus a bonus when both name the same number (an invoice, a meter;
    but also a customer number, which all of one person's mails may carry: a bonus only).
    `ignore`: words that say who writes, not what about (the sender's name)."""
    bonus = IDENTIFIER_BONUS if shares_identifier(a, b) else 0.0
    if ignore:
        a, b = _without(a, ignore), _without(b, ignore)
    return min(1.0, topic_similarity(a, b) + bonus)


def name_words(*names: str | None) -> frozenset[str]:
    """The folded words of people's names, to leave out of a topic."""
    words: set[str] = set()
    for name in names:
        words.update(_stem(w) for w in _WORD.findall(strip_accents(name or "")) if len(w) >= 3)
    return frozenset(words)


def _without(topic: Topic, ignore: frozenset[str]) -> Topic:
    kept = [w for w in topic.text.split() if w not in ignore]
    return Topic(frozenset(kept), topic.identifiers, " ".join(kept))


def shares_identifier(a: Topic, b: Topic) -> bool:
    """Whether two requests name the same invoice, contract or meter number."""
    return bool(a.identifiers & b.identifiers)


def is_status_chase(subject: str, body: str) -> bool:
    """A short message that only asks for news ("any update?", "des nouvelles ?", "relance")."""
    text = _flat(strip_boilerplate(f"{strip_reply_prefix(subject)[0]}\n{body[:2000]}"))
    if not text or len(text.split()) > CHASE_MAX_WORDS:
        return False
    return _BARE_CHASE.search(text) is not None


def points_back(subject: str, body: str) -> bool:
    """Whether a chase points at the sender's own recent mail ("following up on my email from
    this morning", "suite à mon mail d'hier", "mon courriel de ce matin")."""
    return _POINTS_BACK.search(_flat(strip_accents(f"{subject}\n{body[:2000]}"))) is not None


def says_chase(subject: str, body: str) -> bool:
    """Whether a message, long or short, says it is chasing an earlier one."""
    return _CHASE_PHRASES.search(_flat(strip_accents(f"{subject}\n{body[:3000]}"))) is not None


def _flat(folded: str) -> str:
    return " ".join(_NON_WORD.split(folded)).strip()
