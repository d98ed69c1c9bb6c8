"""French and English labels for the steering indicators (report, status page)."""

from __future__ import annotations

LABELS: dict[str, tuple[str, str]] = {
    # key: (en, fr)
    "period": ("Period", "Période"),
    "group": ("Group", "Groupe"),
    "all": ("all", "tout"),
    "requests_in": ("Requests in", "Demandes reçues"),
    "cases_opened": ("Cases opened", "Dossiers ouverts"),
    "cases_closed": ("Cases closed", "Dossiers clos"),
    "first_response_median_h": ("1st resp. median h", "1re rép. médiane h"),
    "first_response_p90_h": ("1st resp. p90 h", "1re rép. p90 h"),
    "first_response_median_bh": ("1st resp. median bh", "1re rép. médiane ho"),
    "first_response_p90_bh": ("1st resp. p90 bh", "1re rép. p90 ho"),
    "resolution_median_h": ("Resolution median h", "Résolution médiane h"),
    "resolution_p90_h": ("Resolution p90 h", "Résolution p90 h"),
    "resolution_median_bh": ("Resolution median bh", "Résolution médiane ho"),
    "resolution_p90_bh": ("Resolution p90 bh", "Résolution p90 ho"),
    "sla_met": ("SLA met", "SLA tenus"),
    "sla_breached": ("SLA breached", "SLA dépassés"),
    "sla_at_risk": ("SLA at risk", "SLA menacés"),
    "sla_compliance": ("SLA compliance", "Respect SLA"),
    "chases_per_case": ("Chases/case", "Relances/dossier"),
    "share_chased": ("Share chased", "Part relancée"),
    "duplicates_absorbed": ("Duplicates absorbed", "Doublons absorbés"),
    "automation_rate": ("Automation rate", "Taux d'automatisation"),
    "backlog": ("Backlog", "Stock"),
    "age_median_h": ("Median age h", "Âge médian h"),
    "age_max_h": ("Oldest h", "Plus ancien h"),
    "flow_title": ("Flow", "Flux"),
    "volumes": ("volumes", "volumes"),
    "times": (
        "times (h: calendar hours, bh: business hours)",
        "délais (h : heures, ho : heures ouvrées)",
    ),
    "sla": ("SLA", "SLA"),
    "backlog_title": ("Backlog now", "Stock actuel"),
    "status_title": ("crmbot — steering", "crmbot — pilotage"),
    "backlog_by": ("Backlog by category and priority", "Stock par catégorie et priorité"),
    "due_soon": ("Will breach in the next hours", "Dépasseront dans les prochaines heures"),
    "breaches_today": ("Breaches today", "Dépassements aujourd'hui"),
    "sources": ("Source health", "Santé des sources"),
    "throughput": ("Throughput, last 24 h", "Débit, dernières 24 h"),
    "most_chased": ("Customers with the most chases", "Clients qui relancent le plus"),
    "forecast": ("Forecast", "Prévision"),
    "reference": ("Case", "Dossier"),
    "category": ("Category", "Catégorie"),
    "priority": ("Priority", "Priorité"),
    "due_at": ("Due", "Échéance"),
    "subject": ("Subject", "Objet"),
    "source": ("Source", "Source"),
    "state": ("State", "État"),
    "last_poll": ("Last successful poll", "Dernière relève réussie"),
    "ok": ("ok", "ok"),
    "failing": ("failing", "en panne"),
    "never": ("never", "jamais"),
    "customer": ("Customer", "Client"),
    "chases": ("Chases", "Relances"),
    "cases": ("Cases", "Dossiers"),
    "hour": ("Business hour", "Heure ouvrée"),
    "arrivals": ("Expected arrivals", "Arrivées attendues"),
    "work_due": ("Work due", "Travail dû"),
    "capacity": ("Capacity", "Capacité"),
    "queue": ("Queue", "File"),
    "breaches": ("Breaches", "Dépassements"),
    "predicted_breaches": ("Cases predicted to breach", "Dossiers qui dépasseront"),
    "none": ("none", "aucun"),
    "in": ("in", "entrées"),
    "out": ("closed", "clos"),
    "updated": ("Updated", "Mis à jour"),
}


def label(key: str, language: str) -> str:
    """The label of `key` in 'en' or 'fr' (the key itself when unknown)."""
    pair = LABELS.get(key)
    if pair is None:
        return key
    return pair[1] if language == "fr" else pair[0]


def pick_language(query: str | None, accept_language: str | None, default: str) -> str:
    """'fr' or 'en': ?lang= first, then the first supported Accept-Language, then default."""
    if query in ("fr", "en"):
        return query
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("fr"):
            return "fr"
        if tag.startswith("en"):
            return "en"
    return default
