"""Shared pieces of the end-to-end grouping tests: senders, a clock start, a Maildir run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.app import rules_provider
from bot.store import Store
from bot.store.audit import trail
from bot.store.cases import list_cases
from bot.store.requests import requests_of_case
from tests.helpers.mail import deliver
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
KARIM = "Karim Benali <karim.benali@example.fr>"
RACHEL = "Rachel Adams <rachel.adams@example.com>"


def run_cases(store: Store, store_url: str, inbox: Path, messages: list[bytes]) -> list[dict]:
    """Deliver `messages` to the Maildir, run the worker once, return every case by id."""
    for raw in messages:
        deliver(inbox, raw)
    settings = make_settings(store_url, {"inbox": maildir_source(inbox)})
    maildir_worker(settings, store, rules=rules_provider(settings)).run_once()
    return all_cases(store)


def all_cases(store: Store) -> list[dict]:
    """Every case, oldest first."""
    with store.connect() as conn:
        return sorted(list_cases(conn), key=lambda c: c["id"])


def reasons(store: Store, case: dict[str, Any]) -> str:
    """The reasons of every audit entry of `case`, as one string to search."""
    with store.connect() as conn:
        return str([e["detail"].get("reasons") for e in trail(conn, case["id"])])


def subjects(store: Store, case: dict[str, Any]) -> list[str]:
    """The subjects of the requests of `case`."""
    with store.connect() as conn:
        return [r["subject"] for r in requests_of_case(conn, case["id"])]
