"""Grouping that catches real chases, end to end from Maildirs to cases, in French and English.

Each scenario is one that was split (or merged) wrongly before: chases with fresh subjects,
"any update?" mails, replies whose headers were stripped, a reply joining two cases, namesakes
at two domains, one person's two topics, a case waiting on the customer.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app import rules_provider
from bot.status import OPEN_STATUSES, CaseStatus, is_open
from bot.store import Store
from bot.store.audit import trail
from bot.store.rows import update_case
from bot.topic import is_status_chase, strip_reply_prefix, subject_key, topic_of
from tests.helpers.grouping import KARIM, RACHEL, T0
from tests.helpers.grouping import all_cases as _cases
from tests.helpers.grouping import run_cases as _run
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    return make_maildir(tmp_path / "inbox")


def _msg(sender: str, subject: str, body: str, hours: float, **kw: object) -> bytes:
    return make_message(
        sender=sender, subject=subject, body=body, date=T0 + timedelta(hours=hours), **kw
    )


# -- a customer chasing three times over a week, fresh subjects, no reply headers


def test_three_french_chases_with_fresh_subjects_over_a_week_are_one_case(
    store: Store, store_url: str, inbox: Path
) -> None:
    messages = [
        _msg(
            KARIM,
            "Double prélèvement sur mon compte",
            "Bonjour, vous avez prélevé deux fois ma mensualité de novembre (2 x 84,50 euros) "
            "sur mon compte. Merci de me rembourser le second prélèvement.\nKarim Benali",
            0,
        ),
        _msg(
            KARIM,
            "Remboursement du prélèvement en double",
            "Bonjour, je n'ai toujours pas de nouvelles pour le prélèvement en double de "
            "novembre (84,50 euros prélevés deux fois). Pouvez-vous me rembourser ?",
            48,
        ),
        _msg(
            KARIM,
            "Mensualité prélevée deux fois - 2e relance",
            "Bonjour, deuxième relance : ma mensualité de novembre a été prélevée deux fois "
            "et je ne suis toujours pas remboursé.",
            96,
        ),
        _msg(
            KARIM,
            "Toujours rien !!",
            "Une semaine que j'attends le remboursement du double prélèvement de novembre.",
            160,
        ),
    ]
    (case,) = _run(store, store_url, inbox, messages)
    assert (case["request_count"], case["follow_up_count"]) == (4, 3)


def test_three_english_chases_with_fresh_subjects_over_a_week_are_one_case(
    store: Store, store_url: str, inbox: Path
) -> None:
    messages = [
        _msg(
            RACHEL,
            "Deposit refund after moving out",
            "Hello, I closed my account on 31 October when I moved out and I am still owed "
            "my security deposit of 150 pounds. Please refund it to my bank account.",
            0,
        ),
        _msg(
            RACHEL,
            "Where is my deposit?",
            "Hi, I wrote on Monday about the refund of my 150 pound security deposit. "
            "Still nothing has arrived.",
            50,
        ),
        _msg(
            RACHEL,
            "Second reminder: security deposit",
            "This is my second reminder about my security deposit refund (150 pounds).",
            100,
        ),
        _msg(
            RACHEL,
            "Unacceptable",
            "A week later and still no deposit refund. Please refund the deposit today.",
            165,
        ),
    ]
    (case,) = _run(store, store_url, inbox, messages)
    assert (case["request_count"], case["follow_up_count"]) == (4, 3)


# -- a bare "any update?" from a contact with exactly one open case


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Des nouvelles ?", "Bonjour, avez-vous des nouvelles ? Cordialement, Karim"),
        ("Any update?", "Hi, any update on this? Thanks, Karim"),
    ],
)
def test_a_bare_status_chase_joins_the_only_open_case_whatever_its_category(
    store: Store, store_url: str, inbox: Path, subject: str, body: str
) -> None:
    first = _msg(
        KARIM,
        "Facture de novembre trop élevée",
        "Bonjour, ma facture de novembre est deux fois plus élevée que d'habitude alors que "
        "ma consommation n'a pas changé. Pouvez-vous la vérifier ?",
        0,
    )
    (case,) = _run(store, store_url, inbox, [first, _msg(KARIM, subject, body, 30)])
    assert (case["request_count"], case["follow_up_count"]) == (2, 1)
    assert case["category"] == "billing"


def test_a_bare_status_chase_from_a_contact_with_two_open_cases_is_not_guessed(
    store: Store, store_url: str, inbox: Path
) -> None:
    messages = [
        _msg(KARIM, "Facture de novembre", "Ma facture de novembre est trop élevée.", 0),
        _msg(KARIM, "Déménagement", "Je déménage le 15 décembre au 3 rue des Lilas, Lyon.", 1),
        _msg(KARIM, "Des nouvelles ?", "Bonjour, des nouvelles ?", 30),
    ]
    assert len(_run(store, store_url, inbox, messages)) == 3


# -- a reply whose headers were stripped, with the prefix and the sender


@pytest.mark.parametrize(
    ("subject", "reply_subject"),
    [
        (
            "Problème de connexion à l'espace client",
            "TR: RE: Problème de connexion à l'espace client",
        ),
        ("Smart meter not sending readings", "AW: Smart meter not sending readings"),
    ],
)
def test_a_reply_without_headers_joins_the_senders_case_of_that_subject(
    store: Store, store_url: str, inbox: Path, subject: str, reply_subject: str
) -> None:
    first = _msg(RACHEL, subject, "Details of the problem: error 503 since yesterday.", 0)
    reply = _msg(RACHEL, reply_subject, "Here is the screenshot you asked for.", 20)
    (case,) = _run(store, store_url, inbox, [first, reply])
    assert (case["request_count"], case["follow_up_count"]) == (2, 1)
    with store.connect() as conn:
        reasons = str([e["detail"].get("reasons") for e in trail(conn, case["id"])])
    assert "reply_without_headers" in reasons


def test_a_generic_reply_subject_from_another_customer_stays_apart(
    store: Store, store_url: str, inbox: Path
) -> None:
    first = _msg(RACHEL, "Problem with my account", "I cannot see my last invoice.", 0)
    other = _msg(KARIM, "RE: Problem with my account", "My password does not work.", 2)
    assert len(_run(store, store_url, inbox, [first, other])) == 2


# -- the same problem twice, other words; two topics of one category stay apart


def test_the_same_problem_reported_again_in_other_words_is_a_follow_up_in_french(
    store: Store, store_url: str, inbox: Path
) -> None:
    first = _msg(
        KARIM,
        "Déménagement au 15 décembre",
        "Bonjour, je déménage le 15 décembre au 3 rue des Lilas à Lyon. Pouvez-vous "
        "transférer mon contrat d'électricité ?",
        0,
    )
    again = _msg(
        KARIM,
        "Transfert de contrat",
        "Bonjour, pour rappel je quitte mon logement le 15 décembre : merci de transférer "
        "le contrat au 3 rue des Lilas, Lyon.",
        26,
    )
    (case,) = _run(store, store_url, inbox, [first, again])
    assert case["follow_up_count"] == 1


def test_the_same_problem_reported_again_in_other_words_is_a_follow_up_in_english(
    store: Store, store_url: str, inbox: Path
) -> None:
    first = _msg(
        RACHEL,
        "Wrong amount on my invoice",
        "Hello, my October invoice shows 240 euros but my usual monthly amount is 85. "
        "Could you check what went wrong?",
        0,
    )
    again = _msg(
        RACHEL,
        "Invoice amount problem",
        "Hi, about my October invoice: 240 euros instead of the usual 85 amount per month. "
        "Can someone look at it?",
        20,
    )
    (case,) = _run(store, store_url, inbox, [first, again])
    assert case["follow_up_count"] == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            (
                "Facture de novembre",
                "Ma facture de novembre est trop élevée par rapport à ma "
                "consommation réelle, merci de la vérifier.",
            ),
            (
                "Frais de service",
                "Je ne comprends pas la ligne « frais de service » de 4,90 € sur mon "
                "dernier relevé, pouvez-vous m'expliquer ?",
            ),
        ),
        (
            (
                "Late payment fee",
                "Why was I charged a late payment fee on my November invoice? I paid on time.",
            ),
            (
                "Invoice copy",
                "Could you send me a copy of my September invoice for my records, please?",
            ),
        ),
    ],
)
def test_one_persons_two_topics_of_one_category_stay_two_cases(
    store: Store,
    store_url: str,
    inbox: Path,
    first: tuple[str, str],
    second: tuple[str, str],
) -> None:
    body = "Bonjour,\n\n{}\n\nCordialement,\nKarim Benali\nTél. 06 39 98 12 34"
    messages = [
        _msg(KARIM, first[0], body.format(first[1]), 0),
        _msg(KARIM, second[0], body.format(second[1]), 3),
    ]
    cases = _run(store, store_url, inbox, messages)
    assert len(cases) == 2 and {c["category"] for c in cases} == {"billing"}


# -- the same message sent to two mailboxes minutes apart


def test_the_same_mail_sent_to_two_mailboxes_minutes_apart_is_one_case(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    support, backoffice = make_maildir(tmp_path / "support"), make_maildir(tmp_path / "bo")
    body = "Hello, please close my account at the end of the month, I am moving abroad."
    deliver(support, _msg(RACHEL, "Please close my account", body, 0, to="support@acme.fr"))
    deliver(backoffice, _msg(RACHEL, "Please close my account", body, 0.1, to="bo@acme.fr"))
    sources = {"support": maildir_source(support), "backoffice": maildir_source(backoffice)}
    settings = make_settings(store_url, sources)
    maildir_worker(settings, store, rules=rules_provider(settings)).run_once()
    (case,) = _cases(store)
    assert (case["request_count"], case["duplicate_count"]) == (2, 1)


# -- a reply whose References reach two cases brings them together


def test_a_reply_whose_references_reach_two_cases_joins_them_for_review(
    store: Store, store_url: str, inbox: Path
) -> None:
    a = _msg(KARIM, "Compteur Linky", "Le compteur ne transmet plus.", 0, message_id="a@x.fr")
    b = _msg(RACHEL, "Meter readings", "Readings missing.", 1, message_id="b@x.fr")
    both = _msg(
        KARIM,
        "Re: Compteur Linky",
        "Ma voisine a le même problème, je vous mets tous les deux en copie.",
        5,
        message_id="c@x.fr",
        in_reply_to="b@x.fr",
        references=["a@x.fr", "b@x.fr"],
    )
    cases = _run(store, store_url, inbox, [a, b, both])
    (survivor,) = cases  # the absorbed case is soft-merged: listed no more
    assert survivor["request_count"] == 3
    assert any(t.startswith("merged_by_reply:") for t in survivor["tags"])
    with store.connect() as conn:
        events = [e["event"] for e in trail(conn, survivor["id"])]
    assert "case_merged" in events


# -- namesakes at two domains are two contacts, and their mails two cases


@pytest.mark.parametrize(
    ("first", "second", "subject", "body"),
    [
        (
            "Jean Martin <jean.martin@acme-industrie.fr>",
            "Jean Martin <jean.martin@boulangerie-du-port.fr>",
            "Facture",
            "Bonjour, pouvez-vous m'envoyer la facture du mois dernier ? Merci.",
        ),
        (
            "Sam Taylor <sam.taylor@northwind.example>",
            "Sam Taylor <sam.taylor@harbourside.example>",
            "Problem with my account",
            "Hello, I cannot log in to my account since yesterday. Thanks.",
        ),
    ],
)
def test_namesakes_with_the_same_mailbox_name_at_two_domains_are_not_merged(
    store: Store, store_url: str, inbox: Path, first: str, second: str, subject: str, body: str
) -> None:
    cases = _run(
        store, store_url, inbox, [_msg(first, subject, body, 0), _msg(second, subject, body, 2)]
    )
    assert len(cases) == 2 and cases[0]["contact_id"] != cases[1]["contact_id"]


# -- one status vocabulary: a case waiting on the customer gets its follow-ups


def test_a_chase_of_a_case_waiting_on_the_customer_is_its_follow_up(
    store: Store, store_url: str, inbox: Path
) -> None:
    first = _msg(RACHEL, "Meter reading", "My meter 09876543 shows 4521 kWh, bill is wrong.", 0)
    (case,) = _run(store, store_url, inbox, [first])
    with store.begin() as conn:
        update_case(conn, case["id"], status=CaseStatus.WAITING_CUSTOMER)
    again = _msg(RACHEL, "Photo of the meter", "Here is a photo of meter 09876543.", 5)
    (after,) = _run(store, store_url, inbox, [again])
    assert after["follow_up_count"] == 1


def test_the_status_vocabulary_is_one_enum() -> None:
    assert CaseStatus.WAITING_CUSTOMER in OPEN_STATUSES and is_open("waiting_customer")
    assert not is_open(CaseStatus.CLOSED) and not is_open("resolved")
    assert CaseStatus("waiting_third_party") == "waiting_third_party"


# -- properties of the text helpers


texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200)


@given(texts)
def test_reply_prefixes_come_off_once_and_for_all(subject: str) -> None:
    stripped, _ = strip_reply_prefix(subject)
    assert strip_reply_prefix(stripped)[0] == stripped
    assert subject_key(f"RE: TR: {subject}") == subject_key(subject)


@given(texts, texts)
def test_topic_and_chase_detection_never_fail(subject: str, body: str) -> None:
    topic = topic_of(subject, body)
    assert all(w and w == w.lower() for w in topic.words)
    assert isinstance(is_status_chase(subject, body), bool)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Any update?", True),
        ("Des nouvelles ?", True),
        ("Je me permets de vous relancer.", True),
        ("Où en est ma demande ?", True),
        ("Dans l'attente de votre retour, ma facture de novembre est fausse.", False),
        ("My invoice is wrong, please check it.", False),
        ("Bonjour, avez-vous des nouvelles ?", True),
        ("Hello, please update my phone number to 07700 900123.", False),
        ("Je reçois une relance de paiement alors que j'ai payé.", False),
    ],
)
def test_bare_status_chases_are_recognised_in_both_languages(text: str, expected: bool) -> None:
    assert is_status_chase("", text) is expected
