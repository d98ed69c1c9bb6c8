"""Doubts a whole mail casts on applying its change unseen, wherever in the mail they stand.

The extractors read a value in its own sentence; these look at the rest of the sender's
text, because a wrong change applied is worse than a note (issue 12):
- second thoughts ("ah non, en fait je garde ma ligne", "ne changez rien", "this was meant
  for my insurer, please ignore it"): the change may be taken back, in words a retraction
  pattern does not know;
- a change already made and confirmed ("l'adresse est bien passée", "tout est en ordre",
  "it was updated on your side, thanks"): nothing may be left to change;
- another person named beside an e-mail or a phone ("Loïc Bernardeau
  (l.bernardeau@…)", "notre nouveau responsable : …"), or a relative anywhere ("mon mari",
  "my dad"): the value may be that person's, or theirs to confirm.
- a reply or a forward ("Re:", "TR:", "Fwd:"): the change may be one already made, or come
  from the thread quoted or forwarded.
A mail with such a doubt is still read: its values go to an agent's note, never applied.
"""

from __future__ import annotations

import re

from bot.extract.context import KIN_EN, KIN_FR

SECOND_THOUGHTS = re.compile(
    r"\b(?:ah\s+non|oh\s+non|en\s+fait|finalement|[àa]\s+la\s+r[ée]flexion|tout\s+compte\s+fait|"
    r"chang[ée]\s+d['’]avis|ne\s+(?:changez|modifiez|touchez)\s+(?:[àa]\s+)?rien|"
    r"(?:je|nous|on)\s+gard(?:e|ons)\s+(?:finalement\s+)?(?:mon|ma|mes|notre|nos|l['’]|le|la)|"
    r"(?:merci|pri[èe]re|veuillez|vous\s+pouvez)\s+d?['’]?\s*ignorer|"
    r"(?:message|mail|courriel)\s+(?:[ée]tait|est)\s+destin[ée]|pas\s+[àa]\s+vous|"
    r"mauvais\s+destinataire|"
    r"actually|on\s+second\s+thoughts?|after\s+all|changed\s+(?:my|our)\s+minds?|"
    r"(?:don['’]t|do\s+not|please\s+don['’]t)\s+(?:change|update|touch)\s+anything|"
    r"(?:i|we)(?:['’]m|['’]re|\s+am|\s+are)?\s+keep(?:ing)?\s+(?:my|our|the)|"
    r"(?:meant|intended)\s+for|not\s+(?:meant\s+)?for\s+you|wrong\s+(?:recipient|company|person)"
    r"|hold\s+(?:on|off)|oubliez|forget\s+(?:it|about\s+it)|"
    # sent by mistake, or the change called off: "envoyé par erreur", "the sale fell through"
    r"(?:envoy[ée]e?|sent)\s+(?:\w+\s+){0,3}?(?:par\s+erreur|by\s+mistake|in\s+error)|"
    r"destin[ée]e?\s+(?:[àa]|pour)|pas\s+destin[ée]|fell\s+through|called\s+off|"
    r"tomb[ée]e?\s+[àa]\s+l['’]eau|"
    r"(?:est|a\s+[ée]t[ée])\s+(?:report[ée]e?|annul[ée]e?)|(?:is|was|has\s+been)\s+(?:postponed|"
    r"cancell?ed|off)|"
    r"(?:leave|keep)\s+(?:everything|it|things|all)\s+(?:as\s+(?:it\s+is|they\s+are)|unchanged)|"
    r"(?:laissez|gardez)\s+(?:tout|les\s+choses)\s+(?:comme|en\s+l['’][ée]tat|tel)|"
    r"restez\s+sur\s+l['’]ancien|ne\s+faites\s+rien|r[ée]flexion\s+faite|on\s+reflection|"
    r"do\s+nothing|retir\w*\s+ma\s+demande|withdraw\w*|erreur\s+d['’]envoi|"
    r"(?:courriel|mail|message|e-?mail)\s+(?:concernait|[ée]tait\s+pour|was\s+for)|"
    r"wrong\s+(?:inbox|address\s+book|contact)|"
    # a slip noticed: "oh wait, that's my work phone", "zut, c'est celui de mon mari"
    r"(?:oh\s+)?wait\s*[,!.—–-]|wait\s+a\s+(?:minute|sec\w*)|zut|mince|"
    r"je\s+vous\s+(?:renvoie|renverrai|redonne|redonnerai|envoie|enverrai)\s+(?:le|la|les)\s+"
    r"(?:bon|bonne|vrai)|(?:i['’]ll|i\s+will)\s+send\s+(?:you\s+)?the\s+(?:right|correct|proper)|"
    # a condition: "si la vente se fait", "assuming planning permission comes through"
    r"si\s+(?:la\s+vente|le\s+(?:pr[êe]t|compromis|cr[ée]dit|bail|dossier))|[àa]\s+condition|"
    r"sous\s+condition|assuming|provided\s+(?:that|the)|subject\s+to|"
    r"if\s+(?:the\s+)?(?:sale|mortgage|purchase|lease|offer)|sauf\s+si|[àa]\s+moins\s+que|"
    r"unless)\b"
    # a turn after the change: "mais", "but", "however", "EDIT :", "PS :"
    r"|\b(?:mais|but|however|cependant|toutefois|pourtant|sauf\s+que|except\s+that|instead)\b"
    r"|(?-i:\b(?:EDIT|Edit|P\.?\s?S\.?|PS)\b)\s*:?",
    re.I,
)
DONE = re.compile(
    r"\b(?:(?:est|sont|a|ont)\s+(?:bien\s+)?(?:[ée]t[ée]\s+)?bien\s+(?:pass|pris|enregistr|modifi|"
    r"chang|mis|pris\s+en\s+compte|[ée]t[ée])\w*|tout\s+est\s+(?:en\s+ordre|bon|correct)|"
    r"(?:j['’]ai|nous\s+avons|on\s+a)\s+bien\s+re[çc]u|c['’]est\s+(?:bien\s+)?not[ée]|"
    r"(?:est|sont|a\s+[ée]t[ée]|ont\s+[ée]t[ée])\s+(?:bien\s+)?(?:enregistr|pris\s+en\s+compte)\w*|"
    r"(?:that['’]s|it['’]s|all)\s+sorted|"
    # shown on a bill already: "my latest bill shows", "ma facture indique bien"
    r"(?:bill|invoice|statement|letter|account|record)s?\s+(?:now\s+)?(?:shows?|displays?|lists?)|"
    r"(?:indique|affiche|mentionne|porte)(?:nt)?\s+(?:bien|d[ée]j[àa])|"
    r"(?:received|got)\s+(?:the|your|a)\s+(?:letter|confirmation)|"
    r"merci\s+d['’]avoir\s+(?:mis|chang|modifi|enregistr|pris|corrig)\w*|"
    r"(?:already|d[ée]j[àa])\s+(?:been\s+)?(?:updated|changed|done|fait|mis|modifi\w*|chang\w*)|"
    r"(?:all|everything)\s+(?:looks\s+|is\s+)?(?:good|fine|in\s+order|sorted)|"
    r"thanks?(?:\s+you)?\s+for\s+(?:updating|changing|recording|amending|the\s+quick)|"
    # seen done: "je vois que …", "I can see it is now on my account", "all done"
    r"je\s+vois\s+[^.!?\n]{0,80}?\b(?:bien|d[ée]sormais|maintenant|appara\w+|figure)|"
    r"can\s+see\s+[^.!?\n]{0,80}?\b(?:now|updated|changed|showing)|"
    # a passive that says by whom or how well: a number "changed" by the operator is no sign
    r"(?:a|ont)\s+[ée]t[ée]\s+fait|(?:a|ont)\s+(?:bien\s+[ée]t[ée]|[ée]t[ée]\s+bien)\s+"
    r"(?:modifi|chang|mis\s+[àa]\s+jour|pris\s+en\s+compte|enregistr|corrig)\w*|"
    r"(?:a|ont)\s+[ée]t[ée]\s+(?:modifi|chang|mis\s+[àa]\s+jour|enregistr|corrig)\w*\s+"
    r"(?:de\s+votre\s+c[ôo]t[ée]|par\s+vos\s+services|sur\s+(?:ma|mon|votre))|"
    r"(?:has|have|was|were)\s+(?:now\s+)?(?:been\s+)?(?:correctly\s+|successfully\s+)?"
    r"(?:updated|changed|amended|recorded|corrected)\s+(?:on\s+(?:your|the)\s+(?:side|end|system)|"
    r"in\s+(?:your|the)\s+(?:records|system)|by\s+(?:you|your))|"
    r"(?:has|have|was|were)\s+(?:now\s+)?(?:been\s+)?(?:correctly|successfully)\s+"
    r"(?:updated|changed|amended|recorded|corrected)|all\s+done|"
    r"(?:appara[iî]t|figure)\s+(?:bien|d[ée]sormais|maintenant|d[ée]j[àa])|"
    r"(?:is|are)\s+now\s+(?:on|showing|shown|correct)\b)\b",
    re.I,
)
# A person's name, then the value in brackets or after a colon or dash: "Loïc Bernardeau
# (l.bernardeau@…)", "Ms Orla Gallagher – 07700 900123".
_UPPER = r"[A-ZÀ-Ý][\w'’-]+"
NAMED_BESIDE = re.compile(rf"(?-i:{_UPPER}[ \t]+{_UPPER})[ \t]*(?:[(<\[]|[:–-][ \t])[ \t]*$")
# A person the mail names as a new contact or recipient: "notre nouveau responsable",
# "à l'attention de", "our new bookkeeper".
ANOTHER_PERSON = re.compile(
    r"\b(?:responsable|interlocut\w+|contact\s+person|point\s+of\s+contact|[àa]\s+l['’]attention"
    r"|attention\s+of|(?:new|nouve(?:au|lle))\s+(?:bookkeeper|accountant|comptable|"
    r"colleague|coll[èe]gue|assistant\w*|office\s+manager|finance\s+\w+|directeur|directrice|"
    r"g[ée]rante?|manager))\b",
    re.I,
)


# A relative of the sender's: "mon mari", "my dad", "les affaires de mon père". The value may
# be theirs, or theirs to confirm.
RELATIVE = re.compile(rf"\b(?:(?:mon|ma|mes|notre|nos)\s+{KIN_FR}|(?:my|our)\s+{KIN_EN})\b", re.I)


# "Re:", "TR:", "Fwd:": a reply may confirm a change already made or answer the quoted
# thread, a forward carries someone else's words.
REPLY_OR_FORWARD = re.compile(r"^\s*(?:re|tr|fw|fwd|aw|wg|r[ée]f)\s*:", re.I)


def mail_doubts(subject: str, body: str, after: int = 0) -> tuple[str, ...]:
    """What the mail makes doubtful in any value it gives: a reply or forward, second thoughts
    after `after` (where the mail's first value stands), a change already made anywhere."""
    doubts: list[str] = []
    if REPLY_OR_FORWARD.match(subject):
        doubts.append("a_reply_or_forward")
    if SECOND_THOUGHTS.search(body, after):
        doubts.append("second_thoughts_in_the_mail")
    if DONE.search(body):
        doubts.append("change_maybe_already_made")
    if RELATIVE.search(body):
        doubts.append("a_relative_named_in_the_mail")
    return tuple(doubts)


def persons_value(body: str, value: str, at: int) -> bool:
    """Whether a value may be another person's than the sender's: the mail names a new
    contact or recipient, or the value (at `at`, -1 when not found) stands right after a
    person's name."""
    if ANOTHER_PERSON.search(body):
        return True
    return at >= 0 and NAMED_BESIDE.search(body[max(0, at - 60) : at]) is not None
