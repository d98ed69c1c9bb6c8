"""Why an administrative update was not applied, as sentences an agent reads (French/English).

The plan (bot/extract/admin_update.py) and the sender check (bot/verify.py) give their
reasons as stable snake_case codes, kept as they are in the audit trail and the logs; the
note on the ticket shows them with `describe`, in the customer's language.
"""

from __future__ import annotations

from bot.customer_text import language

FIELD_NAMES: dict[str, dict[str, str]] = {
    "postal_address": {"fr": "adresse postale", "en": "postal address"},
    "phone": {"fr": "téléphone", "en": "phone"},
    "email": {"fr": "adresse e-mail", "en": "e-mail address"},
    "company_name": {"fr": "raison sociale", "en": "company name"},
    "billing_contact": {"fr": "contact facturation", "en": "billing contact"},
    "iban": {"fr": "coordonnées bancaires", "en": "bank details"},
}

_PLAIN: dict[str, dict[str, str]] = {
    # the sender (bot/verify.py, bot/admin_update.py)
    "sender_not_verified": {
        "fr": "l'expéditeur n'est pas vérifié comme le contact de la fiche",
        "en": "the sender is not verified as the contact on file",
    },
    "no_address_on_file": {
        "fr": "aucune adresse e-mail sur la fiche pour vérifier l'expéditeur",
        "en": "no e-mail address on file to verify the sender against",
    },
    "not_the_address_on_file": {
        "fr": "l'expéditeur n'écrit pas depuis l'adresse e-mail de la fiche",
        "en": "the sender does not write from the e-mail address on file",
    },
    "display_name_carries_another_address": {
        "fr": "le nom affiché de l'expéditeur contient une autre adresse e-mail",
        "en": "the sender's display name carries another e-mail address",
    },
    "looks_like_another_contact": {
        "fr": "l'expéditeur ressemble à un autre contact (homonyme possible)",
        "en": "the sender looks like another contact (possibly the same person)",
    },
    # the plan
    "nothing_to_update": {"fr": "aucun changement lu", "en": "no change was read"},
    "bank_details_need_verification": {
        "fr": "des coordonnées bancaires ne sont jamais modifiées sans vérification",
        "en": "bank details are never changed without a verification",
    },
    # the value checks (bot/extract/checks.py and the extractors)
    "phone_not_valid": {
        "fr": "le numéro n'est pas un numéro attribué",
        "en": "the number is not an allocated one",
    },
    "phone_not_of_the_mails_region": {
        "fr": "le numéro est d'un autre pays que celui du client",
        "en": "the number belongs to another country than the customer's",
    },
    "phone_not_a_personal_line": {
        "fr": "le numéro n'est pas une ligne personnelle (surtaxé, gratuit ou partagé)",
        "en": "the number is not a personal line (premium-rate, toll-free or shared-cost)",
    },
    "phone_has_an_extension": {
        "fr": "le numéro a un poste, que le champ téléphone ne garde pas",
        "en": "the number has an extension, which the phone field does not keep",
    },
    "email_not_valid": {
        "fr": "l'adresse e-mail n'est pas valide",
        "en": "the e-mail address is not valid",
    },
    "email_is_the_senders_own": {
        "fr": "l'adresse e-mail est celle de l'expéditeur",
        "en": "the e-mail address is the sender's own",
    },
    "email_domain_unusual": {
        "fr": "l'adresse e-mail finit par un domaine inhabituel (un mot collé à l'adresse ?)",
        "en": "the e-mail address ends in an unusual domain (a word glued to it?)",
    },
    "postcode_not_valid_for_its_country": {
        "fr": "le code postal n'est pas valide pour son pays",
        "en": "the postcode is not valid for its country",
    },
    "postcode_not_of_the_mails_region": {
        "fr": "le code postal est d'un autre pays que celui du client",
        "en": "the postcode belongs to another country than the customer's",
    },
    "no_street_number_and_street_type": {
        "fr": "l'adresse n'a pas de numéro et de type de voie",
        "en": "the address has no street number and street type",
    },
    "address_not_introduced_as_new": {
        "fr": "le message ne présente pas clairement l'adresse comme la nouvelle",
        "en": "the mail does not clearly present the address as the new one",
    },
    "address_name_line_unsure": {
        "fr": "une ligne de nom (bâtiment, service) au-dessus de la rue a été laissée de côté",
        "en": "a name line above the street (a house, a department) was left out",
    },
    "name_not_stated_outright": {
        "fr": "le nom n'est pas donné seul dans une phrase qui nomme le champ",
        "en": "the name is not given on its own in a sentence naming the field",
    },
    "another_phone_in_the_mail": {
        "fr": "le message contient un autre numéro, qui n'est pas dit ancien",
        "en": "the mail holds another number, not said to be the old one",
    },
    "another_email_in_the_mail": {
        "fr": "le message contient une autre adresse e-mail, qui n'est pas dite ancienne",
        "en": "the mail holds another e-mail address, not said to be the old one",
    },
    "another_postal_address_in_the_mail": {
        "fr": "le message contient une autre adresse postale, qui n'est pas dite ancienne",
        "en": "the mail holds another postal address, not said to be the old one",
    },
    "other_details_in_the_mail": {
        "fr": "le message contient d'autres coordonnées, non lues comme un changement",
        "en": "the mail holds other contact details, not read as a change",
    },
    "asks_for_credentials": {
        "fr": "le message demande aussi des identifiants ou un code d'accès",
        "en": "the mail also asks for credentials or an access code",
    },
    "written_for_someone_else": {
        "fr": "le message est écrit pour le compte d'une autre personne",
        "en": "the mail is written on behalf of someone else",
    },
    "corrected_later_in_the_mail": {
        "fr": "le client corrige la valeur plus loin dans le message",
        "en": "the customer corrects the value further down the mail",
    },
    "second_thoughts_in_the_mail": {
        "fr": "après le changement, le message revient dessus ou le nuance "
        "(en fait, finalement, mais, ignorer ce message…)",
        "en": "after the change, the mail goes back on it or qualifies it "
        "(actually, but, please ignore…)",
    },
    "change_maybe_already_made": {
        "fr": "le message semble confirmer un changement déjà fait",
        "en": "the mail seems to confirm a change already made",
    },
    "another_person_named_in_the_mail": {
        "fr": "le message nomme une autre personne (contact, destinataire) : "
        "la valeur peut être la sienne",
        "en": "the mail names another person (a contact, a recipient): the value may be theirs",
    },
    "a_relative_named_in_the_mail": {
        "fr": "le message parle d'un proche : la valeur peut être la sienne",
        "en": "the mail speaks of a relative: the value may be theirs",
    },
    "a_reply_or_forward": {
        "fr": "le message est une réponse ou un transfert : le changement peut être déjà fait "
        "ou venir du fil cité",
        "en": "the mail is a reply or a forward: the change may be made already or come from "
        "the quoted thread",
    },
    "introduced_only_by_the_subject": {
        "fr": "seul l'objet du message annonce le changement",
        "en": "only the subject of the mail announces the change",
    },
}

_AUTH = {
    "fail": {"fr": "en échec", "en": "failed"},
    "softfail": {"fr": "en échec partiel", "en": "soft-failed"},
    "permerror": {"fr": "en erreur", "en": "errored"},
    "temperror": {"fr": "en erreur temporaire", "en": "errored temporarily"},
    "policy": {"fr": "refusé par la politique", "en": "refused by policy"},
}


def _fields(names: str, lang: str) -> str:
    return ", ".join(FIELD_NAMES.get(n, {}).get(lang, n) for n in names.split(",") if n)


def describe(reason: str, lang: str) -> str:
    """One reason code as a sentence in `lang` (a language tag: "en-GB" reads English; French
    when not French or English)."""
    lang = language(lang)
    if reason in _PLAIN:
        return _PLAIN[reason][lang]
    code, _, rest = reason.partition(":")
    if code == "several_fields":
        return {
            "fr": f"plusieurs champs changent à la fois ({_fields(rest, lang)})",
            "en": f"several fields change at once ({_fields(rest, lang)})",
        }[lang]
    if code == "not_confident":
        return {
            "fr": f"lecture incertaine : {_fields(rest, lang)}",
            "en": f"uncertain reading: {_fields(rest, lang)}",
        }[lang]
    if code == "not_checked":
        name, _, doubt = rest.partition(":")
        return (
            f"{_fields(name, lang)} : {describe(doubt, lang)}"
            if lang == "fr"
            else (f"{_fields(name, lang)}: {describe(doubt, lang)}")
        )
    method, _, result = reason.rpartition("_")
    if method in ("spf", "dkim", "dmarc", "arc") and result in _AUTH:
        return {
            "fr": f"contrôle {method.upper()} de l'expéditeur {_AUTH[result]['fr']}",
            "en": f"the sender's {method.upper()} check {_AUTH[result]['en']}",
        }[lang]
    return reason.replace("_", " ")  # a code without its sentence yet: still readable


def describe_all(reasons: list[str], lang: str) -> str:
    """The reasons as one sentence-list in `lang` ("; "-separated), or "to check" when none."""
    lang = language(lang)
    if not reasons:
        return {"fr": "à vérifier", "en": "to check"}[lang]
    return "; ".join(describe(r, lang) for r in reasons)
