"""Language detection for short business mails: a stopword and character-cue scorer."""

from __future__ import annotations

import re
import unicodedata


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that are frequent in one language and rare in the others. Words shared by French and
# English ("a", "on", "me", "plus", "date", "service", "message", "client") are left out.
_STOPWORDS: dict[str, frozenset[str]] = {
    "fr": _words(
        """
        le la les des du de un une et est je tu il elle nous vous ils elles pour pas que
        qui quoi avec sur dans mon ma mes ton ta tes son sa ses votre vos notre nos leur
        leurs ce cette ces cet au aux ne ni mais ou où très bien avez avons suis sont
        sommes êtes être avoir fait faire par encore aussi toujours depuis déjà jamais
        rien tout tous toute merci bonjour bonsoir madame monsieur mesdames messieurs
        cordialement salutations svp facture factures commande commandes compte
        livraison colis reçu reçue reçus envoyé envoyée demande demandes remboursement
        problème problèmes rappeler pouvez pourriez pourrais voudrais souhaite
        souhaiterais besoin aide été jour jours semaine mois hier aujourd demain numéro
        adresse changer modifier annuler résilier abonnement paiement payé prélèvement
        contrat devis dossier réponse attente dès lorsque quand comment pourquoi donc
        alors si oui non ici là cela ça ceci avant après entre chez sans sous vers ai
        avait ont veuillez cordiales ligne nouveau nouvelle retard mot passe accès
        connexion bloqué erreur virement reste montant prix
        """
    ),
    "en": _words(
        """
        the and is are was were am be been being i you he she we they my your our their
        his her its it this that these those to of in for with from at by not no yes but
        or if so do does did done have has had can could would should will shall may
        might must please thanks thank hello hi dear regards sincerely invoice invoices
        order orders account delivery received receive sent still since already yet when
        what why how where which who there here get got need needs help issue issues
        problem refund payment paid cancel cancellation change update address number
        yesterday today tomorrow week month again any some all about into out up just
        also only because like let know asap unable cannot wrong charged charge bill
        billing subscription contract quote request requests reply answer waiting late
        missing password login access locked error transfer amount price new old us
        """
    ),
    "de": _words(
        """
        der die das und ist ich sie wir nicht mit für auf ein eine einen dem den ihr
        ihre bitte danke hallo sehr geehrte geehrter grüße gruß rechnung bestellung
        konto noch habe haben wurde werden kann können wie was warum auch aber oder
        """
    ),
    "es": _words(
        """
        el la los las de del que en mi su se lo al y es yo usted nosotros por para con
        una uno pero muy gracias hola buenos buenas días estimado estimada factura
        pedido cuenta todavía hemos tengo puede podría necesito saludos atentamente
        cuando porque también está están
        """
    ),
    "it": _words(
        """
        il la di che in non mi si lo gli della delle dei è io lei noi per con una uno ma
        molto grazie buongiorno salve gentile fattura ordine conto ancora abbiamo ho può
        potrebbe bisogno saluti cordiali distinti quando perché anche sono questo questa
        """
    ),
}
_LANGUAGES_OF: dict[str, tuple[str, ...]] = {}
for _lang, _lang_words in _STOPWORDS.items():
    for _word in _lang_words:
        _LANGUAGES_OF[_word] = (*_LANGUAGES_OF.get(_word, ()), _lang)
_FR_ELISIONS = frozenset(
    {"j", "l", "d", "qu", "n", "s", "c", "m", "t", "jusqu", "lorsqu", "puisqu"}
)
_EN_CONTRACTIONS = frozenset({"t", "s", "m", "re", "ve", "ll", "d"})
_FR_ACCENTS = frozenset("éèêàâçùûôîïëœ")
_WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_MAX_CHARS = 4000
_MIN_SCORE = 2.0
_MARGIN = 1.5


def _score(text: str) -> dict[str, float]:
    scores = dict.fromkeys(_STOPWORDS, 0.0)
    for token in _WORD_RE.findall(text):
        if "'" in token or "’" in token:
            head, _, tail = token.replace("’", "'").partition("'")
            if head in _FR_ELISIONS and tail not in _EN_CONTRACTIONS:
                scores["fr"] += 1.0
                token = tail
            elif tail in _EN_CONTRACTIONS:
                scores["en"] += 1.0
                continue
            else:
                token = head
        for lang in _LANGUAGES_OF.get(token, ()):
            scores[lang] += 1.0
        if not token.isascii():
            if any(ch in _FR_ACCENTS for ch in token):
                scores["fr"] += 0.5
            if "ß" in token or "ä" in token or "ö" in token or "ü" in token:
                scores["de"] += 0.5
            if "ñ" in token or "¿" in token:
                scores["es"] += 0.5
        elif token.endswith("ing") and len(token) > 4:
            scores["en"] += 0.5
    return scores


def detect_language(text: str) -> str | None:
    """Return "fr", "en" (or "de", "es", "it") for text with a clear signal, else None."""
    text = unicodedata.normalize("NFC", text[:_MAX_CHARS]).lower()
    scores = _score(text)
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    (best, best_score), (_, runner_up) = ranked[0], ranked[1]
    if best_score < _MIN_SCORE or best_score < runner_up * _MARGIN:
        return None
    return best
