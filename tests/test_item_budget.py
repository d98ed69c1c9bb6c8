"""Per-item budgets: an item over its size or time budget is quarantined with the reason,
once, and the other items of its batch are stored."""

from __future__ import annotations

import itertools
import time
import types
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

import bot.budget
from bot.budget import BudgetExceeded, checkpoint, deadline
from bot.store import Store
from bot.store.requests import quarantined
from bot.store.schema import requests
from tests.helpers import hostile
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings


def _count(store: Store) -> int:
    with store.connect() as conn:
        return conn.execute(select(func.count()).select_from(requests)).scalar_one()


def test_an_item_over_the_size_budget_is_quarantined_and_the_others_stored(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    maildir = make_maildir(tmp_path / "inbox")
    deliver(maildir, make_message(subject="avant"))
    deliver(maildir, hostile.big_attachment(300_000))
    deliver(maildir, make_message(subject="après"))
    settings = make_settings(
        store_url, {"inbox": maildir_source(maildir)}, budget={"item_max_bytes": 200_000}
    )
    maildir_worker(settings, store).run_once()
    assert _count(store) == 2
    with store.connect() as conn:
        (row,) = quarantined(conn)
    assert row["reason"].startswith("over the size budget: ")
    assert "more than 200000 (budget.item_max_bytes)" in row["reason"]


@pytest.fixture
def work_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The budget's CPU clock moves one second per reading (a time budget becomes a work
    budget); its wall clock stands still."""
    ticks = itertools.count()
    clocks = types.SimpleNamespace(thread_time=lambda: next(ticks), monotonic=lambda: 0.0)
    monkeypatch.setattr(bot.budget, "time", clocks)


@pytest.mark.usefixtures("work_clock")
def test_an_item_over_the_time_budget_is_quarantined_once_and_the_others_stored(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    maildir = make_maildir(tmp_path / "inbox")
    deliver(maildir, make_message(subject="avant"))
    deliver(maildir, hostile.nested_tags(600_000))  # ~230 checkpoints, a plain mail ~10
    deliver(maildir, make_message(subject="après"))
    settings = make_settings(
        store_url, {"inbox": maildir_source(maildir)}, budget={"item_seconds": 100}
    )
    with capture_logs() as logs:
        maildir_worker(settings, store).run_once()
        maildir_worker(settings, store).run_once()  # not retried: the source moved on
    assert _count(store) == 2
    with store.connect() as conn:
        (row,) = quarantined(conn)
    assert row["reason"].startswith("over the time budget: parsing and rules took more than 100 s")
    # run once: the batch redone record by record quarantines it without parsing it again
    assert [e["event"] for e in logs].count("item_over_budget") == 1


def test_checkpoint_raises_only_inside_an_expired_deadline(work_clock: None) -> None:
    checkpoint()  # no item: no budget
    with deadline(3):
        checkpoint()
        with pytest.raises(BudgetExceeded, match="more than 3 s"):
            for _ in range(5):
                checkpoint()
    checkpoint()


def test_the_mime_parser_is_fed_in_chunks_and_stops_when_the_time_is_up(
    work_clock: None,
) -> None:
    from bot.mail.parse import parse_email

    with deadline(2), pytest.raises(BudgetExceeded):  # 3 MB: three 1 MB feeds
        parse_email(hostile.many_recipients(60_000))


def test_an_item_held_up_without_computing_is_not_over_its_cpu_budget() -> None:
    """On a loaded machine an item may wait longer than its whole budget while costing
    nothing: the budget counts the thread's CPU time, not the wall clock."""
    with deadline(0.05):
        time.sleep(0.2)  # four times the budget, without the CPU
        checkpoint()


def test_an_item_blocked_past_the_wall_clock_backstop_is_over_budget() -> None:
    with deadline(0.01), pytest.raises(BudgetExceeded, match="s of wall-clock time"):
        time.sleep(0.01 * bot.budget.WALL_FACTOR + 0.05)
        checkpoint()


def _burn_cpu(seconds: float) -> None:
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        pass


def test_through_the_worker_a_held_up_mail_is_stored_and_a_costly_one_quarantined(
    store: Store, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    stage = importlib.import_module("bot.stages.normalise")  # the module, not the stage
    real = stage.request_from_email

    def slow(record: Any, *args: Any) -> Any:
        subject = (record.raw or b"").split(b"Subject: ", 1)[-1][:7]
        if subject == b"attente":
            time.sleep(3.0)  # held up by the machine: more than the budget, no CPU
        elif subject == b"calculs":
            _burn_cpu(2.5)  # costs more than the budget
        return real(record, *args)  # parsing calls checkpoint()

    monkeypatch.setattr(stage, "request_from_email", slow)
    maildir = make_maildir(tmp_path / "inbox")
    deliver(maildir, make_message(subject="attente, merci"))
    deliver(maildir, make_message(subject="calculs lourds"))
    settings = make_settings(
        store_url, {"inbox": maildir_source(maildir)}, budget={"item_seconds": 2}
    )
    maildir_worker(settings, store).run_once()
    with store.connect() as conn:
        subjects = [r.subject for r in conn.execute(select(requests.c.subject))]
        (row,) = quarantined(conn)
    assert subjects == ["attente, merci"]
    assert row["reason"].startswith("over the time budget: parsing and rules took more than 2 s")
    assert "of CPU time (budget.item_seconds)" in row["reason"]
