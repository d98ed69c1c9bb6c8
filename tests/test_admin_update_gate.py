"""The cheap cue check in front of the administrative-update extraction (issue 8): a mail
it turns away is one the full extraction finds nothing in, on every mail we have."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import phonenumbers
import pytest

from bot.extract import admin_update as extract
from bot.extract.admin_update import AdminUpdate, extract_admin_update

ROOT = Path(__file__).resolve().parents[1]
CORPORA = [
    *sorted((ROOT / "rules" / "model" / "corpus").glob("*.jsonl")),
    *sorted((ROOT / "bench" / "data").glob("admin_updates_*.jsonl")),  # dev, W8, W9, W10
]


def _mails() -> Iterator[dict[str, Any]]:
    for path in CORPORA:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield json.loads(line)


def _extract(mail: dict[str, Any]) -> AdminUpdate:
    return extract_admin_update(
        mail.get("subject") or "",
        mail.get("body") or "",
        sender=mail.get("from_email") or "client@example.fr",
        locale=mail.get("locale"),
        lang=mail.get("lang"),
    )


def test_the_gate_turns_away_no_mail_the_full_extraction_reads_a_change_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mails = list(_mails())
    assert len(mails) > 1500
    gated = [_extract(m) for m in mails]
    passed = sum(
        extract.may_announce_change(
            (m.get("subject") or "")[:1_000],
            extract.own_text((m.get("body") or "")[: extract.MAX_CHARS]),
            f"{(m.get('subject') or '')[:1_000]}\n\n"
            + extract.own_text((m.get("body") or "")[: extract.MAX_CHARS]),
        )
        for m in mails
    )
    monkeypatch.setattr(extract, "may_announce_change", lambda *_: True)
    full = [_extract(m) for m in mails]
    assert [u.fields for u in gated] == [u.fields for u in full]
    assert sum(bool(u.fields) for u in full) > 100  # the corpora do hold changes
    assert passed < 0.6 * len(mails)  # and the gate spares the extraction most mails


@pytest.mark.parametrize(
    ("subject", "body", "lang"),
    [
        ("Contrat", "Bonjour, mon nouveau tel06 12 34 56 78 à noter. Merci", "fr"),
        ("Contract", "Please update my phone number to07700 900123 thanks", "en"),
    ],
)
def test_a_number_glued_to_its_cue_still_reaches_the_extraction(
    subject: str, body: str, lang: str
) -> None:
    full_text = f"{subject}\n\n{body}"
    assert not extract._PHONE_CUE.search(full_text)  # only the cut text matches the cue
    found = extract_admin_update(subject, body, sender="a@b.fr", lang=lang)
    assert "phone" in found.fields


def test_a_mail_without_any_cue_never_runs_the_phone_matcher(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    real = phonenumbers.PhoneNumberMatcher

    def counted(text: str, *args: Any, **kw: Any) -> Any:
        calls.append(text)
        return real(text, *args, **kw)

    monkeypatch.setattr(extract.phonenumbers, "PhoneNumberMatcher", counted)
    plain = "Bonjour,\n\nMa facture n° 4512 est fausse, pouvez-vous regarder ?\n06 12 34 56 78"
    assert extract_admin_update("Facture incorrecte", plain, lang="fr").fields == {}
    assert calls == []
    cued = "Bonjour,\n\nMon nouveau numéro : 06 12 34 56 78\nMerci"
    assert extract_admin_update("Nouveau numéro", cued, lang="fr").fields
    assert calls
