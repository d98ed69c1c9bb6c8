"""The end of `crmbot run --once`: a human summary on a terminal, one JSON line otherwise."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

PROGRESS_AFTER = 300  # items: a shorter run shows no progress display
LABELS = (
    ("read", "messages read"),
    ("stored", "requests stored"),
    ("new_cases", "new cases"),
    ("follow_ups", "follow-ups"),
    ("duplicates", "duplicates"),
    ("quarantined", "quarantined"),
    ("actions_planned", "actions planned"),
)


def for_humans(log_format: str, stream: Any = None) -> bool:
    """True when the run talks to a person: stderr is a terminal and JSON was not asked for."""
    stream = stream or sys.stderr
    return log_format == "console" or (log_format == "auto" and stream.isatty())


def difference(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """What a run changed: after minus before, for every counter."""
    return {key: after.get(key, 0) - before.get(key, 0) for key in after}


def render(counts: dict[str, int], seconds: float, failing: list[str]) -> str:
    """The summary as a few lines for a person."""
    rate = counts.get("read", 0) / seconds if seconds > 0 else 0.0
    lines = [f"run finished in {seconds:.1f} s ({rate:.0f} messages/s)"]
    lines += [f"  {label:<16} {counts.get(key, 0):>8,}" for key, label in LABELS]
    if failing:
        lines.append(f"  FAILED sources   {', '.join(failing)} (see the source_outage lines)")
    return "\n".join(lines)


class StoreProgress:
    """A progress line (count, rate, elapsed) fed by polling the store while a run works.

    It appears only once more than PROGRESS_AFTER items were stored, so short runs stay quiet.
    With `quiet_after` (a worker that runs for ever), each burst of work (a first run over a
    full mailbox, a catch-up after an outage) gets its own line, removed once the count has
    not moved for `quiet_after` seconds; log lines print above it.
    """

    def __init__(
        self,
        count: Callable[[], int],
        console: Console,
        every: float = 0.5,
        quiet_after: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._count = count
        self._clock = clock
        self._console = console
        self._every = every
        self._quiet_after = quiet_after
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self._start_count = 0

    def __enter__(self) -> StoreProgress:
        self._start_count = self._count()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _new_display(self) -> Progress:
        """A transient progress line on the console (count, rate, elapsed)."""
        return Progress(
            SpinnerColumn(),
            TextColumn("{task.completed:,} messages read"),
            TextColumn("{task.fields[rate]:.0f}/s"),
            TimeElapsedColumn(),
            console=self._console,
            transient=True,
        )

    def _loop(self) -> None:
        progress: Progress | None = None
        task = None
        base, started = self._start_count, self._clock()
        last, moved_at = base, started
        try:
            while not self._stop.wait(self._every):
                try:
                    total = self._count()
                except Exception:  # the store is busy or down: the run itself reports that
                    continue
                now = self._clock()
                if total != last:
                    last, moved_at = total, now
                elif self._quiet_after is not None and now - moved_at > self._quiet_after:
                    if progress is not None:  # the burst is over: the line goes away
                        progress.stop()
                        progress, task = None, None
                    base, started = total, now  # the next burst counts from here
                    continue
                done = total - base
                if progress is None and done > PROGRESS_AFTER:
                    progress = self._new_display()
                    progress.start()
                    task = progress.add_task("run", total=None, rate=0.0)
                if progress is not None and task is not None:
                    rate = done / max(now - started, 1e-6)
                    progress.update(task, completed=done, rate=rate)
        finally:
            if progress is not None:
                progress.stop()
