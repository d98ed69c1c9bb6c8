"""Language detection on short business mails."""

from __future__ import annotations

import pytest

from bot.mail.language import detect_language

FRENCH = [
    "Facture impayée\nBonjour, je n'ai toujours pas reçu ma facture de février.",
    "Demande de remboursement\nMerci de me rembourser la commande 4521, le colis est abîmé.",
    "Bonjour, pouvez-vous me rappeler au sujet de mon contrat ?",
    "Changement d'adresse\nVeuillez noter ma nouvelle adresse à partir du 1er avril.",
    "Je souhaite résilier mon abonnement à la fin du mois.",
    "Relance\nJe vous ai écrit la semaine dernière et je n'ai pas eu de réponse.",
    "Problème de connexion\nImpossible d'accéder à mon compte depuis hier.",
    "Bonjour Madame, le prélèvement a été effectué deux fois ce mois-ci.",
    "Livraison en retard\nMa commande devait arriver lundi, où en est-elle ?",
    "Merci pour votre aide, tout fonctionne maintenant.",
    "Pourriez-vous m'envoyer un devis pour 20 licences ?",
    "RE: Dossier 2025-118\nLe document signé est en pièce jointe.",
    "Urgent : notre serveur est bloqué et nos clients ne peuvent plus commander.",
    "Bonjour, quel est le délai de traitement de ma demande ?",
    "Erreur sur la facture\nLe montant ne correspond pas au prix du devis.",
    "Mot de passe oublié\nJe ne reçois pas l'e-mail de réinitialisation.",
    "Nous avons bien reçu le virement, merci de confirmer la commande.",
    "Bonjour, j'aimerais modifier le rendez-vous prévu jeudi.",
    "Est-ce que le produit est encore sous garantie ?",
    "Annulation\nMerci d'annuler ma commande passée ce matin.",
    "Colis non reçu\nLe suivi indique livré mais je n'ai rien reçu.",
    "Pouvez-vous mettre à jour mes coordonnées bancaires ?",
]

ENGLISH = [
    "Unpaid invoice\nHello, I still have not received my invoice for February.",
    "Refund request\nPlease refund order 4521, the parcel arrived damaged.",
    "Hi, could you call me back about my contract?",
    "Change of address\nPlease note my new address from April 1st.",
    "I would like to cancel my subscription at the end of the month.",
    "Follow-up\nI wrote to you last week and have not had an answer yet.",
    "Login issue\nI cannot access my account since yesterday.",
    "Dear Sir, the payment was taken twice this month.",
    "Late delivery\nMy order was due on Monday, where is it?",
    "Thanks for your help, everything works now.",
    "Could you send me a quote for 20 licences?",
    "RE: Case 2025-118\nThe signed document is attached.",
    "Urgent: our server is down and our customers cannot order anymore.",
    "Hello, how long does it take to process my request?",
    "Wrong invoice\nThe amount does not match the price in the quote.",
    "Forgotten password\nI do not get the reset email.",
    "We have received the transfer, please confirm the order.",
    "Hi, I'd like to move the appointment planned for Thursday.",
    "Is the product still under warranty?",
    "Cancellation\nPlease cancel the order I placed this morning.",
    "Parcel not received\nTracking says delivered but nothing arrived.",
    "Can you update my bank details please?",
]


@pytest.mark.parametrize("text", FRENCH)
def test_short_french_business_mails_are_french(text: str) -> None:
    assert detect_language(text) == "fr"


@pytest.mark.parametrize("text", ENGLISH)
def test_short_english_business_mails_are_english(text: str) -> None:
    assert detect_language(text) == "en"


@pytest.mark.parametrize("text", ["", "   ", "OK", "12345", "Ref: INV-2025-001", "Merci", "Thanks"])
def test_too_little_signal_gives_none(text: str) -> None:
    assert detect_language(text) is None


def test_decomposed_accents_are_recognised() -> None:
    # NFD text (accents as combining marks), as some Mac clients send it.
    assert detect_language("Probl\u0065\u0300me de re\u0301ception de la facture") == "fr"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hola, necesito la factura de mi pedido, gracias.", "es"),
        ("Sehr geehrte Damen und Herren, bitte senden Sie mir die Rechnung.", "de"),
    ],
)
def test_other_languages_are_not_mistaken_for_french_or_english(text: str, expected: str) -> None:
    assert detect_language(text) == expected
