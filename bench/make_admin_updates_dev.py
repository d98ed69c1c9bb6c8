# ruff: noqa: E501
"""Write the dev corpus bench/data/admin_updates_dev.jsonl (hand-written mails + variants).

    python3 bench/make_admin_updates_dev.py bench/data/admin_updates_dev.jsonl

Written by the engineer who tuned the extractor: a dev set, not a blind one.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

F = ("postal_address", "phone", "email", "company_name", "billing_contact", "iban")
items = []


def add(
    lang, subject, body, exp=None, rel="customer", apply=None, why="", sender=None, locale=None
):
    exp = exp or {}
    full = {f: exp.get(f) for f in F}
    if apply is None:
        apply = rel == "customer" and any(full.values()) and not full["iban"]
    n = len(items) + 1
    items.append(
        {
            "id": f"d{n}",
            "lang": lang,
            "locale": locale or ("fr-FR" if lang == "fr" else "en-GB"),
            "from_name": "Client",
            "from_email": sender
            or (f"client{n}@exemple.fr" if lang == "fr" else f"client{n}@example.co.uk"),
            "sender_relation": rel,
            "subject": subject,
            "body": body,
            "expected": full,
            "should_apply": apply,
            "why": why,
        }
    )


A = "postal_address"
P = "phone"
E = "email"
C = "company_name"
B = "billing_contact"
IB = "iban"

# ---------------- French addresses, clean
fr_addr = [
    ("12 bis rue des Lilas\n75011 Paris", "12 bis rue des Lilas, 75011 Paris"),
    ("Bât. B, 4 allée des Tilleuls\n69003 Lyon", "Bât. B, 4 allée des Tilleuls, 69003 Lyon"),
    (
        "Résidence Les Pins, Bât. C\n27 avenue Jean Jaurès\n13005 Marseille",
        "Résidence Les Pins, Bât. C, 27 avenue Jean Jaurès, 13005 Marseille",
    ),
    (
        "ZI des Bruyères\n3 rue Gutenberg\n44800 Saint-Herblain CEDEX",
        "ZI des Bruyères, 3 rue Gutenberg, 44800 Saint-Herblain CEDEX",
    ),
    ("BP 123\n31000 Toulouse", "BP 123, 31000 Toulouse"),
    ("8 ter chemin du Moulin\n38000 Grenoble", "8 ter chemin du Moulin, 38000 Grenoble"),
    (
        "45 boulevard Haussmann\n75009 Paris CEDEX 09",
        "45 boulevard Haussmann, 75009 Paris CEDEX 09",
    ),
    ("2 place de la Mairie\n67000 Strasbourg", "2 place de la Mairie, 67000 Strasbourg"),
    ("17 impasse des Acacias\n33700 Mérignac", "17 impasse des Acacias, 33700 Mérignac"),
    ("6 quai de la Fosse\n44000 Nantes", "6 quai de la Fosse, 44000 Nantes"),
    (
        "Appartement 14, 9 rue Nationale\n59000 Lille",
        "Appartement 14, 9 rue Nationale, 59000 Lille",
    ),
    ("110 route de Narbonne\n31400 Toulouse", "110 route de Narbonne, 31400 Toulouse"),
]
fr_intros = [
    (
        "Changement d'adresse",
        "Bonjour,\n\nSuite à mon déménagement, voici ma nouvelle adresse :\n{a}\n\nMerci de mettre à jour mon dossier.\nCordialement,\nMarie Dupont",
    ),
    (
        "Nouvelle adresse",
        "Bonjour,\nMerci de noter notre nouvelle adresse postale à compter du 1er mars :\n{a}\n\nBien à vous,\nSARL Dubois",
    ),
    (
        "Déménagement",
        "Madame, Monsieur,\n\nJe vous informe que mon adresse a changé. Désormais, mon adresse est :\n{a}\n\nCordialement\nJean Petit\n06 11 22 33 44",
    ),
    (
        "Mise à jour de mes coordonnées",
        "Bonjour,\nNous avons déménagé. Notre nouvelle adresse :\n\n{a}\n\nMerci d'en tenir compte pour les prochaines factures.\nBonne journée",
    ),
]
for k, (raw, norm) in enumerate(fr_addr):
    s, b = fr_intros[k % len(fr_intros)]
    add("fr", s, b.format(a=raw), {A: norm}, why="fr address")

# ---------------- English / foreign addresses
en_addr = [
    ("221B Baker Street\nLondon NW1 6XE", "221B Baker Street, London NW1 6XE", "en-GB"),
    ("Flat 3, 14 Kings Road\nBrighton BN1 2AB", "Flat 3, 14 Kings Road, Brighton BN1 2AB", "en-GB"),
    (
        "Unit 7, Riverside Business Park\nManchester M4 5JD",
        "Unit 7, Riverside Business Park, Manchester M4 5JD",
        "en-GB",
    ),
    (
        "1600 Amphitheatre Parkway\nMountain View, CA 94043",
        "1600 Amphitheatre Parkway, Mountain View, CA 94043",
        "en-US",
    ),
    (
        "350 Fifth Avenue, Suite 4200\nNew York, NY 10118",
        "350 Fifth Avenue, Suite 4200, New York, NY 10118",
        "en-US",
    ),
    ("77 Elm Street\nSpringfield, IL 62704", "77 Elm Street, Springfield, IL 62704", "en-US"),
    ("12 Harbour Road\nDublin D04 X2P8", "12 Harbour Road, Dublin D04 X2P8", "en-IE"),
]
en_intros = [
    ("Change of address", "Hi,\n\nPlease note our new address:\n{a}\n\nThanks,\nTom"),
    (
        "We have moved",
        "Hello,\nWe have moved to:\n{a}\n\nKind regards,\nSarah Jones\nOffice manager",
    ),
    (
        "Address update",
        "Dear team,\n\nMy address is now:\n{a}\n\nPlease update your records.\nBest,\nAlex",
    ),
]
for k, (raw, norm, loc) in enumerate(en_addr):
    s, b = en_intros[k % len(en_intros)]
    add("en", s, b.format(a=raw), {A: norm}, locale=loc, why="en address")

# Belgian / Swiss
add(
    "fr",
    "Nouvelle adresse",
    "Bonjour,\nVeuillez noter ma nouvelle adresse :\nRue de la Loi 16\n1000 Bruxelles\n\nMerci,\nLuc",
    {A: "Rue de la Loi 16, 1000 Bruxelles"},
    locale="fr-BE",
)
add(
    "fr",
    "Changement d'adresse",
    "Bonjour,\nNotre nouvelle adresse est désormais :\nAvenue de la Gare 10\nCH-1003 Lausanne\n\nMeilleures salutations,\nAnne",
    {A: "Avenue de la Gare 10, CH-1003 Lausanne"},
    locale="fr-CH",
)
add(
    "fr",
    "Déménagement",
    "Bonjour,\nNous avons déménagé au :\nChaussée de Waterloo 412\n1050 Ixelles\nCordialement",
    {A: "Chaussée de Waterloo 412, 1050 Ixelles"},
    locale="fr-BE",
)
add(
    "fr",
    "adresse",
    "Bonjour, ma nouvelle adresse : 5 rue du Rhône, 1204 Genève. Merci !",
    {A: "5 rue du Rhône, 1204 Genève"},
    locale="fr-CH",
)
# inline French
add(
    "fr",
    "changement adresse",
    "Bonjour, ma nouvelle adresse est 3 rue Victor Hugo, 21000 Dijon. Merci de mettre à jour. Paul",
    {A: "3 rue Victor Hugo, 21000 Dijon"},
)
add(
    "en",
    "New address",
    "Hi, our new address is 10 Downing Street, London SW1A 2AA. Cheers",
    {A: "10 Downing Street, London SW1A 2AA"},
)

# ---------------- Phones
phones = [
    (
        "fr",
        "Changement de numéro",
        "Bonjour,\nMon nouveau numéro de portable est le 06 12 34 56 78.\nCordialement",
        "+33612345678",
        "fr-FR",
    ),
    (
        "fr",
        "Téléphone",
        "Bonjour,\nVoici mon nouveau numéro : +33 7 81 22 45 90\nMerci",
        "+33781224590",
        "fr-FR",
    ),
    (
        "fr",
        "Nouveau fixe",
        "Bonjour, notre numéro de téléphone change : désormais vous pouvez nous joindre au 01.44.55.66.77.\nBonne journée",
        "+33144556677",
        "fr-FR",
    ),
    (
        "fr",
        "coordonnées",
        "Bonjour,\nÀ compter du 15 avril, mon numéro sera le 0033 6 98 76 54 32.\nCordialement,\nLéa",
        "+33698765432",
        "fr-FR",
    ),
    (
        "en",
        "New phone number",
        "Hi,\nMy new mobile number is 07700 900123.\nThanks",
        "+447700900123",
        "en-GB",
    ),
    (
        "en",
        "Phone",
        "Hello,\nPlease update my phone number to +44 20 7946 0958.\nRegards,\nJames",
        "+442079460958",
        "en-GB",
    ),
    (
        "en",
        "updated number",
        "Hi there, my new number is (415) 555-2671, please use it from now on.",
        "+14155552671",
        "en-US",
    ),
    (
        "fr",
        "Nouveau numéro",
        "Bonjour,\nmon nouveau numéro : +32 470 12 34 56\nMerci",
        "+32470123456",
        "fr-BE",
    ),
    (
        "fr",
        "téléphone",
        "Bonjour,\nNouveau numéro de la société : 022 345 67 89\nCordialement",
        "+41223456789",
        "fr-CH",
    ),
    (
        "en",
        "Contact number changed",
        "Hi team,\nOur office number has changed to 020 3123 4567.\nBest,\nPriya",
        "+442031234567",
        "en-GB",
    ),
]
for lang, s, b, v, loc in phones:
    add(lang, s, b, {P: v}, locale=loc, why="phone")

# ---------------- Emails
emails = [
    (
        "fr",
        "Nouvelle adresse mail",
        "Bonjour,\nMerci de noter ma nouvelle adresse e-mail : marie.dupont@orange.fr\nCordialement",
        "marie.dupont@orange.fr",
    ),
    (
        "fr",
        "Changement d'email",
        "Bonjour,\nJe change d'adresse mail, désormais écrivez-moi à jp.martin@gmail.com.\nMerci",
        "jp.martin@gmail.com",
    ),
    (
        "en",
        "New email",
        "Hi,\nMy new email address is sam.taylor@outlook.com - please use it from now on.\nThanks",
        "sam.taylor@outlook.com",
    ),
    (
        "en",
        "Email update",
        "Hello,\nPlease update our contact email to accounts@newco.co.uk.\nRegards",
        "accounts@newco.co.uk",
    ),
    (
        "fr",
        "courriel",
        "Bonjour, notre nouveau courriel est contact@boulangerie-lemaire.fr. Bonne journée",
        "contact@boulangerie-lemaire.fr",
    ),
]
for lang, s, b, v in emails:
    add(lang, s, b, {E: v}, why="email")

# ---------------- Company names
add(
    "fr",
    "Changement de raison sociale",
    "Bonjour,\nNotre raison sociale devient « Atelier Martin & Fils ».\nCordialement,\nPierre Martin",
    {C: "Atelier Martin & Fils"},
)
add(
    "fr",
    "Nouvelle dénomination",
    "Bonjour,\nSuite à la fusion, notre nouvelle dénomination sociale est Groupe Horizon SAS.\nMerci de mettre à jour vos fiches.",
    {C: "Groupe Horizon SAS"},
)
add(
    "en",
    "Company renamed",
    "Hi,\nWe have been renamed to Brightline Analytics Ltd as of 1 June.\nBest regards",
    {C: "Brightline Analytics Ltd"},
)
add(
    "en",
    "Name change",
    "Hello,\nOur company name is now Northwind Traders.\nThanks",
    {C: "Northwind Traders"},
)
add(
    "fr",
    "nom société",
    "Bonjour, notre société s'appelle désormais Vertigo Conseil. Cordialement",
    {C: "Vertigo Conseil"},
)
# billing contacts
add(
    "fr",
    "Contact facturation",
    "Bonjour,\nNotre nouveau contact pour la facturation est Mme Claire Bernard.\nCordialement",
    {B: "Claire Bernard"},
)
add(
    "fr",
    "Comptabilité",
    "Bonjour,\nLa nouvelle responsable de la comptabilité est Sophie Laurent, joignable au service compta.\nMerci",
    {B: "Sophie Laurent"},
)
add(
    "en",
    "Billing contact",
    "Hi,\nOur new billing contact is Daniel Brooks.\nRegards",
    {B: "Daniel Brooks"},
)
add(
    "en",
    "Accounts payable",
    "Hello,\nAccounts payable contact is now Emma Clarke (emma.clarke@acme.com).\nThanks",
    {B: "Emma Clarke"},
)
# IBAN
add(
    "fr",
    "Nouveau RIB",
    "Bonjour,\nVoici notre nouveau RIB : FR76 3000 6000 0112 3456 7890 189\nCordialement",
    {IB: "FR7630006000011234567890189"},
)
add(
    "en",
    "Bank details",
    "Hi,\nOur new bank details: IBAN GB82 WEST 1234 5698 7654 32\nThanks",
    {IB: "GB82WEST12345698765432"},
)
add(
    "fr",
    "IBAN",
    "Bonjour,\nMerci de prélever désormais sur ce compte : IBAN BE68 5390 0754 7034\nCordialement",
    {IB: "BE68539007547034"},
    locale="fr-BE",
)

# ---------------- Multi-field
add(
    "fr",
    "Déménagement et nouveau numéro",
    "Bonjour,\nJ'ai déménagé. Ma nouvelle adresse :\n14 rue Pasteur\n69007 Lyon\nEt mon nouveau numéro : 06 45 78 12 90.\nMerci,\nNadia",
    {A: "14 rue Pasteur, 69007 Lyon", P: "+33645781290"},
)
add(
    "en",
    "New details",
    "Hi,\nWe have moved to 5 Market Street, Leeds LS1 6DT. Our new phone number is 0113 496 0000.\nThanks,\nOwen",
    {A: "5 Market Street, Leeds LS1 6DT", P: "+441134960000"},
)
add(
    "fr",
    "Changements",
    "Bonjour,\nNotre société s'appelle désormais Lumière Digitale. Nouvelle adresse e-mail : compta@lumiere-digitale.fr\nCordialement",
    {C: "Lumière Digitale", E: "compta@lumiere-digitale.fr"},
)

# ---------------- Decoys: no new value -> expected empty
decoys = [
    (
        "fr",
        "Question",
        "Bonjour,\nComment puis-je changer mon adresse postale sur mon espace client ?\nMerci",
    ),
    (
        "fr",
        "Déménagement",
        "Bonjour,\nJe vais déménager l'année prochaine, je vous enverrai ma nouvelle adresse à ce moment-là.\nCordialement",
    ),
    (
        "en",
        "Moving",
        "Hi,\nWe will move next year; I'll send you the new address once we have it.\nThanks",
    ),
    (
        "en",
        "How to update",
        "Hello,\nHow do I update my phone number in my account? I can't find the option.\nRegards",
    ),
    (
        "fr",
        "Facture",
        "Bonjour,\nJe n'ai pas reçu ma facture de mars. Pouvez-vous me la renvoyer ?\nCordialement,\nMarc Durand\n12 rue de la Paix\n75002 Paris\nTél. 01 42 60 00 00",
    ),
    (
        "en",
        "Order question",
        "Hi,\nWhere is my order #4521?\nThanks,\nLaura\n--\nLaura Smith | Sales\n14 Queen Street, Edinburgh EH2 1JX\nTel +44 131 496 0123",
    ),
    (
        "fr",
        "Boutique",
        "Bonjour,\nPouvez-vous me donner l'adresse de votre nouvelle boutique à Bordeaux ? On m'a dit qu'elle est au 20 cours de l'Intendance, 33000 Bordeaux, c'est bien ça ?\nMerci",
    ),
    (
        "fr",
        "colis",
        "Bonjour,\nMon colis a été livré chez mon voisin, sa nouvelle adresse est 4 rue des Roses, 54000 Nancy. Pouvez-vous vérifier ?\nMerci",
    ),
    (
        "en",
        "Agency",
        "Hello,\nYour agency told me their new address is 8 Castle Street, Cardiff CF10 1BS but I want to keep my account as it is.\nThanks",
    ),
    (
        "fr",
        "Ancienne adresse",
        "Bonjour,\nJe reçois toujours le courrier à mon ancienne adresse : 7 rue Carnot, 37000 Tours. Je ne comprends pas, je vous ai déjà donné la nouvelle le mois dernier.\nCordialement",
    ),
    (
        "en",
        "Still old address",
        "Hi,\nYour letters still go to my old address, 22 Mill Lane, Oxford OX1 2JD. Please check.\nRegards",
    ),
    ("fr", "RIB", "Bonjour,\nComment vous transmettre mon nouveau RIB de façon sécurisée ?\nMerci"),
    (
        "en",
        "Phone broken",
        "Hi,\nMy phone is broken, please email me instead of calling for now.\nThanks",
    ),
]
for lang, s, b in decoys:
    add(lang, s, b, {}, why="decoy: nothing to change")

# ---------------- Decoys with value next to old / quoted / forwarded; new value present
add(
    "fr",
    "Changement d'adresse",
    "Bonjour,\nAncienne adresse : 3 rue Voltaire, 49000 Angers\nNouvelle adresse : 18 boulevard Foch, 49100 Angers\nMerci",
    {A: "18 boulevard Foch, 49100 Angers"},
    why="old and new",
)
add(
    "en",
    "Moved",
    "Hi,\nOld address: 4 Park Lane, Bath BA1 1AA\nNew address: 9 Orchard Close, Bath BA2 4RS\nThanks",
    {A: "9 Orchard Close, Bath BA2 4RS"},
    why="old and new",
)
add(
    "fr",
    "numéro",
    "Bonjour,\nMon ancien numéro 06 00 00 00 01 n'est plus valable, mon nouveau numéro est le 06 98 12 34 56.\nMerci",
    {P: "+33698123456"},
    why="old number",
)
add(
    "en",
    "number",
    "Hi,\nPlease replace my previous number 07700 900001 with my new number 07700 900456.\nThanks",
    {P: "+447700900456"},
    why="old number",
)
add(
    "fr",
    "Re: votre dossier",
    "Bonjour,\nVoici ma nouvelle adresse mail : anne.roux@free.fr\n\nLe 3 mars 2026 à 10:12, Service client <support@exemple.fr> a écrit :\n> Bonjour,\n> Merci de nous envoyer votre nouvelle adresse e-mail, l'ancienne anne@oldmail.fr ne fonctionne plus.\n> Cordialement",
    {E: "anne.roux@free.fr"},
    why="quoted text",
)
add(
    "en",
    "Re: account",
    "Hi,\nThanks, all good now.\n\nOn Tue, 3 Mar 2026 at 10:12, Support <support@example.co.uk> wrote:\n> Please send your new address.\n> New address:\n> 1 Station Road\n> Reading RG1 1LX",
    {},
    why="address only in quoted text",
)
add(
    "fr",
    "Tr: changement",
    "Bonjour,\nJe vous transfère le message de mon comptable.\n\n---------- Message transféré ---------\nDe : Cabinet Comptable <cab@compta.fr>\nDate : 2 mars 2026\nObjet : coordonnées\nÀ : moi\n\nNotre nouvelle adresse : 5 rue de Metz, 31000 Toulouse",
    {},
    why="forwarded third party",
)
add(
    "en",
    "Fwd: details",
    "FYI\n\n---------- Forwarded message ---------\nFrom: Landlord <land@lord.com>\nDate: 2 Mar 2026\nSubject: new office\nTo: me\n\nOur new address is 40 High Street, Oxford OX1 4AP",
    {},
    why="forwarded third party",
)
add(
    "fr",
    "Nouveau numéro",
    "Bonjour,\nMon nouveau numéro est le 07 12 34 56 78.\nCordialement,\nThomas Leroy\nDirecteur commercial\nTél : 01 23 45 67 89\nwww.leroy.fr",
    {P: "+33712345678"},
    why="signature phone",
)
add(
    "en",
    "New mobile",
    "Hi,\nMy new mobile is 07911 123456.\n\nBest regards,\nKate Wilson\nT: +44 20 7123 4567\nM: 07700 900999",
    {P: "+447911123456"},
    why="signature phones",
)
add(
    "fr",
    "coordonnées",
    "Bonjour,\nNotre nouvelle adresse est :\n6 rue du Port\n56100 Lorient\n\nCordialement,\nYann Le Goff\nSociété Le Goff\n2 rue de Brest\n29200 Brest\n02 98 00 00 00",
    {A: "6 rue du Port, 56100 Lorient"},
    why="signature address",
)
# several candidate values -> unsure, but whatever is extracted must be correct; expected left to the stated one only if clear
add(
    "fr",
    "numéros",
    "Bonjour,\nVous pouvez me joindre désormais au 06 11 11 11 11 ou au 06 22 22 22 22, je ne sais pas encore lequel je garderai.\nMerci",
    {},
    rel="customer",
    apply=False,
    why="two candidates: nothing certain",
)
add(
    "en",
    "addresses",
    "Hi,\nWe are moving to either 3 Bridge Street, York YO1 6DD or 12 Low Petergate, York YO1 7HZ, we'll confirm next week.\nThanks",
    {},
    apply=False,
    why="two candidates",
)
add(
    "fr",
    "adresse",
    "Bonjour,\nMa nouvelle adresse sera soit 3 rue Nationale, 37000 Tours soit 8 rue Colbert, 37000 Tours, je vous confirme la semaine prochaine.\nMerci",
    {},
    apply=False,
    why="two candidates",
)
# postcode / commune disagreement and typos
add(
    "fr",
    "nouvelle adresse",
    "Bonjour,\nMa nouvelle adresse : 10 rue de la République, 75001 Marseille\nMerci",
    {A: "10 rue de la République, 75001 Marseille"},
    apply=False,
    why="postcode does not agree with commune",
)
add(
    "fr",
    "adresse",
    "Bonjour,\nNouvelle adresse : 4 rue Sainte-Catherine, 33000 Lyon\nCordialement",
    {A: "4 rue Sainte-Catherine, 33000 Lyon"},
    apply=False,
    why="postcode does not agree with commune",
)

# ---------------- Non-customer senders (same content as clean ones)
add(
    "fr",
    "Nouvelle adresse",
    "Bonjour,\nVoici ma nouvelle adresse :\n30 rue Lafayette\n75010 Paris\nCordialement",
    {A: "30 rue Lafayette, 75010 Paris"},
    rel="customer_other_address",
    why="other address",
)
add(
    "en",
    "New number",
    "Hi,\nMy new number is 07700 900777.\nThanks",
    {P: "+447700900777"},
    rel="spoofed_lookalike",
    why="spoofed",
)
add(
    "fr",
    "RIB",
    "Bonjour,\nMerci de virer désormais sur notre nouveau compte : FR14 2004 1010 0505 0001 3M02 606\nCordialement",
    {IB: "FR1420041010050500013M02606"},
    rel="spoofed_lookalike",
    why="spoofed bank change",
)
add(
    "en",
    "Email change",
    "Hello,\nOur new email is finance@acme-payments.com.\nRegards",
    {E: "finance@acme-payments.com"},
    rel="third_party",
    why="third party",
)
add(
    "fr",
    "changement",
    "Bonjour,\nJe suis la voisine de M. Morel, sa nouvelle adresse est 2 rue Haute, 67000 Strasbourg.\nCordialement",
    {},
    rel="third_party",
    why="neighbour",
)

random.seed(0)
# ---------------- templated variants to reach volume: phone/email/address with different wording
streets = [
    ("5 rue des Écoles", "75005 Paris"),
    ("23 avenue Foch", "54000 Nancy"),
    ("1 place Bellecour", "69002 Lyon"),
    ("9 rue Saint-Ferréol", "13001 Marseille"),
    ("40 allée Jean Jaurès", "31000 Toulouse"),
    ("3 bis rue de Verdun", "06000 Nice"),
    ("15 rue Lepic", "75018 Paris"),
    ("2 rue du Château", "35000 Rennes"),
]
cues = [
    "Nouvelle adresse : {s}, {c}",
    "À compter du 1er juin, notre adresse sera : {s}, {c}.",
    "Nous avons déménagé au {s}, {c}.",
    "Désormais merci d'envoyer le courrier au {s}, {c}.",
    "Ma nouvelle adresse postale est {s}, {c}.",
    "Notre siège a déménagé ; nouvelle adresse : {s}, {c}",
    "J'habite maintenant au {s}, {c}.",
    "Mes nouvelles coordonnées postales : {s}, {c}",
]
for k, (s, c) in enumerate(streets):
    body = "Bonjour,\n" + cues[k].format(s=s, c=c) + "\nMerci beaucoup.\nCordialement,\nClaire"
    add("fr", "Changement de coordonnées", body, {A: f"{s}, {c}"}, why="templated fr address")
ens = [
    ("7 Victoria Road", "Cambridge CB4 3LF"),
    ("88 Queen Street", "Glasgow G1 3DN"),
    ("31 Church Lane", "Norwich NR2 1AB"),
    ("4 Albert Square", "Manchester M2 5DB"),
    ("250 Pine Street", "Seattle, WA 98101"),
    ("19 Maple Avenue", "Boston, MA 02116"),
]
encues = [
    "Our new address is {s}, {c}.",
    "Please send all post to our new address from Monday: {s}, {c}.",
    "I've moved to {s}, {c}.",
    "Going forward, please use {s}, {c} as our mailing address.",
    "New address: {s}, {c}",
    "We relocated to {s}, {c} last week.",
]
for k, (s, c) in enumerate(ens):
    add(
        "en",
        "Address change",
        "Hi,\n" + encues[k].format(s=s, c=c) + "\nMany thanks,\nChris",
        {A: f"{s}, {c}"},
        locale="en-US" if "," in c else "en-GB",
        why="templated en address",
    )
frph = [
    ("06 33 44 55 66", "+33633445566"),
    ("07 50 60 70 80", "+33750607080"),
    ("04 78 90 12 34", "+33478901234"),
    ("+33 6 01 02 03 04", "+33601020304"),
    ("09 87 65 43 21", "+33987654321"),
]
frpc = [
    "Mon nouveau numéro de téléphone : {p}",
    "Je change de numéro, le nouveau est le {p}.",
    "Désormais vous pouvez me joindre au {p}.",
    "Nouveau portable : {p}",
    "Notre standard a changé de numéro : {p}",
]
for k, (raw, e) in enumerate(frph):
    add(
        "fr",
        "Numéro de téléphone",
        "Bonjour,\n" + frpc[k].format(p=raw) + "\nMerci d'avance.\nBien cordialement,\nHélène",
        {P: e},
        why="templated fr phone",
    )
enph = [
    ("07700 900321", "+447700900321"),
    ("+44 7700 900654", "+447700900654"),
    ("0161 496 0321", "+441614960321"),
    ("+1 212 555 0147", "+12125550147"),
]
enpc = [
    "My new number is {p}.",
    "New mobile: {p}",
    "You can now reach me on {p}.",
    "Our phone number has changed to {p}.",
]
for k, (raw, e) in enumerate(enph):
    add(
        "en",
        "Phone number",
        "Hi,\n" + enpc[k].format(p=raw) + "\nThanks,\nMark",
        {P: e},
        locale="en-US" if e.startswith("+1") else "en-GB",
        why="templated en phone",
    )
em = [
    ("fr", "Ma nouvelle adresse électronique : {e}", "julie.moreau@laposte.net"),
    ("fr", "Mon adresse mail change, la nouvelle est {e}", "p.girard@sfr.fr"),
    ("en", "My new e-mail address is {e}.", "rachel.green@proton.me"),
    ("en", "Please use my new email {e} from now on.", "d.patel@yahoo.co.uk"),
]
for lang, t, v in em:
    add(
        lang,
        "E-mail",
        ("Bonjour,\n" if lang == "fr" else "Hello,\n")
        + t.format(e=v)
        + ("\nMerci." if lang == "fr" else "\nThanks."),
        {E: v},
        why="templated email",
    )
# decoy variants: value in sign-off only, or questions
for k in range(6):
    s, c = streets[k]
    if k % 2 == 0:
        add(
            "fr",
            "Question facture",
            f"Bonjour,\nPouvez-vous me renvoyer la facture n°{1000 + k} ?\nMerci,\nCordialement,\nAlain Roux\n{s}\n{c}\n06 {k}1 22 33 44",
            {},
            why="decoy: signature block",
        )
    else:
        add(
            "en",
            "Question",
            f"Hello,\nIs the delivery to {s}, {c} delayed? My neighbour's new address is next door.\nThanks",
            {},
            why="decoy: delivery question",
        )
# decoys: new value of someone else
add(
    "fr",
    "Info",
    "Bonjour,\nL'adresse de votre agence a changé : elle est désormais au 12 rue Thiers, 38000 Grenoble, j'ai trouvé porte close.\nCordialement",
    {},
    why="decoy: agency",
)
add(
    "en",
    "Your shop",
    "Hi,\nYour shop's new address is 3 Bond Street, London W1S 1SP according to Google, is that right?\nThanks",
    {},
    why="decoy: shop",
)
add(
    "fr",
    "Fils",
    "Bonjour,\nLe nouveau numéro de mon fils est le 06 55 44 33 22, mais gardez bien le mien sur le dossier.\nMerci",
    {},
    why="decoy: someone else's number",
)
add(
    "en",
    "Colleague",
    "Hi,\nMy colleague's new email is tom.h@client.com, but please keep me as the contact.\nThanks",
    {},
    why="decoy: colleague",
)
add(
    "fr",
    "rappel",
    "Bonjour,\nJe vous ai envoyé mon nouveau numéro la semaine dernière, l'avez-vous bien enregistré ?\nMerci",
    {},
    why="decoy: no value",
)
add(
    "en",
    "bank",
    "Hi,\nWe will change bank next month; the new IBAN will follow.\nThanks",
    {},
    why="decoy: future bank",
)


# ---------------- harder wordings, written after a first round (same author, still a dev set)
HARD = [
    (
        "fr",
        "Adresse",
        "Bonjour,\nNotre nouvelle adresse à partir du 1er mars est 12 rue des Lilas, 75011 Paris.\nMerci",
        {A: "12 rue des Lilas, 75011 Paris"},
    ),
    (
        "fr",
        "Résidence",
        "Bonjour,\nVeuillez noter que je réside désormais au 4 rue Pasteur, 92100 Boulogne-Billancourt.\nCordialement",
        {A: "4 rue Pasteur, 92100 Boulogne-Billancourt"},
    ),
    (
        "en",
        "Address",
        "Hi,\nPlease update my address to 15 Oak Avenue, Bristol BS1 4DJ.\nThanks",
        {A: "15 Oak Avenue, Bristol BS1 4DJ"},
    ),
    (
        "fr",
        "Modification",
        "Bonjour,\nMerci de modifier mon adresse : 7 allée des Cerisiers 35000 Rennes\nBonne journée",
        {A: "7 allée des Cerisiers 35000 Rennes"},
    ),
    (
        "en",
        "Moved",
        "Hello,\nMy new address: Flat 2, 10 Station Road, Cambridge CB1 2JB, United Kingdom.\nBest",
        {A: "Flat 2, 10 Station Road, Cambridge CB1 2JB"},
    ),
    (
        "fr",
        "Facturation",
        "Bonjour,\nNouvelle adresse de facturation : 3 place Carnot, 72000 Le Mans\nMerci",
        {A: "3 place Carnot, 72000 Le Mans"},
    ),
    (
        "fr",
        "Téléphone",
        "Bonjour,\nVous pouvez désormais me joindre au 06.12.34.56.78 ou par mail.\nMerci",
        {P: "+33612345678"},
    ),
    ("en", "Phone", "Hi,\nNew phone: 0207 946 0123\nCheers", {P: "+442079460123"}),
    (
        "fr",
        "Numéro",
        "Bonjour,\nMon numéro a changé, c'est maintenant le 06 71 23 45 89.\nCordialement",
        {P: "+33671234589"},
    ),
    (
        "fr",
        "Mail",
        "Bonjour,\nMerci d'utiliser dorénavant l'adresse jean.dupont@wanadoo.fr pour m'écrire.\nCordialement",
        {E: "jean.dupont@wanadoo.fr"},
    ),
    (
        "fr",
        "Rachat",
        "Bonjour,\nSuite à notre rachat, nous nous appelons désormais Dupont Industries.\nCordialement",
        {C: "Dupont Industries"},
    ),
    (
        "en",
        "Rebrand",
        "Hi,\nWe are now known as Bluefin Logistics Ltd.\nRegards",
        {C: "Bluefin Logistics Ltd"},
    ),
    (
        "fr",
        "Adresses",
        "Bonjour,\nMon ancienne adresse était 5 rue Saint-Martin, 75003 Paris ; la nouvelle est 8 rue Oberkampf, 75011 Paris.\nMerci",
        {},
    ),
    (
        "fr",
        "Fils",
        "Bonjour,\nMon fils a une nouvelle adresse : 3 rue Mercière, 69002 Lyon. Pour moi rien ne change.\nMerci",
        {},
    ),
    (
        "en",
        "Question",
        "Hi,\nI moved last month. Do you need my new address, or can I change it online?\nThanks",
        {},
    ),
    (
        "fr",
        "Livraison",
        "Bonjour,\nPour cette commande seulement, livrez au 9 rue de la Gare, 67000 Strasbourg, mon adresse habituelle ne change pas.\nMerci",
        {},
    ),
    (
        "en",
        "Contact",
        "Hi,\nFor urgent matters our new support line is 0800 123 4567 - but this is for your customers, not for our account.\nThanks",
        {},
    ),
    (
        "fr",
        "Numéro agence",
        "Bonjour,\nQuel est le nouveau numéro de votre agence de Lyon ?\nMerci",
        {},
    ),
]
HARD += [
    (
        "en",
        "Office move",
        "Please note our new office address effective 1 April: 12 High Street, Oxford OX1 4AA.",
        {A: "12 High Street, Oxford OX1 4AA"},
    ),
    (
        "en",
        "HQ",
        "Hi,\nWe have relocated our HQ. New address:\nUnit 5\nParkside Industrial Estate\nLeeds\nLS11 5BD\n\nThanks",
        {A: "Unit 5, Parkside Industrial Estate, Leeds, LS11 5BD"},
    ),
    (
        "fr",
        "Adresse",
        "Bonjour,\nNouvelle adresse :\nM. et Mme Dupont\n12 rue Victor Hugo\n75011 Paris\n\nMerci",
        {A: "12 rue Victor Hugo, 75011 Paris"},
    ),
    (
        "fr",
        "Adresse",
        "Bonjour,\nPouvez-vous enregistrer ma nouvelle adresse ? 14 rue Nationale, 59000 Lille",
        {A: "14 rue Nationale, 59000 Lille"},
    ),
    (
        "fr",
        "Numéro",
        "Bonjour, je vous informe de mon nouveau numéro : 07700 900123. Merci",
        {P: "+447700900123"},
    ),
    (
        "en",
        "Billing address",
        "Kindly update the billing address to 3 Queen Street, Edinburgh EH2 1JE.",
        {A: "3 Queen Street, Edinburgh EH2 1JE"},
    ),
    (
        "fr",
        "Coordonnées",
        "Bonjour,\nSuite à mon déménagement, mes nouvelles coordonnées :\n8 avenue de la Liberté\n67000 Strasbourg\nTél : 03 88 12 34 56\nMerci",
        {A: "8 avenue de la Liberté, 67000 Strasbourg", P: "+33388123456"},
    ),
    (
        "fr",
        "Portable",
        "Bonjour,\nJ'ai changé de numéro de portable : 06 98 76 54 32. Pensez à mettre à jour votre fichier.\nCordialement\nMarc\n06 11 22 33 44",
        {P: "+33698765432"},
    ),
    (
        "en",
        "PO box",
        "Hi - our mailing address changed. It's now PO Box 4512, Austin, TX 78765. Thanks!",
        {A: "PO Box 4512, Austin, TX 78765"},
    ),
    (
        "fr",
        "Siège",
        "Bonjour, veuillez noter le changement d'adresse de notre société : 25 rue de la Paix 75002 Paris. Cordialement",
        {A: "25 rue de la Paix 75002 Paris"},
    ),
    (
        "fr",
        "Livraison",
        "Bonjour,\nPour cette commande, merci de livrer à ma nouvelle adresse de vacances : 3 chemin des Dunes, 85100 Les Sables-d'Olonne.\nMerci",
        {},
    ),
]
for lang, subject, body, exp in HARD:
    add(lang, subject, body, exp, why="harder wording")


# ---------------- issue 12, strict apply policy: mails written to break it (same dev author,
# written before the policy was tuned): look-alike senders, old and new address in one mail,
# signatures with other phones, a third party's details, temporary addresses, other formats.
STRICT = [
    # old and new address in one mail, every order
    (
        "fr",
        "Déménagement",
        "Bonjour,\nJ'ai quitté le 3 rue Voltaire, 49000 Angers. Je suis désormais au 18 boulevard Foch, 49100 Angers.\nMerci de mettre à jour mon dossier.\nCordialement",
        {A: "18 boulevard Foch, 49100 Angers"},
        {},
    ),
    (
        "fr",
        "Changement d'adresse",
        "Bonjour,\n\nAncienne adresse :\n7 rue Carnot\n37000 Tours\n\nNouvelle adresse :\n22 rue Nationale\n37000 Tours\n\nCordialement,\nM. Blanc",
        {A: "22 rue Nationale, 37000 Tours"},
        {},
    ),
    (
        "fr",
        "Adresse",
        "Bonjour,\nMa nouvelle adresse est le 9 rue des Halles, 21000 Dijon (l'ancienne, 2 rue Monge, 21000 Dijon, n'est plus valable).\nMerci",
        {A: "9 rue des Halles, 21000 Dijon"},
        {},
    ),
    (
        "en",
        "We moved",
        "Hi,\nWe have moved from 4 Park Lane, Bath BA1 1AA to 9 Orchard Close, Bath BA2 4RS.\nThanks,\nJo",
        {A: "9 Orchard Close, Bath BA2 4RS"},
        {},
    ),
    (
        "en",
        "Address",
        "Hello,\nPlease stop sending letters to 12 Mill Road, Cambridge CB1 2AD. From now on our address is 40 Hills Road, Cambridge CB2 1LA.\nRegards",
        {A: "40 Hills Road, Cambridge CB2 1LA"},
        {},
    ),
    (
        "fr",
        "Nouvelle adresse",
        "Bonjour,\nNouvelle adresse : 5 avenue Jean Médecin, 06000 Nice\nAncienne adresse : 14 rue de France, 06000 Nice\nMerci",
        {A: "5 avenue Jean Médecin, 06000 Nice"},
        {},
    ),
    # signatures and body with other phones
    (
        "fr",
        "Portable",
        "Bonjour,\nMon nouveau portable est le 06 45 12 78 90.\nPour le bureau, rien ne change.\n\nCordialement\nSophie Marchand\nCabinet Marchand\nTél. 01 40 20 30 50\nFax 01 40 20 30 51",
        {P: "+33645127890"},
        {},
    ),
    (
        "fr",
        "Téléphone",
        "Bonjour,\nvous pouvez toujours m'appeler au bureau au 04 72 00 11 22, mais mon nouveau portable est désormais le 07 61 22 33 44.\nBonne journée",
        {P: "+33761223344"},
        {},
    ),
    (
        "en",
        "Mobile",
        "Hi,\nMy new mobile number is 07723 456789.\n\nKind regards\nPeter Hall\nFinance Director | Hall & Co\nDirect: 020 7946 0011 | Switchboard: 020 7946 0000",
        {P: "+447723456789"},
        {},
    ),
    (
        "fr",
        "numéro",
        "Bonjour,\nJe vous confirme mon nouveau numéro : 06 27 38 49 50.\nMerci\n--\nLuc Perrin\n06 11 22 33 44\nwww.perrin-bois.fr",
        {P: "+33627384950"},
        {},
    ),
    (
        "en",
        "Phone",
        "Hello,\nOur number has changed to 0161 496 0789. The old one, 0161 496 0000, will stop working on Friday.\nThanks",
        {P: "+441614960789"},
        {},
    ),
    # a third party's details: nothing for this contact
    (
        "fr",
        "Ma fille",
        "Bonjour,\nMa fille a changé de numéro : 06 98 87 76 65. Merci de mettre à jour son dossier à elle.\nCordialement",
        {},
        {},
    ),
    (
        "fr",
        "Comptable",
        "Bonjour,\nNotre comptable a une nouvelle adresse mail : cabinet.roux@expert-compta.fr, c'est elle qui vous enverra les documents.\nCordialement",
        {},
        {},
    ),
    (
        "en",
        "Supplier",
        "Hi,\nFYI the new address of our supplier is 14 Dock Street, Leeds LS10 1JF, in case you deliver there.\nThanks",
        {},
        {},
    ),
    (
        "fr",
        "Voisin",
        "Bonjour,\nMon voisin m'a demandé de vous transmettre son nouveau numéro, le 06 10 20 30 40.\nMerci",
        {},
        {},
    ),
    (
        "en",
        "Manager",
        "Hi,\nOur manager's new email address is l.baker@hartley.co.uk, please copy her on invoices.\nThanks",
        {},
        {},
    ),
    (
        "fr",
        "Gestionnaire",
        "Bonjour,\nLe nouveau gestionnaire de notre immeuble, M. Faure, est joignable au 04 91 22 33 44.\nCordialement",
        {},
        {},
    ),
    # temporary addresses and numbers: nothing permanent to change
    (
        "fr",
        "Travaux",
        "Bonjour,\nPendant les travaux, merci d'envoyer le courrier au 3 rue de la Gare, 67000 Strasbourg.\nCordialement",
        {},
        {},
    ),
    (
        "fr",
        "Absence",
        "Bonjour,\nJusqu'à fin août, je suis joignable au 06 52 63 74 85 (numéro provisoire).\nMerci",
        {},
        {},
    ),
    (
        "en",
        "Renovation",
        "Hi,\nDuring the renovation works, please send post to 7 Bridge Street, Chester CH1 1NQ until March.\nThanks",
        {},
        {},
    ),
    (
        "fr",
        "Adresse temporaire",
        "Bonjour,\nAdresse temporaire jusqu'au 30 juin : 11 rue Sainte-Catherine, 33000 Bordeaux.\nMerci",
        {},
        {},
    ),
    (
        "en",
        "Temporary",
        "Hello,\nFor the next two months you can reach me on a temporary number, 07700 900888.\nRegards",
        {},
        {},
    ),
    (
        "fr",
        "Chantier",
        "Bonjour,\nLe temps du chantier, nos bureaux sont installés au 2 place Bellecour, 69002 Lyon. Nous reviendrons ensuite rue de la République.\nCordialement",
        {},
        {},
    ),
    # clean changes in other formats (apply when checks pass)
    (
        "fr",
        "Nouvelle adresse",
        "Bonjour,\nVoici ma nouvelle adresse :\n123 rue Sainte-Catherine Ouest\nMontréal (Québec) H3B 1A7\n\nMerci",
        {A: "123 rue Sainte-Catherine Ouest, Montréal (Québec) H3B 1A7"},
        {"locale": "fr-CA"},
    ),
    (
        "en",
        "New address",
        "Hi,\nOur new address:\n88 Queen Street West\nToronto, ON M5H 2N2\n\nThanks",
        {A: "88 Queen Street West, Toronto, ON M5H 2N2"},
        {"locale": "en-CA"},
    ),
    (
        "en",
        "Moved",
        "Hi,\nMy new address is 4521 Oak Lane, Austin, TX 78704.\nThanks",
        {A: "4521 Oak Lane, Austin, TX 78704"},
        {"locale": "en-US"},
    ),
    (
        "en",
        "Address change",
        "Dear team,\nNew address: Flat 4, 27 Kings Road, London SW3 4RP\nBest wishes",
        {A: "Flat 4, 27 Kings Road, London SW3 4RP"},
        {},
    ),
    (
        "fr",
        "Nouvelle adresse",
        "Bonjour,\nNotre nouvelle adresse : Rue Neuve 45, 1000 Bruxelles\nCordialement",
        {A: "Rue Neuve 45, 1000 Bruxelles"},
        {"locale": "fr-BE"},
    ),
    (
        "fr",
        "Déménagement",
        "Bonjour,\nDésormais notre adresse est : Rue du Marché 12, 1204 Genève\nMeilleures salutations",
        {A: "Rue du Marché 12, 1204 Genève"},
        {"locale": "fr-CH"},
    ),
    (
        "fr",
        "Adresse",
        "Bonjour,\nJe réside désormais au 12 rue Lepic, 75018 Paris depuis lundi.\nMerci",
        {A: "12 rue Lepic, 75018 Paris"},
        {},
    ),
    # addresses without a street number and street word, or with a bad postcode: notes
    (
        "fr",
        "Adresse",
        "Bonjour,\nMa nouvelle adresse : Lieu-dit Les Granges, 24200 Sarlat-la-Canéda\nMerci",
        {A: "Lieu-dit Les Granges, 24200 Sarlat-la-Canéda"},
        {"apply": False},
    ),
    (
        "fr",
        "Boîte postale",
        "Bonjour,\nNouvelle adresse postale : BP 45, 13002 Marseille\nCordialement",
        {A: "BP 45, 13002 Marseille"},
        {"apply": False},
    ),
    (
        "en",
        "Address",
        "Hi,\nOur new address is Riverside House, Manchester M4 5JD.\nThanks",
        {A: "Riverside House, Manchester M4 5JD"},
        {"apply": False},
    ),
    (
        "fr",
        "Adresse",
        "Bonjour,\nMa nouvelle adresse : 8 rue Colbert, 7500 Paris\nMerci",
        {A: "8 rue Colbert, 7500 Paris"},
        {"apply": False},
    ),
    (
        "en",
        "Address",
        "Hi,\nMy new address is 5 Elm Street, Springfield, ZZ 62704.\nThanks",
        {A: "5 Elm Street, Springfield, ZZ 62704"},
        {"locale": "en-US", "apply": False},
    ),
    # phones: invalid, foreign to the region, or a pair with an e-mail
    ("fr", "Numéro", "Bonjour,\nMon nouveau numéro : 06 12 34 56.\nMerci", {}, {}),
    (
        "fr",
        "Numéro",
        "Bonjour,\nMon nouveau numéro est le 08 99 00 00 00.\nMerci",
        {P: "+33899000000"},
        {"apply": False},
    ),
    (
        "fr",
        "Coordonnées",
        "Bonjour,\nMes nouvelles coordonnées : téléphone 06 24 35 46 57, e-mail claire.vidal@gmail.com.\nMerci",
        {P: "+33624354657", E: "claire.vidal@gmail.com"},
        {},
    ),
    (
        "en",
        "Contact details",
        "Hi,\nNew phone: 07700 900246\nNew email: greg.hill@btinternet.com\nThanks",
        {P: "+447700900246", E: "greg.hill@btinternet.com"},
        {},
    ),
    (
        "fr",
        "Tout change",
        "Bonjour,\nJ'ai déménagé. Ma nouvelle adresse : 4 rue du Bac, 75007 Paris. Mon nouveau numéro : 06 77 88 99 00.\nMerci",
        {A: "4 rue du Bac, 75007 Paris", P: "+33677889900"},
        {"apply": False},
    ),
    # e-mails: the sender's own, quoted, an invalid one
    (
        "fr",
        "Mail",
        "Bonjour,\nMerci d'utiliser désormais cette adresse mail : client{n}@exemple.fr\nCordialement",
        {},
        {},
    ),
    (
        "fr",
        "Re: adresse mail",
        "Bonjour,\nC'est noté, merci.\n\nLe 3 avril 2026 à 09:00, Service client <support@exemple.fr> a écrit :\n> Votre nouvelle adresse e-mail est bien nouvelle.adresse@orange.fr ?\n> Cordialement",
        {},
        {},
    ),
    ("en", "Email", "Hi,\nMy new email is jane.doe@@gmail..com, please update.\nThanks", {}, {}),
    (
        "en",
        "New email",
        "Hello,\nPlease note my new e-mail address: k.oneill@eircom.net\nRegards,\nKevin",
        {E: "k.oneill@eircom.net"},
        {},
    ),
    # company names and billing contacts: notes unless stated outright
    (
        "fr",
        "Raison sociale",
        "Bonjour,\nNouvelle raison sociale : Martin Frères SARL\nCordialement",
        {C: "Martin Frères SARL"},
        {},
    ),
    (
        "fr",
        "Société",
        "Bonjour,\nNotre société s'appelle désormais Boulangerie Martin depuis le rachat.\nCordialement",
        {C: "Boulangerie Martin"},
        {"apply": False},
    ),
    (
        "en",
        "Rebrand",
        "Hi,\nWe are now trading as Kestrel Digital from 1 May.\nThanks",
        {C: "Kestrel Digital"},
        {"apply": False},
    ),
    (
        "en",
        "Company name",
        "Hello,\nNew company name: Harbour & Lane Ltd\nRegards",
        {C: "Harbour & Lane Ltd"},
        {},
    ),
    (
        "fr",
        "Facturation",
        "Bonjour,\nLe nouveau contact pour la facturation est Julien Morel à compter du 1er mai.\nMerci",
        {B: "Julien Morel"},
        {"apply": False},
    ),
    ("en", "Billing", "Hi,\nNew billing contact: Rachel Adams\nThanks", {B: "Rachel Adams"}, {}),
]
for lang, subject, body, exp, opts in STRICT:
    add(
        lang, subject, body.replace("{n}", str(len(items) + 1)), exp,
        locale=opts.get("locale"), apply=opts.get("apply"), why="strict policy",
    )  # fmt: skip
# the same clean changes from look-alike and unknown senders: never applied
LOOKALIKE = [
    (
        "fr",
        "Nouvelle adresse",
        "Bonjour,\nMa nouvelle adresse : 6 rue Paradis, 13001 Marseille\nMerci",
        {A: "6 rue Paradis, 13001 Marseille"},
        "spoofed_lookalike",
    ),
    (
        "en",
        "New number",
        "Hi,\nMy new number is 07700 900135.\nThanks",
        {P: "+447700900135"},
        "spoofed_lookalike",
    ),
    (
        "fr",
        "Nouvel e-mail",
        "Bonjour,\nMa nouvelle adresse e-mail : paul.roche@free.fr\nMerci",
        {E: "paul.roche@free.fr"},
        "customer_other_address",
    ),
    (
        "en",
        "Address",
        "Hello,\nOur new address is 21 King Street, Bristol BS1 4EF.\nRegards",
        {A: "21 King Street, Bristol BS1 4EF"},
        "unknown",
    ),
]
for lang, subject, body, exp, rel in LOOKALIKE:
    add(lang, subject, body, exp, rel=rel, why="strict policy: unverified sender")


# ---------------- second strict round: wordings of other writers (requests as questions,
# abbreviations, a recipient or company line, commas and dashes, replace X with Y)
STRICT2 = [
    (
        "en",
        "Address",
        "Hello,\nCould you please change the address on my account to 17 Elm Grove, Leeds LS6 2AP?\nMany thanks,\nRuth",
        {A: "17 Elm Grove, Leeds LS6 2AP"},
        {},
    ),
    (
        "fr",
        "Adresse",
        "Bonjour,\nPourriez-vous mettre à jour mon adresse : 3 rue Mercière, 69002 Lyon ?\nMerci d'avance",
        {A: "3 rue Mercière, 69002 Lyon"},
        {},
    ),
    (
        "fr",
        "Numéro",
        "Bonjour,\nNouveau n° de portable : 06 31 42 53 64\nCordialement",
        {P: "+33631425364"},
        {},
    ),
    (
        "fr",
        "GSM",
        "Bonjour,\nMon nouveau GSM : 0475 12 34 56\nMerci",
        {P: "+32475123456"},
        {"locale": "fr-BE"},
    ),
    (
        "fr",
        "Natel",
        "Bonjour,\nMon nouveau natel : 079 412 56 83\nMeilleures salutations",
        {P: "+41794125683"},
        {"locale": "fr-CH"},
    ),
    (
        "fr",
        "Téléphone",
        "Bonjour,\nMerci de remplacer le 01 42 00 00 01 par le 06 81 92 03 14 sur ma fiche.\nCordialement",
        {P: "+33681920314"},
        {},
    ),
    (
        "en",
        "Phone",
        "Hi,\nPlease replace 0161 496 0000 with 0161 496 0555 on our account.\nThanks",
        {P: "+441614960555"},
        {},
    ),
    (
        "fr",
        "Téléphone",
        "Bonjour,\nMon nouveau numéro de téléphone : +33 (0)6 12 98 34 76\nCordialement",
        {P: "+33612983476"},
        {},
    ),
    (
        "fr",
        "Adresse",
        "Bonjour,\nNouvelle adresse à compter du 1er octobre : 25, rue des Martyrs – 75009 Paris\nCordialement",
        {A: "25, rue des Martyrs – 75009 Paris"},
        {},
    ),
    (
        "fr",
        "Facturation",
        "Bonjour,\nSuite à notre déménagement, merci de modifier l'adresse de facturation :\nSARL Dupont\n14 avenue de la République\n93100 Montreuil\n\nCordialement",
        {A: "14 avenue de la République, 93100 Montreuil"},
        {},
    ),
    (
        "en",
        "Moved",
        "Hi all,\nWe've moved! Our new office is at 45 Deansgate, Manchester M3 2AY.\nCheers,\nTeam Brightside",
        {A: "45 Deansgate, Manchester M3 2AY"},
        {"apply": False},
    ),
    (
        "fr",
        "Déménagement",
        "Bonjour,\nJe vous informe de mon changement d'adresse. J'habite désormais 25 rue Gambetta, 59000 Lille.\nCordialement",
        {A: "25 rue Gambetta, 59000 Lille"},
        {},
    ),
    (
        "fr",
        "Adresse",
        "Bonjour,\nMa nouvelle adresse :\nBâtiment A, 3e étage\n12 avenue de Paris\n78000 Versailles\n\nMerci",
        {A: "Bâtiment A, 3e étage, 12 avenue de Paris, 78000 Versailles"},
        {},
    ),
    (
        "en",
        "Address",
        "Dear Sir/Madam,\n\nPlease be advised that with effect from 1 July our registered address will be:\n\n3rd Floor\n20 Market Street\nLondon\nEC2A 4NE\n\nYours faithfully\nJ. Patel",
        {A: "3rd Floor, 20 Market Street, London, EC2A 4NE"},
        {},
    ),
    (
        "fr",
        "Mail",
        "Bonjour,\nMon adresse mail a changé, c'est désormais h.fabre@laposte.net.\nMerci",
        {E: "h.fabre@laposte.net"},
        {},
    ),
    (
        "en",
        "Email",
        "Hi,\nI no longer use this address - please write to me at tom.reed@fastmail.com from now on.\nTom",
        {E: "tom.reed@fastmail.com"},
        {},
    ),
    (
        "fr",
        "Nom",
        "Bonjour,\nNous avons changé de nom : nous sommes désormais « Alpha Conseil ».\nCordialement",
        {C: "Alpha Conseil"},
        {"apply": False},
    ),
    (
        "fr",
        "Changement",
        "Bonjour,\nVoici mes nouvelles coordonnées :\nMme Isabelle Garnier\n5 place du Marché\n84000 Avignon\nTél. 04 90 11 22 33\nisabelle.garnier@orange.fr\n\nBien cordialement",
        {A: "5 place du Marché, 84000 Avignon", P: "+33490112233", E: "isabelle.garnier@orange.fr"},
        {"apply": False},
    ),
    (
        "en",
        "Details",
        "Hi,\nJust so you know my mobile number is now 07831 234567 and not the one ending 890.\nThanks",
        {P: "+447831234567"},
        {},
    ),
    (
        "fr",
        "Adresse",
        "Bonjour,\nJ'ai bien reçu votre courrier à mon ancienne adresse. Pour la suite, merci d'écrire au 8 impasse des Lilas, 17000 La Rochelle, où j'habite depuis mars.\nCordialement",
        {A: "8 impasse des Lilas, 17000 La Rochelle"},
        {},
    ),
    (
        "fr",
        "Info",
        "Bonjour,\nEst-ce que votre nouvelle adresse est bien le 10 rue de Rivoli, 75004 Paris ? Je voudrais vous renvoyer un colis.\nMerci",
        {},
        {},
    ),
    (
        "en",
        "Question",
        "Hi,\nIs 020 7946 0555 your new phone number? The old one doesn't work.\nThanks",
        {},
        {},
    ),
    (
        "fr",
        "Signature",
        "Bonjour,\nPouvez-vous me rappeler au sujet de ma facture ?\n\nCordialement,\nJulie Masson\nNouvelle adresse : 4 rue Lamartine, 63000 Clermont-Ferrand\nTél. 06 74 85 96 07",
        {},
        {"apply": False},
    ),
    (
        "en",
        "Order",
        "Hi,\nPlease ship order 5512 to my office this time: 2 Canal Street, Nottingham NG1 7EH.\nThanks",
        {},
        {},
    ),
    (
        "fr",
        "Conjoint",
        "Bonjour,\nMon mari a un nouveau numéro : 06 14 25 36 47. Le mien ne change pas.\nMerci",
        {},
        {},
    ),
    (
        "fr",
        "Double",
        "Bonjour,\nNouvelle adresse : 14 rue de la Paix, 75002 Paris.\nAttention, l'adresse de livraison reste 2 rue du Dépôt, 93200 Saint-Denis.\nMerci",
        {A: "14 rue de la Paix, 75002 Paris"},
        {},
    ),
]
for lang, subject, body, exp, opts in STRICT2:
    add(
        lang, subject, body, exp,
        locale=opts.get("locale"), apply=opts.get("apply"), why="strict policy, other wordings",
    )  # fmt: skip


# ---------------- the subject announces the change, the body gives the value bare
STRICT3 = [
    (
        "fr",
        "Changement d'adresse",
        "Bonjour,\n\n12 rue des Tanneurs\n67000 Strasbourg\n\nCordialement,\nLéon Weber",
        {A: "12 rue des Tanneurs, 67000 Strasbourg"},
        {"apply": False},
    ),
    (
        "en",
        "Change of address",
        "Hi,\n\nFlat 2\n33 Mill Road\nCambridge CB1 2AD\n\nThanks,\nAmy",
        {A: "Flat 2, 33 Mill Road, Cambridge CB1 2AD"},
        {"apply": False},
    ),
    (
        "fr",
        "Déménagement",
        "Bonjour,\nVoici : 7 avenue Thiers, 33100 Bordeaux\nMerci",
        {A: "7 avenue Thiers, 33100 Bordeaux"},
        {"apply": False},
    ),
    (
        "fr",
        "Changement d'adresse",
        "Bonjour,\nAncienne : 2 rue Sully, 44000 Nantes\nNouvelle : 9 rue Kervégan, 44000 Nantes\nMerci",
        {A: "9 rue Kervégan, 44000 Nantes"},
        {},
    ),
    (
        "fr",
        "Nouvelle adresse",
        "Bonjour,\nMerci de m'envoyer la facture.\nPaul Martin\n15 rue Paradis\n13001 Marseille",
        {},
        {},
    ),
]
STRICT3 += [
    (
        "fr",
        "Nouveau numéro",
        "Bonjour,\n06 58 47 36 25\nMerci de mettre à jour.\nCordialement",
        {P: "+33658473625"},
        {"apply": False},
    ),
    (
        "en",
        "New email address",
        "Hi,\nit's h.clarke@outlook.com\nThanks",
        {E: "h.clarke@outlook.com"},
        {"apply": False},
    ),
    (
        "fr",
        "Nouveau numéro",
        "Bonjour,\nJe n'arrive pas à joindre le 01 40 00 00 00, votre standard est-il fermé ?\nMerci",
        {},
        {},
    ),
]
for lang, subject, body, exp, opts in STRICT3:
    add(
        lang, subject, body, exp,
        locale=opts.get("locale"), apply=opts.get("apply"), why="subject announces the change",
    )  # fmt: skip


# ---------------- a name line above the street, a value said not to change
STRICT4 = [
    (
        "fr",
        "Adresse",
        "Bonjour,\nMa nouvelle adresse :\nJean Dupont\n12 rue Victor Hugo\n75011 Paris\nMerci",
        {A: "12 rue Victor Hugo, 75011 Paris"},
        {},
    ),
    (
        "fr",
        "Adresse",
        "Bonjour,\nNotre nouvelle adresse :\nBoulangerie Martin\n3 place du Marché\n35000 Rennes\nMerci",
        {A: "3 place du Marché, 35000 Rennes"},
        {},
    ),
    (
        "en",
        "New address",
        "Hello,\nOur new address is:\nHartley & Sons Ltd\n14 Bridge Street\nYork YO1 6DD\n\nThanks",
        {A: "14 Bridge Street, York YO1 6DD"},
        {},
    ),
    (
        "fr",
        "Déménagement",
        "Bonjour, je déménage le 15 mars. Ma nouvelle adresse sera le 4 rue des Fleurs 44000 Nantes. Mon numéro ne change pas : 06 12 34 56 78.\nMerci",
        {A: "4 rue des Fleurs 44000 Nantes"},
        {},
    ),
    (
        "en",
        "Moving",
        "Hi,\nWe're moving: new address 9 Castle Street, Cardiff CF10 1BS. Our phone number doesn't change, still 029 2018 0000.\nThanks",
        {A: "9 Castle Street, Cardiff CF10 1BS"},
        {},
    ),
]
for lang, subject, body, exp, opts in STRICT4:
    add(
        lang, subject, body, exp,
        locale=opts.get("locale"), apply=opts.get("apply"), why="name line, unchanged value",
    )  # fmt: skip


# ---------------- probes of a third round (a details form, invoices sent to, lower-case text)
STRICT5 = [
    (
        "fr",
        "Mise à jour coordonnées",
        "Bonjour Madame,\n\nSuite à notre conversation téléphonique de ce matin, je vous confirme mes nouvelles coordonnées :\n\nAdresse : 27 rue du Faubourg Saint-Antoine, 75011 Paris\nTéléphone : 06 72 83 94 05\nE-mail : l.bonnet@gmail.com\n\nJe reste à votre disposition.\nCordialement,\nLaurent Bonnet",
        {
            A: "27 rue du Faubourg Saint-Antoine, 75011 Paris",
            P: "+33672839405",
            E: "l.bonnet@gmail.com",
        },
        {"apply": False},
    ),
    (
        "fr",
        "RE: Facture 2024-118",
        "Bonjour,\n\nMerci pour votre retour. Par ailleurs, nous avons déménagé : merci d'adresser désormais vos factures au 5 allée Turgot, 31000 Toulouse.\n\nBien cordialement,\nAnne",
        {A: "5 allée Turgot, 31000 Toulouse"},
        {},
    ),
    (
        "en",
        "Account update",
        "Good morning,\n\nI hope this finds you well. I am writing to let you know that I have recently relocated. My new home address is 56 Belmont Road, Bristol BS6 5AT. Could you also update my mobile to 07456 789012?\n\nMany thanks,\nGeorge",
        {A: "56 Belmont Road, Bristol BS6 5AT", P: "+447456789012"},
        {"apply": False},
    ),
    (
        "fr",
        "Changement",
        "Bonjour, j'ai changé de banque et aussi de numéro, le nouveau c'est le 0612345678. Cdt",
        {P: "+33612345678"},
        {},
    ),
    (
        "fr",
        "adresse",
        "bonjour, ma nouvelle adresse c'est 14 bd de la Liberté 59800 lille. merci",
        {A: "14 bd de la Liberté 59800 lille"},
        {},
    ),
    (
        "en",
        "New number",
        "Hi, my new number is 07911 123456 - my old one was 07911 654321. Thanks, Sam",
        {P: "+447911123456"},
        {},
    ),
    (
        "fr",
        "Adresse",
        "Bonjour,\nJe vous signale un changement d'adresse pour notre siège social, désormais situé au 8 boulevard des Italiens, 75009 Paris. Notre établissement de Lyon reste au 3 rue de la Charité, 69002 Lyon.\nCordialement",
        {A: "8 boulevard des Italiens, 75009 Paris"},
        {},
    ),
    (
        "fr",
        "Téléphone",
        "Bonjour,\nVoici mon nouveau numéro de fixe : 02 40 12 34 56, et mon portable reste le 06 12 34 56 78.\nCordialement",
        {P: "+33240123456"},
        {},
    ),
    (
        "fr",
        "Changement de mail",
        "Bonjour,\nà partir d'aujourd'hui merci de m'écrire sur pierre.lambert@proton.me au lieu de pierre.lambert@wanadoo.fr\nMerci",
        {E: "pierre.lambert@proton.me"},
        {},
    ),
    (
        "fr",
        "Adresse",
        "Bonjour,\nVoici ma nouvelle adresse postale :\n\n4, impasse du Moulin\nLieu-dit La Forge\n24200 Sarlat\n\nMerci",
        {A: "4, impasse du Moulin, Lieu-dit La Forge, 24200 Sarlat"},
        {},
    ),
    (
        "en",
        "New address",
        "Hi there,\nJust a quick note to say we moved last week - 12 Orchard Way, Guildford GU1 3AA is our new home.\nCheers",
        {A: "12 Orchard Way, Guildford GU1 3AA"},
        {},
    ),
]
for lang, subject, body, exp, opts in STRICT5:
    add(
        lang, subject, body, exp,
        locale=opts.get("locale"), apply=opts.get("apply"), why="third round probes",
    )  # fmt: skip


# ---------------- old and new in one mail, other forms; temporary and signature look-alikes
STRICT6 = [
    (
        "fr",
        "Déménagement",
        "Bonjour,\nNous quittons le 3 rue de Metz, 31000 Toulouse pour le 22 allée Jean Jaurès, 31000 Toulouse à compter du 1er avril.\nCordialement",
        {A: "22 allée Jean Jaurès, 31000 Toulouse"},
        {},
    ),
    (
        "fr",
        "Adresse",
        "Bonjour,\nNous passons du 3 rue de Metz au 22 allée Jean Jaurès, 31000 Toulouse.\nMerci",
        {A: "22 allée Jean Jaurès, 31000 Toulouse"},
        {},
    ),
    (
        "fr",
        "Numéro",
        "Bonjour,\nMon nouveau numéro fixe : 01 45 67 89 12\nJean Martin\n06 12 34 56 78",
        {P: "+33145678912"},
        {},
    ),
    (
        "fr",
        "Adresse",
        "Bonjour,\nMerci de noter que l'adresse 12 rue Lepic, 75018 Paris n'est plus valable. La nouvelle est 4 rue Caulaincourt, 75018 Paris.\nMerci",
        {A: "4 rue Caulaincourt, 75018 Paris"},
        {},
    ),
    (
        "en",
        "Address",
        "Hi,\nOld: 4 Park Lane, Bath BA1 1AA\nNew: 9 Orchard Close, Bath BA2 4RS\nThanks",
        {A: "9 Orchard Close, Bath BA2 4RS"},
        {},
    ),
    (
        "fr",
        "Adresse",
        "Bonjour,\nVoici ma nouvelle adresse (l'ancienne était le 7 rue Nationale, 37000 Tours) : 14 rue Colbert, 37000 Tours.\nMerci",
        {A: "14 rue Colbert, 37000 Tours"},
        {},
    ),
    (
        "en",
        "Phone",
        "Hi, please update my number from 07911 654321 to 07911 123456. Thanks",
        {P: "+447911123456"},
        {},
    ),
    (
        "fr",
        "Téléphone",
        "Bonjour, merci de changer mon numéro : l'ancien 06 11 22 33 44, le nouveau 06 55 66 77 88.",
        {P: "+33655667788"},
        {},
    ),
    (
        "en",
        "Email",
        "Hello, my email changed from a.b@old.com to a.b@new.com. Thanks",
        {E: "a.b@new.com"},
        {},
    ),
    (
        "fr",
        "Adresse",
        "Bonjour,\nMa mère a déménagé, voici sa nouvelle adresse : 4 rue du Parc, 21000 Dijon. Mon adresse à moi reste la même.\nMerci",
        {},
        {},
    ),
    (
        "fr",
        "Adresse",
        "Bonjour,\nNotre nouvelle adresse est 14 rue de la Paix, 75002 Paris.\n\nCordialement,\nMarc Lévy\nDirecteur\nSociété Lévy & Fils\n8 avenue de l'Opéra, 75001 Paris\nTél. 01 42 00 00 00",
        {A: "14 rue de la Paix, 75002 Paris"},
        {},
    ),
    (
        "fr",
        "Numéro",
        "Bonjour,\nNouveau numéro pour me joindre : 07 81 22 45 90\nPS : le standard de l'entreprise reste au 01 40 00 00 00",
        {P: "+33781224590"},
        {},
    ),
    (
        "fr",
        "Adresse temporaire",
        "Bonjour,\nDu 1er juillet au 31 août, merci d'envoyer mon courrier à ma résidence secondaire : 5 chemin des Dunes, 85100 Les Sables-d'Olonne.\nMerci",
        {},
        {},
    ),
    (
        "en",
        "New address",
        "Hello,\nWhile our office is being refurbished, please send post to 3 Mill Lane, Leeds LS1 5AB.\nThanks",
        {},
        {},
    ),
]
for lang, subject, body, exp, opts in STRICT6:
    add(
        lang, subject, body, exp,
        locale=opts.get("locale"), apply=opts.get("apply"), why="old and new, fourth round",
    )  # fmt: skip


# ---------------- North America, upper-case blocks, abbreviations ('boul.', 'r.')
STRICT7 = [
    (
        "en",
        "Address change",
        "Hi,\nEffective June 1, our new mailing address will be 2200 Market St, Suite 300, San Francisco, CA 94114.\nThanks,\nDana",
        {A: "2200 Market St, Suite 300, San Francisco, CA 94114"},
        {"locale": "en-US"},
    ),
    (
        "en",
        "New address",
        "Hello,\nPlease note we have moved to 1450 boul. René-Lévesque O., Montréal, QC H3G 1T4.\nRegards",
        {A: "1450 boul. René-Lévesque O., Montréal, QC H3G 1T4"},
        {"locale": "en-CA"},
    ),
    (
        "en",
        "Phone",
        "Hi,\nmy cell number changed, it is now (604) 555-0199. Please update.\nThanks",
        {P: "+16045550199"},
        {"locale": "en-CA"},
    ),
    (
        "fr",
        "Changement",
        "Bonjour,\nMon adresse e-mail professionnelle change : j.doe@newco.fr (l'ancienne j.doe@oldco.fr sera fermée fin mars).\nMerci",
        {E: "j.doe@newco.fr"},
        {},
    ),
    (
        "en",
        "Moving",
        "Hi,\nWe are moving on 15 March. From then on, our address is 8 Quay Street, Bristol BS1 4DB.\nTa",
        {A: "8 Quay Street, Bristol BS1 4DB"},
        {},
    ),
    (
        "fr",
        "Adresse",
        "Bonjour,\n\nVeuillez prendre note de notre nouvelle adresse à compter du 1er janvier 2027 :\n\nCABINET DURAND\n15 AVENUE DE LA GARE\n38000 GRENOBLE\n\nCordialement",
        {A: "15 AVENUE DE LA GARE, 38000 GRENOBLE"},
        {},
    ),
    (
        "fr",
        "Adresse",
        "Bonjour,\nnouvelle adresse : 3 r. des Carmes, 45000 Orléans\nmerci",
        {A: "3 r. des Carmes, 45000 Orléans"},
        {},
    ),
]
for lang, subject, body, exp, opts in STRICT7:
    add(
        lang, subject, body, exp,
        locale=opts.get("locale"), apply=opts.get("apply"), why="fifth round probes",
    )  # fmt: skip

out = Path(sys.argv[1])
out.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
print(len(items))
