"""The quickstart mailbox gives the result examples/README.md describes."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.app import rules_provider
from bot.store import Store
from bot.store.cases import list_cases
from bot.store.requests import quarantined
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_the_example_mailbox_gives_the_documented_cases(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    maildir = tmp_path / "maildir"
    shutil.copytree(EXAMPLES / "maildir", maildir)
    settings = make_settings(store_url, {"acme": maildir_source(maildir)})
    assert maildir_worker(settings, store, rules=rules_provider(settings)).run_once() == 37
    with store.connect() as conn:
        cases = {c["reference"]: c for c in list_cases(conn)}
        assert quarantined(conn) == []
    assert len(cases) == 28  # the model reads #10 as billing like #11: one case (the human view)
    assert sum(c["request_count"] for c in cases.values()) == 37  # + 2 auto-replies, 1 bounce
    assert sum(c["follow_up_count"] for c in cases.values()) == 7  # #11 joins #10; #31 is flagged
    assert sum(c["duplicate_count"] for c in cases.values()) == 2
    chain = cases["CB-1"]  # original, relance, 2e relance
    assert (chain["request_count"], chain["follow_up_count"]) == (3, 2)
    tags = {t for c in cases.values() for t in c["tags"]}
    assert "foreign_reference:CB-3" in tags
    linky = next(c for c in cases.values() if c["subject"].startswith("Compteur Linky"))
    assert linky["request_count"] == 2  # #11, reworded, joins #10 now both read as billing
    assert sum(t.startswith("possible_same_contact:") for t in tags) == 2
    by_subject = {c["subject"]: c for c in cases.values()}
    legal = next(c for s, c in by_subject.items() if s.startswith("Mise en demeure"))
    assert "legal_risk" in legal["tags"] and legal["priority"] in ("P1", "P2")
    blocked = next(c for s, c in by_subject.items() if s.startswith("URGENT: cannot log in"))
    assert blocked["category"] == "technical_incident" and "blocking" in blocked["tags"]
