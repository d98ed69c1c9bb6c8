"""Whether a value sits in the sender's own new-value context: the checks every field shares.

A value counts only when it follows a change cue in the same sentence ("ma nouvelle adresse",
"my new number is", "désormais", "à compter du"), in the sender's own text (quoted history,
forwarded mail and signature blocks are cut first, bot/mail/text.py), and that sentence
neither calls it old ("ancienne", "previous", "n'est plus valable"), nor gives it as someone
else's ("mon voisin", "your shop", "sa nouvelle adresse"), nor hedges ("soit … soit",
"either … or", "je ne sais pas encore"), nor asks a question about it.
"""

from __future__ import annotations

import re

from bot.mail.text import html_to_text, strip_quotes_and_signature

NEW_WORD = re.compile(
    r"\b(?:nouveaux?|nouvel(?:les?)?|new|updated|mis\s+[àa]\s+jour|d[ée]sormais|now|chang[ée]s?|"
    r"changed|changes?|replace|remplac\w*|[àa]\s+compter\s+d[ue]|[àa]\s+partir\s+d|as\s+of|"
    r"from\s+now\s+on|"
    r"going\s+forward|dor[ée]navant|maintenant|moved|d[ée]m[ée]nag\w*|relocated|"
    r"[àa]\s+l['’]avenir|in\s+(?:the\s+)?future|[àa]\s+la\s+place)\b",
    re.I,
)
OLD_WORD = re.compile(
    r"\b(?:ancien(?:ne)?s?|old|previous|former|pr[ée]c[ée]dent(?:e)?|instead\s+of|au\s+lieu\s+de"
    r"|plus\s+valable|no\s+longer|toujours|still|reste|restent|inchang[ée]e?s?|unchanged|"
    r"remains?|stays?|same|actuel(?:le)?|current|ne\s+change(?:nt|ra)?\s+pas|"
    r"(?:does|do|will)\s*n[o']?t\s+change|won['’]t\s+change|no\s+change|"
    r"pas\s+de\s+changement|sans\s+changement)\b",
    re.I,
)
THIRD_PARTY = re.compile(
    r"\b(?:voisine?s?|neighbou?rs?(?:['’]s)?|agences?|agency|boutiques?|shops?(?:['’]s)?|"
    r"magasins?|stores?|succursales?|branch|fils|filles?|son(?:['’]s)?|daughter(?:['’]s)?|"
    r"m[èe]re|p[èe]re|mother|father|coll[èe]gues?|colleague(?:['’]s)?|comptable|accountant|"
    r"landlord|propri[ée]taire|mari|femme|[ée]pou(?:x|se)|conjointe?|compagnon|compagne|"
    r"husband(?:['’]s)?|wife(?:['’]s)?|partner(?:['’]s)?|secr[ée]taire|secretary|assistante?|"
    r"manager(?:['’]s)?|gestionnaire|fournisseurs?|suppliers?(?:['’]s)?|boss(?:['’]s)?|"
    r"directeur|directrice|director(?:['’]s)?|fr[èe]re|s(?:œ|oe)ur|brother(?:['’]s)?|"
    r"sister(?:['’]s)?|ami|amie|friend(?:['’]s)?|locataire|tenant(?:['’]s)?|employ[ée]e?|"
    r"employee(?:['’]s)?)\b",
    re.I,
)
# "sa nouvelle adresse", "their new number", "votre adresse": someone else's value.
OTHERS_VALUE = re.compile(
    r"\b(?:sa|son|ses|leur|leurs|his|her|their|your|votre|vos)\s+(?:\w+['’]s\s+)?"
    r"(?:nouve\w*|new|adresse|address|num[ée]ro|number|phone|t[ée]l\w*|e-?mail|courriel|mail)",
    re.I,
)
HEDGE = re.compile(
    r"\b(?:soit|either|ou\s+bien|peut-[êe]tre|perhaps|maybe|probably|probablement|"
    r"pas\s+encore|not\s+yet|ne\s+sais\s+pas|sais\s+pas|not\s+sure|don['’]t\s+know|"
    r"l['’]ann[ée]e\s+prochaine|next\s+year|un\s+jour|someday|si\s+jamais|in\s+case|might|"
    r"may\s+(?:be|have|move|need|change)|thinking\s+(?:of|about)|considering|envisag\w+|"
    r"(?:je|nous|on)\s+(?:pense|pensons|envisage|envisageons)|sous\s+r[ée]serve|"
    r"if\s+all\s+goes|si\s+tout\s+va\s+bien|hopefully|not\s+(?:yet\s+)?(?:confirmed|final)|"
    r"pas\s+(?:encore\s+)?(?:confirm[ée]|d[ée]finiti\w*))\b",
    re.I,
)
# A delivery address for one order, a temporary stay: not the contact's address.
ONE_OFF = re.compile(
    r"\b(?:livraison|livrer|livrez|delivery|deliver|shipping|ship\s+to|cette\s+commande|"
    r"this\s+order|temporairement|temporarily|provisoirement|pendant\s+les\s+vacances|"
    r"during\s+the\s+holidays|exceptionnel\w*|exceptionally|just\s+(?:this|once)|only\s+(?:this|once)|"
    r"uniquement\s+(?:cette|ce|pour\s+(?:cette|ce))|pour\s+cette\s+fois|this\s+(?:one\s+)?time|"
    r"one[- ]off|une\s+seule\s+fois|just\s+for\s+(?:this|the\s+(?:next|last))|"
    # a copy to someone else: "mettre en copie", "please cc", "copy in our accountant"
    r"en\s+copie|\bcc\b|carbon\s+copy|copy\s+(?:in\s+)?(?:my|our|the|him|her))\b",
    re.I,
)
# A change of the value for now, not for good: works, a stay, a temporary line.
TEMPORARY = re.compile(
    r"\b(?:travaux|chantier|r[ée]novation|renovation|works|building\s+work|temporaire\w*|"
    r"temporary|provisoire\w*|provisional|interim|jusqu['’]\s*(?:à|au|a|en)\b|until|till|"
    r"le\s+temps\s+d[eu']|for\s+the\s+(?:next|coming)|pendant\s+(?:mon|notre|les|la|le)\s+"
    r"(?:absence|s[ée]jour|d[ée]placement|cong[ée]s?)|while\s+(?:i|we)\s+(?:am|are)\s+away|"
    r"en\s+attendant|in\s+the\s+meantime|for\s+now|pour\s+l['’]instant|while|refurbish\w*|"
    r"r[ée]fection|secondaire|holiday\s+home|vacation\s+home|maison\s+de\s+vacances|"
    r"du\s+\d{1,2}(?:er)?\s+\w+\s+au\s+\d{1,2}|from\s+\d{1,2}(?:st|nd|rd|th)?\s+\w+\s+"
    r"(?:to|until)\s+\d{1,2})\b",
    re.I,
)
# A change already made, thanked for or confirmed ("j'ai bien reçu ma facture à ma nouvelle
# adresse", "thanks for updating my number"): nothing left to change.
ALREADY_DONE = re.compile(
    r"\b(?:(?:j['’]ai|nous\s+avons|on\s+a)\s+bien\s+re[çc]u|bien\s+re[çc]u\w*|"
    r"(?:i|we)(?:['’]ve|\s+have)?\s+(?:now\s+)?(?:received|got)\b|arriv\w+\s+(?:bien\s+)?[àa]\s+"
    r"(?:ma|mon|notre)\s+nouv|arrived\s+at\s+(?:my|our)\s+new|"
    r"thanks?(?:\s+you)?\s+for\s+(?:updating|changing|recording|amending)|"
    r"merci\s+d['’]avoir\s+(?:mis|chang|modifi|enregistr|pris|corrig)\w*)",
    re.I,
)
KIN_EN = (
    r"(?:mother|father|mom|mum|dad|son|daughter|husband|wife|partner|brother|sister|"
    r"grandmother|grandfather|gran|nan|aunt|uncle|neighbou?r|tenant|friend|colleague|parents|"
    r"kids|children|in-laws)"
)
KIN_FR = (
    r"(?:m[èe]re|p[èe]re|fils|fille|mari|femme|[ée]pouse|[ée]poux|fr[èe]re|s(?:œ|oe)ur|"
    r"grand-m[èe]re|grand-p[èe]re|oncle|tante|voisine?|locataire|amie?|coll[èe]gue|parents|"
    r"enfants|beau-p[èe]re|belle-m[èe]re|conjointe?|compagnon|compagne)"
)
# A mail written for someone else ("je vous écris pour le compte de ma mère", "we act for
# the estate of"): whatever it asks is that person's to confirm.
ON_BEHALF = re.compile(
    r"\b(?:pour\s+le\s+compte\s+d[eu']|au\s+nom\s+d[eu']\s+(?:mon|ma|notre)|on\s+behalf\s+of|"
    r"we\s+act\s+(?:for|on\s+behalf)|nous\s+agissons\s+pour|en\s+(?:tant\s+qu['’]|qualit[ée]\s+d['’])"
    r"\s*(?:expert-?\s*)?comptable|as\s+(?:the\s+)?(?:accountants?|solicitors?|executors?|"
    r"attorneys?)\s+(?:for|of|to)|succession\s+d[eu']|estate\s+of\s+the\s+late|"
    rf"(?:my|our)\s+{KIN_EN}['’]s?\s+(?:account|contract|line|phone|mobile|number|bills?|"
    r"details|address|meter)|"
    rf"(?:ligne|contrat|compte|dossier|abonnement|factures?|compteur|num[ée]ro|adresse)s?\s+"
    rf"(?:de|d['’])\s*(?:ma|mon|notre|nos)\s+{KIN_FR})",
    re.I,
)
# The words that present a value as the new one (or the change to it).
INTRODUCING = re.compile(
    NEW_WORD.pattern
    + r"|\b(?:update|modifier|modifiez|changer|changez|changement|moving|r[ée]side\w*|"
    r"mettre\s+[àa]\s+jour|amend|will\s+be|sera|from\s+then\s+on|thereafter|d[èe]s\s+lors|with\s+effect\s+from|effective|quitt\w*|"
    r"pass\w+\s+d[eu]|move|switch\w*|transf[eé]r\w*|"
    r"[àa]\s+partir\s+d[ue]|d[èe]s\s+le)\b",
    re.I,
)
# A sentence ends at ". ", "!", "?", ";" or a blank line (a line break alone does not end a
# label's sentence: "Nouvelle adresse :\n12 rue …").
# A period after a word of at most three letters ("Tél.", "Bât.", "St.", "M.") ends nothing.
# (A postcode's last part is no abbreviation: "… Bristol BS6 5AT. Could you …?" ends there.)
_L = r"[^\W\d_]"
_SENTENCE_END = re.compile(
    rf"(?<!\b{_L})(?<!\b{_L}{_L})(?<!\b{_L}{_L}{_L})[.](?=\s|$)|[!?;](?=\s|$)|\n\s*\n"
)
# "… ou au 06 22 …", "… or 12 Low Petergate": another candidate follows (not "ou par mail").
_ANOTHER = re.compile(r"\b(?:ou|or)\b\s+(?:[^\W\d]+\s+){0,2}[\d+(]")
# The same from the other side: a value offered as the alternative to the one before it
# ("06 12 … (ou 06 98 … le soir)", "07700 … or 020 …"): the second of several candidates.
_AN_ALTERNATIVE = re.compile(r"\b(?:ou|or)\b\s+(?:[^\W\d]+\s+){0,2}$")
# A cue that ends its line, the value on the lines below: "Nouvelle adresse :", "la nouvelle
# adresse est" + a blank line.
_LABEL = re.compile(r"[^.!?;\n]*\n\s*|[^.!?;\n]*:\s*")


# Markup left in a plain-text body ("<div>Bonjour,</div>", "par&nbsp;t.garnier@…").
_MARKUP = re.compile(
    r"</?(?:div|p|br|span|b|i|u|strong|em|font|li|ul|ol|table|tr|td)\b[^>]*>"
    r"|&(?:nbsp|amp|lt|gt|quot|#\d+);",
    re.I,
)


# A formal closing sentence, the signature below it ("Veuillez agréer, Madame, Monsieur,
# l'expression de nos salutations distinguées.", "Yours faithfully,").
_FORMAL_CLOSING = re.compile(
    r"^\W{0,3}(?:(?:veuillez|je\s+vous\s+prie\s+d['’]|nous\s+vous\s+prions\s+d['’])\s*"
    r"(?:agr[ée]er|recevoir)\b[^\n]{0,200}|(?:yours\s+)?(?:faithfully|sincerely)\s*,?)\s*$",
    re.I | re.M,
)
_SIGNATURE_LINES = 8


def own_text(body: str) -> str:
    """The sender's own words: markup read as text, quoted history, forwarded mail and
    signature block removed (a formal closing sentence ends the words too)."""
    body = body or ""
    if _MARKUP.search(body):
        body = html_to_text(body)
    text = strip_quotes_and_signature(body)
    closing = _FORMAL_CLOSING.search(text)
    if closing and text[closing.end() :].strip().count("\n") < _SIGNATURE_LINES:
        text = text[: closing.start()].rstrip()
    return text


def sentence_start(text: str, pos: int) -> int:
    """Where the sentence holding `pos` starts."""
    start = 0
    for match in _SENTENCE_END.finditer(text, 0, pos):
        start = match.end()
    return start


def ends_a_sentence(words: str) -> bool:
    """Whether a sentence ends within `words` (an abbreviation's period ends none)."""
    return _SENTENCE_END.search(words) is not None


def sentence_end(text: str, pos: int) -> int:
    """Where the sentence holding `pos` ends (the position of its end mark, or the end)."""
    match = _SENTENCE_END.search(text, pos)
    return match.start() if match else len(text)


# A request put as a question is still a request: "Could you change my address to …?"
_REQUEST = re.compile(
    r"\b(?:could|can|would)\s+you\s+(?:(?:please|kindly|also|just)\s+){0,2}"
    r"(?:update|change|amend|modify|record|note|replace|send|address|direct|use)"
    r"|\b(?:pourr(?:iez|ez)|pouvez)[- ]vous\s+(?:s['’]il\s+vous\s+pla[îi]t\s+|svp\s+|aussi\s+)?"
    r"(?:mettre\s+[àa]\s+jour|modifier|changer|enregistrer|noter|remplacer|envoyer|adresser"
    r"|utiliser)\b",
    re.I,
)


def is_question(text: str, end: int) -> bool:
    """Whether the sentence running on from `end` is a question (not a request put as one)."""
    stop = sentence_end(text, end)
    if text[stop : stop + 1] != "?":
        return False
    return not _REQUEST.search(text[sentence_start(text, end) : end])


# "remplacer le 01 …", "replace 0161 …": the value right after is the one replaced.
_REPLACED = re.compile(
    r"\b(?:remplac\w*|replace)\s+(?:(?:le|la|l['’]|the|my|our|mon|ma|notre)\s+)?"
    r"(?:[^\W\d]+\s+){0,2}$"
    # "changed from X to Y", "passer du X au Y": X is the old value
    r"|\b(?:chang\w*|moved?|moving|pass\w*|update\w*|switch\w*)\b[^\n.]{0,40}\b(?:from|du|de)\s+"
    r"(?:(?:le|la|l['’]|the|my|our|mon|ma|notre)\s+)?$"
    # "move my Direct Debit from my Barclays account (X) to …": what follows "from" up to "to"
    r"|\b(?:chang\w*|mov\w*|pass\w*|switch\w*|transfer\w*)\b[^\n.]{0,40}\bfrom\b"
    r"(?:(?!\b(?:to|into|onto|new|now|is|are|will)\b)[^\n.]){0,40}$",
    re.I,
)


def called_old(text: str, start: int) -> bool:
    """Whether the words before `start` on its line call the value old (after any new cue)."""
    line_start = text.rfind("\n", 0, start) + 1
    window = text[max(line_start, start - 80) : start]
    if _REPLACED.search(window):
        return True
    old = [m.end() for m in OLD_WORD.finditer(window)]
    if not old:
        return False
    new = [m.end() for m in NEW_WORD.finditer(window)]
    return not new or old[-1] > new[-1]


# Words right after a value that call it old or kept: "x@free.fr (which I can no longer
# access)", "FR76 … reste valable",
# "le 01 23 … qui ne fonctionne plus" (not "… (l'ancien n'existe plus)": that one is the other).
_OLD_AFTER = re.compile(
    r"[ \t»\"'”]*[(,–-]?[ \t]*(?:which|that|qui|car|as|since|because|parce\s+qu\w*|is|est)?"
    r"[^.;,\n()]{0,25}?"  # within the value's own clause: not "…", le SIRET ne change pas"
    r"\b(?:no\s+longer|not\s+(?:valid|working|in\s+use)\s+any\s*more|n['’](?:existe|est|"
    r"fonctionne|marche)\s+plus|ne\s+(?:marche|fonctionne|sert)\s+plus|(?:is\s+)?(?:being\s+)?"
    r"closed|ferm[ée]e?|d[ée]sactiv\w*|deactivat\w*|shut\s+down|obsol[eè]te|expir\w*|"
    # … or kept as it is: "mon IBAN FR76 … reste valable", "07700 900123 stays the same"
    r"(?:reste|restent|remains?|stays?|is\s+still|est\s+toujours)\s+(?:valable|valid|le\s+m[êe]me|"
    r"the\s+same|inchang[ée]e?|unchanged|correct|bon(?:ne)?)|inchang[ée]e?|unchanged|"
    r"ne\s+change(?:nt|ra)?\s+pas|(?:does|will)\s*n[o']?t\s+change)\b",
    re.I,
)
_THE_OTHER = re.compile(
    r"\b(?:ancien\w*|old|previous|former|pr[ée]c[ée]dent\w*|autre|other)\b", re.I
)


def called_old_after(text: str, end: int) -> bool:
    """Whether the words right after a value call it old (closed, no longer in use)."""
    match = _OLD_AFTER.match(text, end)
    return match is not None and not _THE_OTHER.search(match.group(0))


def sender_context(text: str, cue_start: int, value_start: int, value_end: int) -> bool:
    """Whether a value after a cue is the sender's own, certain and stated (see module doc)."""
    label = _LABEL.fullmatch(text, cue_start, value_start)  # "Nouvelle adresse :" + blank line
    if sentence_start(text, value_start) > cue_start and not label:
        return False  # the cue belongs to another sentence
    lead = text[sentence_start(text, cue_start) : value_start]
    if someone_elses(lead) or _AN_ALTERNATIVE.search(lead, max(0, len(lead) - 30)):
        return False
    tail = text[value_end : sentence_end(text, value_end)]
    if HEDGE.search(tail) or _ANOTHER.search(tail) or TEMPORARY.search(tail):
        return False  # "… ou au 06 22 …", "… or 12 Low Petergate": several candidates
    return (
        not is_question(text, value_end)
        and not called_old(text, value_start)
        and not called_old_after(text, value_end)
    )


def someone_elses(words: str) -> bool:
    """Whether words leading to a value give it as someone else's, temporary, one-off, hedged
    or already changed."""
    return any(
        r.search(words)
        for r in (THIRD_PARTY, OTHERS_VALUE, HEDGE, ONE_OFF, TEMPORARY, ALREADY_DONE)
    )


def introduced_as_new(text: str, cue_start: int, value_start: int) -> bool:
    """Whether the sender's words leading to a value present it as the new one."""
    lead = text[sentence_start(text, cue_start) : value_start]
    return bool(INTRODUCING.search(lead))
