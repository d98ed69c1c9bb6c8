"""Generate a synthetic FR/EN grouping corpus for bench_grouping.py (seeded, reproducible).

Usage: python3 bench/make_grouping_corpus.py OUT.jsonl [--people 300] [--seed 7]

People write about one or two topics (some of one category), then reply with headers, chase
with fresh subjects, ask "any update?", reply with stripped headers, re-send, or send the same
mail to two mailboxes; some share a name and a mailbox name at another domain. Written for
crmbot's own checks: it is not the frozen evaluation corpus and never stands in for it.
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

PARIS = timezone(timedelta(hours=1))
GIVEN = [
    "Jean",
    "Marie",
    "Karim",
    "Sophie",
    "Lucas",
    "Emma",
    "Paul",
    "Chloé",
    "Hugo",
    "Léa",
    "Tom",
    "Emily",
    "James",
    "Olivia",
    "Noah",
    "Amelia",
    "Priya",
    "Daniel",
    "Sarah",
    "Ben",
]
SURNAME = [
    "Martin",
    "Bernard",
    "Dubois",
    "Durand",
    "Lefèvre",
    "Moreau",
    "Garnier",
    "Roux",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Wilson",
    "Evans",
    "Walker",
    "Shah",
    "Clarke",
]
DOMAINS = [
    "example.fr",
    "example.com",
    "mail.example",
    "acme-industrie.example",
    "boulangerie-martin.example",
    "northwind.example",
    "harbourside.example",
]
MONTHS_FR = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
]
MONTHS_EN = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]

# topic: (category, fr subjects, fr bodies, en subjects, en bodies, fr chases, en chases)
TOPICS: dict[str, dict[str, list[str]]] = {
    "double_debit": {
        "fr_s": ["Double prélèvement", "Prélevé deux fois en {mfr}"],
        "fr_b": [
            "Bonjour,\nVous avez prélevé deux fois ma mensualité de {mfr} ({amt} euros). "
            "Merci de me rembourser le second prélèvement.\n{name}"
        ],
        "en_s": ["Charged twice", "Double direct debit in {men}"],
        "en_b": [
            "Hello,\nYou took my {men} payment twice ({amt} euros). Please refund the "
            "second debit.\n{name}"
        ],
        "fr_c": [
            "Bonjour, toujours pas de remboursement pour le prélèvement en double de {mfr}.",
            "Relance : le double prélèvement de {amt} euros n'est toujours pas remboursé.",
        ],
        "en_c": [
            "Hi, I am still waiting for the refund of the double debit in {men}.",
            "Second reminder: the {amt} euros taken twice have not been refunded.",
        ],
    },
    "invoice_copy": {
        "fr_s": ["Duplicata de facture", "Copie de ma facture de {mfr}"],
        "fr_b": [
            "Bonjour, pourriez-vous m'envoyer une copie de ma facture de {mfr} ? "
            "J'en ai besoin pour ma comptabilité. Merci."
        ],
        "en_s": ["Invoice copy", "Copy of my {men} invoice"],
        "en_b": [
            "Hello, could you send me a copy of my {men} invoice? I need it for my records. Thanks."
        ],
        "fr_c": ["Bonjour, je n'ai toujours pas reçu la copie de ma facture de {mfr}."],
        "en_c": ["Hi, I still have not received the copy of my {men} invoice."],
    },
    "late_fee": {
        "fr_s": ["Frais de retard injustifiés", "Pénalité de retard"],
        "fr_b": [
            "Bonjour, vous m'avez facturé des frais de retard sur la facture {inv} alors "
            "que j'ai payé à temps. Merci d'annuler ces frais."
        ],
        "en_s": ["Late payment fee", "Unfair late fee"],
        "en_b": [
            "Hello, you charged me a late payment fee on invoice {inv} although I paid "
            "on time. Please cancel the fee."
        ],
        "fr_c": [
            "Relance : les frais de retard sur la facture {inv} ne sont toujours pas annulés."
        ],
        "en_c": ["Following up on the late fee on invoice {inv}: it is still there."],
    },
    "move": {
        "fr_s": ["Déménagement", "Transfert de contrat au {day} {mfr}"],
        "fr_b": [
            "Bonjour, je déménage le {day} {mfr} au {num} rue des {street}, {city}. "
            "Pouvez-vous transférer mon contrat ? Merci."
        ],
        "en_s": ["Moving house", "New address from {day} {men}"],
        "en_b": [
            "Hello, I am moving on {day} {men} to {num} {street} Road, {city}. Please "
            "transfer my contract to the new address."
        ],
        "fr_c": [
            "Bonjour, avez-vous pu transférer mon contrat au {num} rue des {street} ? "
            "Le déménagement approche."
        ],
        "en_c": ["Hi, did you transfer my contract to {num} {street} Road? The move is soon."],
    },
    "phone_change": {
        "fr_s": ["Nouveau numéro de téléphone"],
        "fr_b": ["Bonjour, merci de noter mon nouveau numéro : 06 39 98 {p1} {p2}."],
        "en_s": ["Change of phone number"],
        "en_b": ["Hello, please update my phone number to 07700 900{p1}{p2}."],
        "fr_c": ["Bonjour, mon numéro a-t-il bien été mis à jour ?"],
        "en_c": ["Hi, has my phone number been updated yet?"],
    },
    "outage": {
        "fr_s": ["Coupure de courant", "Plus d'électricité depuis ce matin"],
        "fr_b": [
            "Bonjour, plus de courant dans mon logement au {num} rue des {street} "
            "depuis ce matin. Pouvez-vous envoyer un technicien ?"
        ],
        "en_s": ["Power cut", "No electricity since this morning"],
        "en_b": [
            "Hello, there is no electricity at {num} {street} Road since this morning. "
            "Can you send a technician?"
        ],
        "fr_c": ["Toujours pas de courant au {num} rue des {street}, c'est urgent."],
        "en_c": ["Still no power at {num} {street} Road, please hurry."],
    },
    "meter": {
        "fr_s": ["Compteur Linky", "Index non transmis"],
        "fr_b": [
            "Bonjour, mon compteur Linky (PDL {pdl}) ne transmet plus les index depuis "
            "le {day} {mfr}, mes factures sont estimées."
        ],
        "en_s": ["Smart meter not sending readings", "Meter readings missing"],
        "en_b": [
            "Hello, my smart meter (MPAN {pdl}) has not sent readings since {day} {men}, "
            "so my bills are estimated."
        ],
        "fr_c": ["Bonjour, les relevés de mon compteur (PDL {pdl}) ne remontent toujours pas."],
        "en_c": ["Hi, the readings from meter {pdl} are still missing."],
    },
    "cancel": {
        "fr_s": ["Résiliation", "Résilier mon contrat"],
        "fr_b": [
            "Bonjour, je souhaite résilier mon contrat au {day} {mfr} suite à la vente "
            "de mon logement."
        ],
        "en_s": ["Please close my account", "Cancel my contract"],
        "en_b": ["Hello, please close my account on {day} {men}, I am moving abroad."],
        "fr_c": ["Bonjour, où en est la résiliation de mon contrat au {day} {mfr} ?"],
        "en_c": ["Hello, any news on closing my account on {day} {men}?"],
    },
}
BARE_FR = [
    "Des nouvelles ?",
    "Bonjour, avez-vous des nouvelles ?",
    "Je me permets de vous relancer.",
]
BARE_EN = ["Any update?", "Hi, any update on this?", "Just following up."]


def _slots(rng: random.Random) -> dict[str, Any]:
    month = rng.randrange(12)
    return {
        "mfr": MONTHS_FR[month],
        "men": MONTHS_EN[month],
        "amt": f"{rng.randint(30, 180)},{rng.randint(10, 99)}",
        "inv": f"F2026-{rng.randint(1, 12):02d}-{rng.randint(1000, 9999)}",
        "day": rng.randint(1, 28),
        "num": rng.randint(1, 120),
        "street": rng.choice(["Lilas", "Acacias", "Tilleuls", "Peupliers", "Roses", "Oak"]),
        "city": rng.choice(["Lyon", "Nantes", "Lille", "Leeds", "Bristol", "Nancy"]),
        "pdl": " ".join(str(rng.randint(1000, 9999)) for _ in range(3)) + f" {rng.randint(10, 99)}",
        "p1": rng.randint(10, 99),
        "p2": rng.randint(10, 99),
    }


def _message(
    index: int,
    who: dict[str, str],
    mid: str,
    when: datetime,
    subject: str,
    body: str,
    situation: str,
    irt: str | None,
    refs: list[str] | None,
    box: str | None,
) -> dict[str, Any]:
    mailbox = box or who["mailbox"]
    return {
        "id": f"m{index + 1:05d}",
        "conversation": who["conv"],
        "also_relates_to": [],
        "mailbox": mailbox,
        "message_id": mid,
        "in_reply_to": irt,
        "references": refs or [],
        "date": when.isoformat(),
        "from_name": who["name"],
        "from_email": who["email"],
        "to": f"{mailbox}@acme.example",
        "cc": [],
        "subject": subject,
        "body": body,
        "lang": who["lang"],
        "situation": situation,
    }


def generate(people: int, seed: int) -> list[dict[str, Any]]:
    """The messages of `people` senders' conversations, as bench_grouping.py reads them."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    start = datetime(2026, 10, 5, 8, 0, tzinfo=PARIS)
    conv_no = 0
    used_names: list[tuple[str, str]] = []
    for p in range(people):
        lang = rng.choice(["fr", "en"])
        if used_names and rng.random() < 0.05:  # a namesake: same name and mailbox name
            given, surname = rng.choice(used_names)
        else:
            given, surname = rng.choice(GIVEN), rng.choice(SURNAME)
            used_names.append((given, surname))
        local = f"{given}.{surname}".lower().replace("é", "e").replace("è", "e")
        email = f"{local}@{rng.choice(DOMAINS)}"
        if any(m["from_email"] == email for m in out):
            email = f"{local}{p}@{rng.choice(DOMAINS)}"
        name = f"{given} {surname}"
        topics = rng.sample(sorted(TOPICS), 2 if rng.random() < 0.3 else 1)
        t0 = start + timedelta(hours=rng.randint(0, 24 * 40))
        for k, topic in enumerate(topics):
            conv_no += 1
            conv = f"C{conv_no:04d}"
            spec = TOPICS[topic]
            slots = {**_slots(rng), "name": name}
            t = t0 + timedelta(hours=5 * k)
            mailbox = rng.choice(["support", "backoffice"])
            subject = rng.choice(spec[f"{lang}_s"]).format(**slots)
            first_mid = f"{conv}-0@{email.split('@')[1]}"

            who = {"conv": conv, "mailbox": mailbox, "name": name, "email": email, "lang": lang}

            def add(
                mid: str,
                when: datetime,
                subj: str,
                body: str,
                situation: str,
                irt: str | None = None,
                refs: list[str] | None = None,
                box: str | None = None,
                who: dict[str, str] = who,
            ) -> None:
                out.append(
                    _message(len(out), who, mid, when, subj, body, situation, irt, refs, box)
                )

            add(first_mid, t, subject, rng.choice(spec[f"{lang}_b"]).format(**slots), "origin")
            roll = rng.random()
            n = 1
            if roll < 0.12:
                add(
                    first_mid,
                    t + timedelta(minutes=2),
                    subject,
                    out[-1]["body"],
                    "two_mailboxes",
                    box="backoffice" if mailbox == "support" else "support",
                )
            elif roll < 0.22:
                add(
                    f"{conv}-r@{email.split('@')[1]}",
                    t + timedelta(minutes=rng.randint(3, 50)),
                    subject,
                    out[-1]["body"],
                    "resend",
                )
            for _ in range(rng.choice([0, 1, 1, 2, 3])):
                t += timedelta(hours=rng.randint(20, 60))
                kind = rng.random()
                mid = f"{conv}-{n}@{email.split('@')[1]}"
                n += 1
                if kind < 0.3:
                    add(
                        mid,
                        t,
                        f"RE: {subject}",
                        rng.choice(spec[f"{lang}_c"]).format(**slots),
                        "reply_headers",
                        irt=first_mid,
                        refs=[first_mid],
                    )
                elif kind < 0.55:
                    fresh = rng.choice(spec[f"{lang}_s"]).format(**slots)
                    body = rng.choice(spec[f"{lang}_c"]).format(**slots)
                    add(mid, t, fresh, body, "chase_fresh_subject")
                elif kind < 0.75 and len(topics) == 1:
                    bare = rng.choice(BARE_FR if lang == "fr" else BARE_EN)
                    add(mid, t, bare.split(",")[0][:40], bare, "bare_chase")
                else:
                    prefix = rng.choice(["RE: ", "TR: ", "Fwd: ", "AW: ", "Réf : "])
                    add(
                        mid,
                        t,
                        prefix + subject,
                        rng.choice(spec[f"{lang}_c"]).format(**slots),
                        "stripped_headers",
                    )
    return out


def main(argv: list[str] | None = None) -> int:
    """Write the corpus."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    items = generate(args.people, args.seed)
    args.out.write_text(
        "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8"
    )
    print(f"{len(items)} messages, {len({i['conversation'] for i in items})} conversations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
