"""The supervisor: each source, the dispatcher and the SLA timers on a thread of their own.

The `schedule` jobs stay in one place (here): each job only wakes its thread, which runs one
unit of work (a poll until nothing new, a dispatch round, a timers round) and waits for the
next wake-up. A slow CRM therefore delays only its own thread; a source that stores a batch
wakes the dispatcher, so acknowledgements leave while a backlog is still being read. A thread
that crashes is logged and restarted (with backoff); a stop lets each finish its current unit.

Between polls, a source that can wait for its own signal (`WaitingSource`: IMAP IDLE) blocks
in `Worker.wait_for_change` instead of sleeping: a signal runs the poll at once. Its
interval still wakes it (the safety net), and `wake_source(name)` wakes it from anywhere
(a webhook saying the CRM changed); either ends the wait at once, and so does a stop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import schedule
import structlog

from bot.backoff import BackoffPolicy

if TYPE_CHECKING:
    from bot.worker import Worker

log = structlog.get_logger(__name__)
RESTART_POLICY = BackoffPolicy(base_seconds=1.0, max_seconds=60.0, jitter=0.0)
STOP_POLL_SECONDS = 0.2


@dataclass(slots=True)
class Unit:
    """One thread's job: `run` returns a delay (seconds) before it may run again, or None."""

    name: str
    run: Callable[[], float | None]
    every: float
    # Between runs, block on this (given `wake`) instead of sleeping; True runs at once,
    # False/None wait for the next wake-up as usual. None: a unit that only sleeps.
    wait: Callable[[threading.Event], bool | None] | None = None
    wake: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    crashes: int = 0
    restart_at: float = 0.0
    runs: int = 0


class Supervisor:
    """Starts one thread per unit, wakes them on schedule, restarts the ones that crash."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.stop_event = worker.stop_event
        self.units: dict[str, Unit] = {}
        for name, configured in worker.sources.items():
            if configured.settings.enabled:
                self._add(
                    source_unit(name),
                    partial(_poll_source, worker, name),
                    configured.settings.interval_seconds,
                    wait=partial(worker.wait_for_change, name),
                )
        if not worker.dry_run:
            tick = worker.settings.worker.tick_seconds
            self._add("timers", lambda: self._then_dispatch(worker.fire_timers()), tick)
            self._add("dispatch", worker.dispatch, tick)
            worker.on_batch_stored = self._wake_dispatch
        self.scheduler = schedule.Scheduler()
        for unit in self.units.values():
            self.scheduler.every(max(1, round(unit.every))).seconds.do(unit.wake.set)

    def _add(
        self,
        name: str,
        run: Callable[[], float | None],
        every: float,
        *,
        wait: Callable[[threading.Event], bool | None] | None = None,
    ) -> None:
        self.units[name] = Unit(name, run, every, wait=wait)

    def wake(self, name: str) -> bool:
        """Ask a unit to run now (if it is running, it runs again right after); False if unknown."""
        unit = self.units.get(name)
        if unit is None:
            return False
        unit.wake.set()
        return True

    def _wake_dispatch(self, _source: str) -> None:
        self.wake("dispatch")

    def wake_source(self, name: str) -> bool:
        """Poll source `name` now: ends its wait (IDLE, interval); False if no such thread.

        Thread-safe; for whatever learns that a source has news (a webhook, an operator).
        """
        return self.wake(source_unit(name))

    def _then_dispatch(self, delay: float | None) -> float | None:
        """After a timers round: what its decisions planned leaves at once."""
        self.wake("dispatch")
        return delay

    # -- threads ------------------------------------------------------------------------
    def _start(self, unit: Unit) -> None:
        unit.wake.set()  # run at once on start and on restart
        unit.thread = threading.Thread(
            target=self._loop, args=(unit,), name=f"crmbot-{unit.name}", daemon=True
        )
        unit.thread.start()

    def _loop(self, unit: Unit) -> None:
        try:
            while not self.stop_event.is_set():
                if not unit.wake.wait(STOP_POLL_SECONDS):
                    continue
                unit.wake.clear()
                delay = unit.run()
                unit.runs += 1
                if delay:  # backing off: ignore wake-ups until then (a stop still ends it)
                    if self.stop_event.wait(delay):
                        return
                    unit.wake.set()
                elif unit.wait is not None and not unit.wake.is_set() and unit.wait(unit.wake):
                    unit.wake.set()  # the source signalled news (IDLE): run again now
        except Exception:  # the thread ends here; the supervisor restarts it
            log.exception("worker_thread_crashed", unit=unit.name)

    def _check(self) -> None:
        """Restart every thread that died, with a growing delay for one that keeps dying."""
        now = time.monotonic()
        for unit in self.units.values():
            if unit.thread is None or unit.thread.is_alive() or self.stop_event.is_set():
                continue
            if unit.restart_at == 0.0:
                unit.crashes += 1
                unit.restart_at = now + (
                    RESTART_POLICY.delay(unit.crashes - 1) if unit.crashes > 1 else 0.0
                )
            if now >= unit.restart_at:
                log.warning("worker_thread_restarted", unit=unit.name, crashes=unit.crashes)
                unit.restart_at = 0.0
                self._start(unit)

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> None:
        """Start every thread; supervise until a stop; then wait for each to finish its unit."""
        for unit in self.units.values():
            self._start(unit)
        tick = self.worker.settings.worker.tick_seconds
        while not self.stop_event.is_set():
            self.scheduler.run_pending()
            self._check()
            if all(u.thread is not None and u.thread.is_alive() for u in self.units.values()):
                self.worker._touch_health_file()
            idle = self.scheduler.idle_seconds
            self.stop_event.wait(min(tick, max(0.05, idle if idle is not None else tick)))
        for unit in self.units.values():
            unit.wake.set()
        for unit in self.units.values():
            if unit.thread is not None:
                unit.thread.join()


def source_unit(name: str) -> str:
    """The name of source `name`'s unit (and thread, `crmbot-source:<name>`)."""
    return f"source:{name}"


def _no_delay(_stored: int) -> None:
    return None


def _poll_source(worker: Worker, name: str) -> None:
    """Poll one source (its own interval decides when next)."""
    return _no_delay(worker.poll_source(name))
