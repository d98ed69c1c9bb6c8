"""Write bench/data/grouping-dev3.jsonl: hand-written FR/EN scenarios of one kind (issue 10.5).

Usage: python3 bench/make_grouping_dev3.py [OUT.jsonl]

One sender writes about two different problems of one category within days (fresh subjects,
no reply headers), or two colleagues write from one shared mailbox about different matters:
nothing specific (a number, a site, a reference) says they are one matter, and they must stay
apart. Beside them, the true chases that must still join: a fresh-subject chase of the same
matter, a reworded repeat, a bare "any update?" from a contact with one open case, and a bare
chase from a contact with two (labelled with the case the sender meant; crmbot does not guess
it). Written for crmbot's own checks; never the frozen evaluation corpus.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

PARIS = timezone(timedelta(hours=1))
LONDON = UTC
OUT = Path(__file__).resolve().parent / "data" / "grouping-dev3.jsonl"

# (conversation, hours after the scenario's start, situation, subject, body); per scenario a
# sender (name, address, timezone) and a start. A message may name another sender (a
# colleague on the same mailbox) as a sixth item.
Message = tuple[Any, ...]
SCENARIOS: list[dict[str, Any]] = [
    {
        "who": ("Nathalie Perrin", "nathalie.perrin@example.fr", PARIS),
        "messages": [
            (
                "G01",
                0,
                "origin",
                "Question sur ma facture",
                "Bonjour,\nJe ne comprends pas la ligne « contribution tarifaire d'acheminement » "
                "sur ma dernière facture. À quoi correspond-elle ?\nMerci,\nNathalie Perrin",
            ),
            (
                "G02",
                50,
                "two_problems_same_category",
                "Ma facture",
                "Bonjour,\nPourriez-vous m'envoyer désormais ma facture par courrier papier "
                "plutôt que par mail ? Je n'arrive pas à l'ouvrir sur mon téléphone.\n"
                "Nathalie Perrin",
            ),
            (
                "G01",
                98,
                "chase_fresh_subject",
                "Contribution tarifaire",
                "Bonjour,\nJe n'ai pas eu de réponse sur la contribution tarifaire "
                "d'acheminement qui apparaît sur ma facture. Pouvez-vous m'expliquer ?\n"
                "Nathalie Perrin",
            ),
        ],
    },
    {
        "who": ("Graham Hughes", "graham.hughes@example.com", LONDON),
        "messages": [
            (
                "G03",
                0,
                "origin",
                "Question about my bill",
                "Hello,\nWhy has my monthly payment gone up from 45 to 62 pounds? Nothing has "
                "changed in the way we use energy.\nRegards,\nGraham Hughes",
            ),
            (
                "G04",
                30,
                "two_problems_same_category",
                "Bill query",
                "Hello,\nCan I get my bill posted to me on paper instead of by email? My "
                "email provider keeps putting your bills in spam.\nRegards,\nGraham Hughes",
            ),
            (
                "G03",
                80,
                "chase_fresh_subject",
                "Monthly payment increase",
                "Hello,\nI am still waiting for an explanation of the increase of my monthly "
                "payment to 62 pounds.\nGraham Hughes",
            ),
        ],
    },
    {
        "who": ("Stéphane Mercier", "s.mercier@example.fr", PARIS),
        "messages": [
            (
                "G05",
                0,
                "origin",
                "Box en panne",
                "Bonjour,\nMa box internet ne s'allume plus depuis l'orage de dimanche, le "
                "voyant reste éteint même sur une autre prise.\nStéphane Mercier",
            ),
            (
                "G06",
                26,
                "two_problems_same_category",
                "Connexion très lente",
                "Bonjour,\nLa connexion internet est très lente dans notre maison de Gap : "
                "2 Mb/s au lieu de 50 le soir, les pages ne se chargent plus.\n"
                "Stéphane Mercier",
            ),
            (
                "G05",
                49,
                "chase_fresh_subject",
                "Box toujours éteinte",
                "Bonjour,\nLa box est toujours en panne, aucun voyant ne s'allume. Quand "
                "pouvez-vous m'envoyer une box de remplacement ?\nStéphane Mercier",
            ),
        ],
    },
    {
        "who": ("Helen Price", "helen.price@example.com", LONDON),
        "messages": [
            (
                "G07",
                0,
                "origin",
                "Modem not working",
                "Hi,\nMy modem will not power on since yesterday, all the lights stay off "
                "even with another plug.\nHelen",
            ),
            (
                "G08",
                40,
                "two_problems_same_category",
                "Slow internet at my mother's flat",
                "Hi,\nThe internet at my mother's flat, 3 Park Lane, Leeds, is very slow in "
                "the evenings, web pages take ages to load.\nHelen Price",
            ),
            (
                "G07",
                70,
                "chase_fresh_subject",
                "Replacement modem?",
                "Hi,\nThe modem is still dead. Can you send me a replacement modem?\nHelen",
            ),
        ],
    },
    {
        "who": ("Fabrice Lemoine", "fabrice.lemoine@example.fr", PARIS),
        "messages": [
            (
                "G09",
                0,
                "origin",
                "Attestation",
                "Bonjour,\nPourriez-vous m'envoyer une attestation de contrat ? Mon futur "
                "propriétaire la demande pour mon dossier de location.\nFabrice Lemoine",
            ),
            (
                "G10",
                45,
                "two_problems_same_category",
                "Date de prélèvement",
                "Bonjour,\nÀ quelle date sera prélevée ma prochaine mensualité ? Je dois "
                "prévoir l'argent sur mon compte.\nFabrice Lemoine",
            ),
        ],
    },
    {
        "who": ("Laura Bennett", "laura.bennett@example.com", LONDON),
        "messages": [
            (
                "G11",
                0,
                "origin",
                "Certificate request",
                "Hello,\nCould you send me a certificate confirming my contract with you? My "
                "new landlord is asking for it.\nLaura Bennett",
            ),
            (
                "G12",
                28,
                "two_problems_same_category",
                "Direct debit date",
                "Hello,\nOn which date will my next direct debit be taken? I need to be sure "
                "the money is on my account.\nLaura Bennett",
            ),
            ("G11", 75, "bare_chase_two_cases", "Any update?", "Hi, any update?\nLaura"),
        ],
    },
    {
        "who": ("Vincent Roche", "vincent.roche@example.fr", PARIS),
        "messages": [
            (
                "G13",
                0,
                "origin",
                "Paiement non pris en compte",
                "Bonjour,\nJ'ai payé ma facture par carte le 3 novembre mais le paiement "
                "n'apparaît pas dans mon espace client, qui indique un solde à régler.\n"
                "Vincent Roche",
            ),
            (
                "G14",
                52,
                "two_problems_same_category",
                "Factures",
                "Bonjour,\nEst-il possible de recevoir mes factures à une autre adresse mail, "
                "celle de mon comptable ?\nVincent Roche",
            ),
            (
                "G13",
                96,
                "chase_fresh_subject",
                "Paiement par carte du 3 novembre",
                "Bonjour,\nMon espace client affiche toujours un solde à régler alors que "
                "j'ai payé par carte le 3 novembre. Merci de vérifier.\nVincent Roche",
            ),
        ],
    },
    {
        "who": ("Owen Marsh", "owen.marsh@example.com", LONDON),
        "messages": [
            (
                "G15",
                0,
                "origin",
                "Meter reading not received",
                "Hello,\nI submitted my meter reading online on Monday but the website says no "
                "reading was received.\nOwen Marsh",
            ),
            (
                "G16",
                35,
                "two_problems_same_category",
                "Meter cupboard",
                "Hello,\nThe door of the meter cupboard outside is broken and will not lock. "
                "Who is responsible for repairing it?\nOwen Marsh",
            ),
        ],
    },
    {
        "who": ("Isabelle Fournier", "isabelle.fournier@example.fr", PARIS),
        "messages": [
            (
                "G17",
                0,
                "origin",
                "Chauffe-eau",
                "Bonjour,\nMon chauffe-eau ne chauffe plus depuis hier soir, l'eau reste "
                "froide.\nIsabelle Fournier",
            ),
            (
                "G18",
                20,
                "two_problems_same_category",
                "Disjoncteur",
                "Bonjour,\nLe disjoncteur saute toujours dès que je lance le four et le "
                "lave-linge en même temps. Faut-il augmenter la puissance ?\nIsabelle Fournier",
            ),
        ],
    },
    {
        "who": ("Peter Walsh", "peter.walsh@example.com", LONDON),
        "messages": [
            (
                "G19",
                0,
                "origin",
                "Boiler not heating",
                "Hello,\nMy boiler stopped heating this morning, the radiators are cold.\n"
                "Peter Walsh",
            ),
            (
                "G20",
                27,
                "two_problems_same_category",
                "Thermostat",
                "Hello,\nThe thermostat screen is still blank after I changed the batteries. "
                "Is there a reset button?\nPeter Walsh",
            ),
            (
                "G19",
                50,
                "chase_fresh_subject",
                "Radiators still cold",
                "Hello,\nThe boiler is still not heating and the radiators are cold. When can "
                "an engineer come?\nPeter",
            ),
        ],
    },
    {
        "who": ("Martine Gauthier", "martine.gauthier@example.fr", PARIS),
        "messages": [
            (
                "G21",
                0,
                "origin",
                "Remboursement",
                "Bonjour,\nJ'ai résilié mon contrat le mois dernier et j'attends le "
                "remboursement de mon trop-perçu de 84 €.\nMartine Gauthier",
            ),
            (
                "G22",
                70,
                "two_problems_same_category",
                "Facture de clôture",
                "Bonjour,\nJe n'ai pas reçu ma facture de clôture, pouvez-vous me l'envoyer "
                "pour mes impôts ?\nMartine Gauthier",
            ),
            (
                "G21",
                120,
                "chase_fresh_subject",
                "Trop-perçu",
                "Bonjour,\nToujours pas de remboursement de mon trop-perçu de 84 €, pouvez-"
                "vous me dire quand il sera versé ?\nMartine Gauthier",
            ),
        ],
    },
    {
        "who": ("Chris Doyle", "chris.doyle@example.com", LONDON),
        "messages": [
            (
                "G23",
                0,
                "origin",
                "Refund after switching",
                "Hi,\nI switched supplier last month and I am still owed a credit of 84 GBP "
                "on my account. When will you refund it?\nChris Doyle",
            ),
            (
                "G24",
                45,
                "two_problems_same_category",
                "Final bill",
                "Hi,\nI never received my final bill after switching. Could you email it?\n"
                "Chris Doyle",
            ),
        ],
    },
    {
        "who": ("Accueil Garage Dupont", "accueil@garage-dupont.example", PARIS),
        "messages": [
            (
                "G25",
                0,
                "origin",
                "Facture d'électricité de l'atelier",
                "Bonjour,\nLa facture d'électricité de l'atelier a doublé ce mois-ci sans "
                "raison, pouvez-vous vérifier le relevé ?\nJérôme Dupont\nGarage Dupont",
                "Jérôme Dupont",
            ),
            (
                "G26",
                22,
                "colleague_other_matter",
                "Facture",
                "Bonjour,\nPouvez-vous nous envoyer un duplicata de la facture de septembre ? "
                "Le comptable ne la trouve pas.\nSandrine Colin, comptabilité\nGarage Dupont",
                "Sandrine Colin",
            ),
            (
                "G25",
                60,
                "bare_chase_two_cases",
                "Des nouvelles ?",
                "Bonjour, des nouvelles ?\nJérôme Dupont",
                "Jérôme Dupont",
            ),
        ],
    },
    {
        "who": ("Office Brightwell Dental", "office@brightwell-dental.example", LONDON),
        "messages": [
            (
                "G27",
                0,
                "origin",
                "Power keeps tripping",
                "Hello,\nThe power in the surgery keeps tripping every afternoon when the "
                "compressor starts.\nAnna Kowalski\nPractice manager",
                "Anna Kowalski",
            ),
            (
                "G28",
                24,
                "colleague_other_matter",
                "Power",
                "Hello,\nWe would like a quote to add a second power socket circuit in the "
                "waiting room.\nTom Reid\nBrightwell Dental",
                "Tom Reid",
            ),
            (
                "G27",
                50,
                "chase_fresh_subject",
                "Tripping again",
                "Hello,\nThe power tripped again this afternoon when the compressor started. "
                "Can someone come?\nAnna Kowalski",
                "Anna Kowalski",
            ),
        ],
    },
    {
        "who": ("Contact Boulangerie Roux", "contact@boulangerie-roux.example", PARIS),
        "messages": [
            (
                "G29",
                0,
                "origin",
                "Problème de prélèvement",
                "Bonjour,\nLe prélèvement de novembre a été rejeté par la banque, pouvez-vous "
                "le représenter ?\nMarc Roux",
                "Marc Roux",
            ),
            (
                "G30",
                30,
                "colleague_other_matter",
                "Prélèvement",
                "Bonjour,\nNous souhaitons changer la date de prélèvement au 15 du mois à "
                "partir de janvier.\nÉlise Roux, gérante",
                "Élise Roux",
            ),
        ],
    },
    {
        "who": ("Camille Bertin", "camille.bertin@example.fr", PARIS),
        "messages": [
            (
                "G31",
                0,
                "origin",
                "Fuite au compteur d'eau",
                "Bonjour,\nIl y a une fuite au niveau du compteur d'eau dans la cave, le sol "
                "est mouillé depuis ce matin.\nCamille Bertin",
            ),
            (
                "G31",
                30,
                "reworded_repeat",
                "Compteur d'eau qui fuit",
                "Bonjour,\nLe compteur d'eau de la cave fuit, il y a de l'eau par terre. "
                "Pouvez-vous envoyer quelqu'un ?\nCamille Bertin",
            ),
            (
                "G31",
                75,
                "bare_chase",
                "Relance",
                "Bonjour, je me permets de vous relancer.\nCamille Bertin",
            ),
        ],
    },
    {
        "who": ("Megan Lloyd", "megan.lloyd@example.com", LONDON),
        "messages": [
            (
                "G32",
                0,
                "origin",
                "Overcharged for standing charge",
                "Hello,\nMy latest bill shows a standing charge of 60p a day, but my tariff "
                "says 45p. Please correct it.\nMegan Lloyd",
            ),
            (
                "G32",
                60,
                "chase_fresh_subject",
                "Standing charge",
                "Hi,\nStill no correction of the standing charge: it should be 45p a day, "
                "not 60p.\nMegan",
            ),
            ("G32", 100, "bare_chase", "Any news?", "Hi, any news?\nMegan"),
        ],
    },
    {
        "who": ("Antoine Vidal", "antoine.vidal@example.fr", PARIS),
        "messages": [
            (
                "G33",
                0,
                "origin",
                "Demande de mensualisation",
                "Bonjour,\nJe souhaite passer au paiement mensuel de mes factures à partir "
                "de janvier.\nAntoine Vidal",
            ),
            (
                "G34",
                30,
                "two_problems_same_category",
                "Remboursement d'un avoir",
                "Bonjour,\nVous m'avez envoyé un avoir le mois dernier mais je n'ai pas été "
                "remboursé sur mon compte.\nAntoine Vidal",
            ),
            (
                "G34",
                78,
                "bare_chase_two_cases",
                "Des nouvelles ?",
                "Bonjour, avez-vous des nouvelles ?\nAntoine Vidal",
            ),
        ],
    },
    {
        "who": ("Gilles Barbier", "gilles.barbier@example.fr", PARIS),
        "messages": [
            (
                "G35",
                0,
                "origin",
                "Erreur sur ma facture",
                "Bonjour,\nMa facture de novembre comporte une erreur : l'index du compteur "
                "utilisé est faux, bien plus élevé que mon relevé.\nGilles Barbier",
            ),
            (
                "G36",
                70,
                "two_problems_same_category",
                "Erreur sur ma facture",
                "Bonjour,\nMa facture comporte une erreur : l'abonnement est facturé deux "
                "fois ce mois-ci.\nGilles Barbier",
            ),
            (
                "G35",
                100,
                "chase_fresh_subject",
                "Index faux",
                "Bonjour,\nJe n'ai toujours pas de correction de l'index du compteur sur ma "
                "facture de novembre.\nGilles Barbier",
            ),
        ],
    },
    {
        "who": ("Rosie Turner", "rosie.turner@example.com", LONDON),
        "messages": [
            (
                "G37",
                0,
                "origin",
                "Problem with my bill",
                "Hi,\nMy bill is wrong: you charged me for gas but I only have an electricity "
                "contract with you.\nRosie Turner",
            ),
            (
                "G38",
                50,
                "two_problems_same_category",
                "Problem with my bill",
                "Hi,\nMy bill is wrong: the discount for paying by direct debit is missing "
                "this month.\nRosie Turner",
            ),
        ],
    },
    {
        "who": ("Julien Masson", "julien.masson@example.fr", PARIS),
        "messages": [
            (
                "G39",
                0,
                "origin",
                "Internet coupé",
                "Bonjour,\nPlus d'internet depuis ce matin à la maison, la box clignote en "
                "rouge.\nJulien Masson",
            ),
            (
                "G39",
                28,
                "chase_fresh_subject",
                "Toujours pas d'internet",
                "Bonjour,\nToujours pas d'internet, la box clignote encore en rouge.\n"
                "Julien Masson",
            ),
            (
                "G40",
                96,
                "two_problems_same_category",
                "Internet coupé",
                "Bonjour,\nPlus d'internet au cabinet de Vienne depuis midi, le téléphone fixe "
                "ne fonctionne pas non plus.\nJulien Masson",
            ),
        ],
    },
    {
        "who": ("Aisha Khan", "aisha.khan@example.com", LONDON),
        "messages": [
            (
                "G41",
                0,
                "origin",
                "Online account problem",
                "Hello,\nI cannot log in to my online account, it says my password is wrong.\n"
                "Aisha Khan",
            ),
            (
                "G42",
                48,
                "two_problems_same_category",
                "Online account",
                "Hello,\nMy online account does not show my latest payment of 75 GBP.\nAisha Khan",
            ),
        ],
    },
    {
        "who": ("Denis Carpentier", "denis.carpentier@example.fr", PARIS),
        "messages": [
            (
                "G43",
                0,
                "origin",
                "Prélèvement",
                "Bonjour,\nMon prélèvement de décembre a été fait deux fois.\nDenis Carpentier",
            ),
            (
                "G44",
                54,
                "two_problems_same_category",
                "Prélèvement",
                "Bonjour,\nJe voudrais changer de banque pour le prélèvement, voici mon "
                "nouveau RIB.\nDenis Carpentier",
            ),
        ],
    },
    {
        "who": ("Ian Foster", "ian.foster@example.com", LONDON),
        "messages": [
            (
                "G45",
                0,
                "origin",
                "Payment",
                "Hi,\nMy payment for December was taken twice.\nIan Foster",
            ),
            (
                "G46",
                40,
                "two_problems_same_category",
                "Payment",
                "Hi,\nI would like my payment to be taken from my new bank from January.\n"
                "Ian Foster",
            ),
        ],
    },
    {
        "who": ("Garage Dupont", "contact@garage-dupont.example", PARIS),
        "messages": [
            (
                "G47",
                0,
                "origin",
                "Facture",
                "Bonjour,\nLa facture de l'atelier est trop élevée ce mois-ci, pouvez-vous "
                "vérifier le relevé ?\nJérôme Dupont\nGarage Dupont",
            ),
            (
                "G48",
                26,
                "colleague_other_matter",
                "Facture",
                "Bonjour,\nPouvez-vous envoyer le duplicata de la facture de septembre à "
                "notre comptable ?\nSandrine Colin, comptabilité\nGarage Dupont",
            ),
        ],
    },
    {
        "who": ("Harbour Cafe", "hello@harbour-cafe.example", LONDON),
        "messages": [
            (
                "G49",
                0,
                "origin",
                "Card machine",
                "Hi,\nOur card machine keeps losing the connection since this morning.\n"
                "Sam, Harbour Cafe",
            ),
            (
                "G50",
                30,
                "colleague_other_matter",
                "Card machine",
                "Hi,\nCan we order a second card machine for the terrace?\n"
                "Lucy, manager, Harbour Cafe",
            ),
        ],
    },
    {
        "who": ("Sylvie Renard", "sylvie.renard@example.fr", PARIS),
        "messages": [
            (
                "G51",
                0,
                "origin",
                "Augmentation de ma mensualité",
                "Bonjour,\nJe constate sur ma facture de novembre que ma mensualité passe de 58 "
                "à 91 euros à partir de décembre. Ma consommation n'a pourtant pas changé et "
                "mon espace client n'explique rien. Pouvez-vous me justifier ce nouveau montant "
                "avant le prochain prélèvement sur mon compte ?\nBien cordialement,\n"
                "Sylvie Renard\n12 rue des Lilas, 44000 Nantes\nTél. 06 12 34 56 78",
            ),
            (
                "G52",
                48,
                "two_problems_same_category",
                "Paiement de ma facture",
                "Bonjour,\nJe souhaite arrêter le prélèvement automatique sur mon compte et "
                "payer désormais chaque facture par virement. Pouvez-vous m'indiquer la marche "
                "à suivre dans mon espace client et le RIB à utiliser pour le montant de "
                "novembre ?\nBien cordialement,\nSylvie Renard\n12 rue des Lilas, 44000 Nantes\n"
                "Tél. 06 12 34 56 78",
            ),
            (
                "G51",
                90,
                "chase_fresh_subject",
                "Mensualité à 91 euros",
                "Bonjour,\nToujours pas d'explication sur le passage de ma mensualité de 58 à 91 "
                "euros. Merci de me répondre avant le prélèvement.\nSylvie Renard",
            ),
        ],
    },
    {
        "who": ("Hervé Lucas", "herve.lucas@example.fr", PARIS),
        "messages": [
            (
                "G53",
                0,
                "origin",
                "Erreur sur ma facture",
                "Bonjour,\nMa facture de novembre est de 236 € au lieu de 74 € habituellement, "
                "il doit y avoir une erreur de relevé.\nHervé Lucas",
            ),
            (
                "G54",
                60,
                "two_problems_same_category",
                "Facture",
                "Bonjour,\nJe n'ai toujours pas reçu ma facture de décembre.\nHervé Lucas",
            ),
        ],
    },
    {
        "who": ("Nina Hart", "nina.hart@example.com", LONDON),
        "messages": [
            (
                "G55",
                0,
                "origin",
                "My November bill",
                "Hello,\nMy November bill charges the standing charge twice for the same days.\n"
                "Best regards,\nNina Hart",
            ),
            (
                "G56",
                40,
                "two_problems_same_category",
                "November bill",
                "Hello,\nCould you tell me on which date my November bill will be taken by "
                "direct debit?\nBest regards,\nNina Hart",
            ),
        ],
    },
    {
        "who": ("Paul Girard", "paul.girard@example.fr", PARIS),
        "messages": [
            (
                "G57",
                0,
                "origin",
                "Date de prélèvement",
                "Bonjour,\nÀ quelle date sera prélevée ma prochaine mensualité ?\nPaul Girard",
            ),
            (
                "G58",
                50,
                "two_problems_same_category",
                "Attestation",
                "Bonjour,\nAvez-vous pu m'envoyer une attestation de domicile pour mon dossier "
                "de location ?\nPaul Girard",
            ),
        ],
    },
    {
        "who": ("Emma Stone", "emma.stone@example.com", LONDON),
        "messages": [
            (
                "G59",
                0,
                "origin",
                "Direct debit date",
                "Hello,\nWhen will my next direct debit be taken?\nEmma Stone",
            ),
            (
                "G60",
                30,
                "two_problems_same_category",
                "Letter",
                "Hello,\nJust checking: can you post me a letter confirming my address for my "
                "bank?\nEmma Stone",
            ),
            ("G59", 60, "bare_chase", "Any news?", "Hi, any news?\nEmma"),
        ],
    },
]


def build() -> list[dict[str, Any]]:
    """The scenarios' messages, as bench_grouping.py reads them."""
    out: list[dict[str, Any]] = []
    start = datetime(2026, 11, 30, 8, 0)
    for s, scenario in enumerate(SCENARIOS):
        name, email, tz = scenario["who"]
        t0 = start.replace(tzinfo=tz) + timedelta(hours=3 * s)
        domain = email.split("@")[1]
        for n, message in enumerate(scenario["messages"]):
            conv, hours, situation, subject, body = message[:5]
            sender = message[5] if len(message) > 5 else name
            out.append(
                {
                    "id": f"g{len(out) + 1:03d}",
                    "conversation": conv,
                    "also_relates_to": [],
                    "mailbox": "support",
                    "message_id": f"{conv.lower()}-{n}@{domain}",
                    "in_reply_to": None,
                    "references": [],
                    "date": (t0 + timedelta(hours=hours)).isoformat(),
                    "from_name": sender,
                    "from_email": email,
                    "to": "support@acme-energie.example",
                    "cc": [],
                    "subject": subject,
                    "body": body,
                    "lang": "fr" if tz is PARIS else "en",
                    "situation": situation,
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    """Write the scenarios."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else OUT
    items = build()
    path.write_text(
        "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8"
    )
    print(f"{len(items)} messages, {len({i['conversation'] for i in items})} conversations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
