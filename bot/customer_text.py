"""Customer-facing wording: dates in the customer's language and named zone, statuses in words.

A customer never reads a raw status code ("new", "waiting_third_party") nor an unnamed,
unlocalised timestamp: `customer_date` gives « jeudi 3 décembre à 12 h (heure de Paris) »
or "Thursday 3 December, 12:00 (Paris time)" (Babel's CLDR data for the names),
`status_label` and `next_step` say what is happening and what comes next.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, get_timezone_location

SUPPORTED = ("fr", "en")

# crmbot's statuses (bot/status.py) in words, per language.
_STATUS: dict[str, dict[str, str]] = {
    "new": {"fr": "enregistrée, en attente de prise en charge", "en": "logged, awaiting pick-up"},
    "open": {"fr": "en cours de traitement", "en": "being handled"},
    "waiting_customer": {
        "fr": "en attente d'une information de votre part",
        "en": "waiting for information from you",
    },
    "waiting_third_party": {
        "fr": "en attente d'un intervenant extérieur",
        "en": "waiting for a third party",
    },
    "pending_verification": {
        "fr": "en cours de vérification",
        "en": "being verified",
    },
    "resolved": {"fr": "résolue", "en": "resolved"},
    "closed": {"fr": "clôturée", "en": "closed"},
}
_NEXT_STEP: dict[str, dict[str, str]] = {
    "new": {
        "fr": "un conseiller va la prendre en charge",
        "en": "an agent will pick it up",
    },
    "open": {
        "fr": "un conseiller vous répondra dès qu'elle sera traitée",
        "en": "an agent will reply as soon as it is settled",
    },
    "waiting_customer": {
        "fr": "répondez simplement à notre dernier message pour que nous puissions avancer",
        "en": "simply reply to our last message so that we can go on",
    },
    "waiting_third_party": {
        "fr": "nous vous écrirons dès que nous aurons leur retour",
        "en": "we will write to you as soon as they answer",
    },
    "pending_verification": {
        "fr": "un conseiller vérifie la demande avant de l'appliquer",
        "en": "an agent checks the request before applying it",
    },
    "resolved": {
        "fr": "si le problème persiste, répondez à ce message",
        "en": "if the problem persists, reply to this message",
    },
    "closed": {
        "fr": "si vous avez besoin d'autre chose, répondez à ce message",
        "en": "if you need anything else, reply to this message",
    },
}
_UNKNOWN = {"fr": "en cours de traitement", "en": "being handled"}
# The default pack's queues as a customer reads them; others: the name, with spaces.
_TEAMS: dict[str, dict[str, str]] = {
    "facturation": {"fr": "facturation", "en": "billing"},
    "support-technique": {"fr": "support technique", "en": "technical support"},
    "relation-client": {"fr": "relation client", "en": "customer relations"},
    "fidelisation": {"fr": "fidélisation", "en": "customer care"},
    "administratif": {"fr": "administratif", "en": "administration"},
    "juridique": {"fr": "juridique", "en": "legal"},
}


def language(lang: Any) -> str:
    """The supported language for a tag ("en-GB" → "en"); French otherwise."""
    tag = str(lang or "").strip().lower().replace("_", "-").split("-")[0]
    return tag if tag in SUPPORTED else "fr"


def status_label(status: Any, lang: Any = "fr") -> str:
    """A case status in words in `lang`; an unknown code is never shown as is."""
    words = _STATUS.get(str(status or "").strip().lower(), _UNKNOWN)
    return words[language(lang)]


def team_label(queue: Any, lang: Any = "fr") -> str:
    """A queue's name as a customer reads it ("support-technique" → "support technique")."""
    key = str(queue or "").strip()
    known = _TEAMS.get(key.lower())
    if known:
        return known[language(lang)]
    return " ".join(key.replace("-", " ").replace("_", " ").split())


def next_step(status: Any, lang: Any = "fr") -> str:
    """What happens next for a case in `status`, in `lang`."""
    words = _NEXT_STEP.get(str(status or "").strip().lower(), _NEXT_STEP["open"])
    return words[language(lang)]


def zone_name(tz: str, lang: Any = "fr") -> str:
    """The named time zone as a customer reads it: "heure de Paris" / "Paris time"."""
    lang = language(lang)
    try:
        city = get_timezone_location(ZoneInfo(tz), locale=lang, return_city=True)
    except (LookupError, ValueError):
        city = ""
    if not city or tz in ("UTC", "Etc/UTC"):
        return "heure UTC" if lang == "fr" else "UTC"
    if lang == "fr":
        return f"heure d'{city}" if city[:1].lower() in "aeiouyéèh" else f"heure de {city}"
    return f"{city} time"


def customer_date(at: Any, lang: Any = "fr", tz: str | None = None) -> str:
    """A due date as a customer reads it, in `lang` and the calendar's zone, named.

    `at` is an aware datetime (or ISO text); `tz` the calendar's zone (default: `at`'s own).
    """
    if at is None or at == "":
        return ""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    if not isinstance(at, datetime):
        return str(at)
    zone = tz or getattr(at.tzinfo, "key", None) or "UTC"
    try:
        local = at.astimezone(ZoneInfo(zone))
    except (LookupError, ValueError):
        zone, local = "UTC", at.astimezone(ZoneInfo("UTC"))
    lang = language(lang)
    if lang == "fr":
        day = format_datetime(local, "EEEE d MMMM", locale="fr")
        hour = f"{local.hour} h" if local.minute == 0 else f"{local.hour} h {local.minute:02d}"
        return f"{day} à {hour} ({zone_name(zone, 'fr')})"
    day = format_datetime(local, "EEEE d MMMM", locale="en_GB")
    return f"{day}, {local:%H:%M} ({zone_name(zone, 'en')})"


def warm_up() -> None:
    """Load the CLDR data (FR/EN names, zone cities) now, not inside a template's time budget."""
    at = datetime(2026, 1, 1, 12, tzinfo=ZoneInfo("UTC"))
    for lang in SUPPORTED:
        customer_date(at, lang, "Europe/Paris")
