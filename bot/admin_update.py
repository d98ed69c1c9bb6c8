"""Administrative updates end to end: read the change, check the sender, plan what follows.

For an e-mail request whose text announces a change (address, phone, e-mail, company,
billing contact, bank details), `assess` extracts the fields (bot/extract/admin_update.py)
and checks the sender against the contact on file (bot/verify.py). The rules then see
`request.admin_update` (what will be applied, what waits for an agent) to word the reply,
and `planned_actions` gives, for an `admin_update` case:
- a verified sender with every field confident: `update_contact` on the CRM contact, and a
  note with the new values (the values replaced come back in the sink's result, and crmbot's
  own previous values go to the audit trail now);
- anything else: a note with the proposed change ready to copy, and why it was not applied;
- bank details: never applied; a note and a verification tag (the agent's task).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from bot.actions import AddNote, AddTag, PlannedAction, UpdateContact
from bot.admin_reasons import FIELD_NAMES, describe_all
from bot.customer_text import language
from bot.entities import Contact
from bot.extract.admin_update import AdminUpdate, UpdatePlan, extract_admin_update, plan_update
from bot.verify import SenderCheck, check_sender

LABELS = FIELD_NAMES
# The notes' words, in the customer's language (the request's: "fr" or "en").
_NOTE: dict[str, dict[str, str]] = {
    "fr": {
        "applied": "Mise à jour appliquée automatiquement (expéditeur vérifié : {sender}).",
        "before": " (avant : {value})",
        "audit": "Les anciennes valeurs sont dans le journal d'audit de crmbot "
        "et dans le résultat de l'action update_contact.",
        "not_applied": "Changement demandé par {sender}, NON appliqué : {why}.",
        "proposed": "Valeurs proposées, prêtes à recopier sur la fiche contact :",
        "line": "- {label} : {value}",
        "bank": "Coordonnées bancaires (IBAN au format et à la clé valides) : vérifier "
        "l'identité du demandeur par un autre canal avant toute mise à jour.",
    },
    "en": {
        "applied": "Update applied automatically (verified sender: {sender}).",
        "before": " (before: {value})",
        "audit": "The previous values are in crmbot's audit trail "
        "and in the result of the update_contact action.",
        "not_applied": "Change requested by {sender}, NOT applied: {why}.",
        "proposed": "Proposed values, ready to copy onto the contact record:",
        "line": "- {label}: {value}",
        "bank": "Bank details (IBAN valid in format and check digits): verify the "
        "requester's identity through another channel before any update.",
    },
}
_KNOWN = {"phone": "phone", "email": "email", "company_name": "company"}  # crmbot's contact


def mask_iban(iban: str) -> str:
    """An IBAN as a note shows it: country, check digits and the last four only."""
    return f"{iban[:4]} **** {iban[-4:]}" if len(iban) > 8 else "****"


def _labels(names: list[str], lang: str) -> str:
    return ", ".join(LABELS[n][lang] for n in names)


@dataclass(frozen=True, slots=True)
class Assessment:
    """An administrative update read from a request, the sender check, and the plan."""

    sender: str
    update: AdminUpdate
    check: SenderCheck
    plan: UpdatePlan

    def facts(self, lang: str) -> dict[str, Any]:
        """What the rules and reply templates see as `request.admin_update`."""
        lang = language(lang)
        return {
            "fields": sorted(self.update.fields),
            "applied": _labels(sorted(self.plan.apply), lang) or None,
            "pending": _labels(sorted(self.plan.note), lang) or None,
            "bank_details": self.plan.verification_task,
            "verified": self.check.verified,
            "reasons": list(self.plan.reasons),
        }


def assess(req: Any, contact: Contact | None, tags: list[str] | None = None) -> Assessment | None:
    """The administrative update an e-mail request announces, or None when it announces none.

    `contact` is the contact on file *before* this request (None for a sender crmbot meets
    for the first time: nothing to verify against). `tags` are the pipeline's flags: a sender
    identity found possibly the same person as another contact (a look-alike) is never
    verified.
    """
    if getattr(req, "channel", None) != "email" or not req.sender_email:
        return None
    text = req.body_clean or req.body_text or ""
    update = extract_admin_update(
        req.subject or "", text, sender=req.sender_email, lang=req.language
    )
    if not update.fields:
        return None
    check = check_sender(
        req.sender_email,
        contact.email if contact is not None else None,
        sender_name=req.sender_name,
        authentication_results=(req.headers or {}).get("authentication-results"),
    )
    if any(t.startswith("possible_same_contact:") for t in tags or []):
        check = SenderCheck(False, [*check.reasons, "looks_like_another_contact"])
    plan = plan_update(update, check.verified, check.reasons)
    return Assessment(req.sender_email.lower(), update, check, plan)


def known_values(contact: Contact | None, names: list[str]) -> dict[str, Any]:
    """crmbot's own values of the contact fields about to change (for the audit trail):
    a contact column of that name (or `_KNOWN`'s), else its attribute."""
    if contact is None:
        return {n: None for n in names}
    columns = contact.as_row()
    return {n: columns.get(_KNOWN.get(n, n), contact.attributes.get(n)) for n in names}


def _digest(values: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


def planned_actions(
    assessment: Assessment, lang: str, previous: dict[str, Any] | None = None
) -> list[PlannedAction]:
    """The contact update and notes an `admin_update` case gets (keys stable per change).

    `previous` holds crmbot's own values of the fields (the note shows them; the CRM's own
    previous values come back in the update_contact result). The notes are in `lang`, the
    customer's language, reasons included (bot/admin_reasons.py).
    """
    lang = language(lang)
    words = _NOTE[lang]
    previous = previous or {}
    plan = assessment.plan
    out: list[PlannedAction] = []
    if plan.apply:
        key = f"admin_update/{_digest(plan.apply)}"
        out.append(
            PlannedAction(
                UpdateContact(contact=assessment.sender, fields=plan.apply), key=f"{key}/apply"
            )
        )
        lines = "\n".join(
            words["line"].format(label=LABELS[k][lang], value=v)
            + (
                words["before"].format(value=previous[k])
                if previous.get(k) not in (None, "", v)
                else ""
            )
            for k, v in sorted(plan.apply.items())
        )
        text = "\n".join([words["applied"].format(sender=assessment.sender), lines, words["audit"]])
        out.append(PlannedAction(AddNote(text=text, language=lang), key=f"{key}/note"))
    if plan.note:
        shown = {k: mask_iban(v) if k == "iban" else v for k, v in plan.note.items()}
        key = f"admin_update/{_digest(plan.note)}"
        lines = "\n".join(
            words["line"].format(label=LABELS[k][lang], value=v) for k, v in sorted(shown.items())
        )
        why = describe_all(plan.reasons, lang)
        text = "\n".join(
            [
                words["not_applied"].format(sender=assessment.sender, why=why),
                words["proposed"],
                lines,
            ]
        )
        if plan.verification_task:
            text += "\n" + words["bank"]
        out.append(PlannedAction(AddNote(text=text, language=lang), key=f"{key}/proposal"))
        tag = "verification:bank_details" if plan.verification_task else "admin_update:to_review"
        out.append(PlannedAction(AddTag(tag=tag), key=f"{key}/tag"))
    return out


def record(ctx: Any, work: Any, assessment: Assessment, lang: str) -> None:
    """Plan the update's actions on the work item and audit what was read and decided."""
    from bot.store import audit

    case = work.case
    changed = sorted(assessment.plan.apply)
    before = known_values(work.contact, changed)
    audit.record(
        ctx.conn,
        "admin_update_assessed",
        case_id=case.id,
        request_id=work.request_id,
        fields={
            k: (mask_iban(v.value) if k == "iban" else v.value)
            for k, v in assessment.update.fields.items()
        },
        confidence={k: v.confidence for k, v in assessment.update.fields.items()},
        verified=assessment.check.verified,
        applied=changed,
        previous=before,
        reasons=list(assessment.plan.reasons),
    )
    work.actions.extend(planned_actions(assessment, lang, before))
    ctx.log.info(
        "admin_update_assessed",
        case=case.reference,
        applied=len(changed),
        pending=len(assessment.plan.note),
        verified=assessment.check.verified,
    )
