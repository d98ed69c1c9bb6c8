"""SQLite writers of one process take turns in the order they asked, so a busy source cannot
starve the dispatcher; a thread already writing passes through; a stuck turn is waited out."""

from __future__ import annotations

import threading
import time

from bot.store.engine import WriteTurns


def _asking(turns: WriteTurns, waiting: int) -> None:
    """Wait until `waiting` threads hold or wait for a turn (test helper, no timing)."""
    while turns._next < waiting:  # the tickets handed out so far
        time.sleep(0.001)


def test_writers_get_their_turn_in_the_order_they_asked() -> None:
    turns = WriteTurns()
    order: list[str] = []
    release = threading.Event()

    def holder() -> None:
        with turns.turn():
            order.append("source")
            release.wait(10)

    def writer(name: str) -> None:
        with turns.turn():
            order.append(name)

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    _asking(turns, 1)
    for count, name in enumerate(["dispatcher", "timers"], 2):
        thread = threading.Thread(target=writer, args=(name,))
        thread.start()
        threads.append(thread)
        _asking(turns, count)
    release.set()
    for thread in threads:
        thread.join(10)
    assert order == ["source", "dispatcher", "timers"]


def test_a_thread_already_writing_passes_through() -> None:
    turns = WriteTurns()
    with turns.turn(), turns.turn():
        pass
    with turns.turn():  # the turn was given back once, not left held
        pass


def test_a_writer_that_waited_its_patience_goes_on_and_the_next_turns_still_come() -> None:
    turns = WriteTurns(patience=0.05)
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with turns.turn():
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    with turns.turn():  # gives up waiting: SQLite's busy timeout decides, as without turns
        pass
    release.set()
    thread.join(10)
    with turns.turn():  # the abandoned ticket is skipped: nobody waits for it
        pass
