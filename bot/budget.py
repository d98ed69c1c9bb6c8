"""Per-item budgets: an item too large, or too costly to parse and decide, is quarantined.

The size budget is checked before anything reads the item. The time budget is cooperative:
the parsing and matching code calls `checkpoint()` in its loops, which raises
`BudgetExceeded` once the item is past its budget; the worker then quarantines the item
with that reason (it is never retried for ever, and the worker never crashes on it).

The budget counts the CPU time of the thread handling the item (`time.thread_time()`), not
the wall clock: on a loaded machine the OS or another thread can hold an item up for longer
than its whole budget while it costs nothing (the template render cap had the same bug, see
rules/templates.py). An item that blocks without computing has a wall-clock backstop,
`WALL_FACTOR` times the budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.errors import SkippableError

if TYPE_CHECKING:
    from bot.models import SourceRecord
    from bot.pipeline import StageContext, Work
    from bot.settings import BudgetSettings

# The wall-clock backstop of an item's budget, in multiples of its CPU-time budget.
WALL_FACTOR = 10.0


@dataclass(frozen=True, slots=True)
class _Deadline:
    cpu_until: float  # on this thread's CPU clock
    wall_until: float  # on the monotonic clock
    seconds: float


_deadline: ContextVar[_Deadline | None] = ContextVar("crmbot_item_deadline", default=None)


class BudgetExceeded(SkippableError):
    """One item took more than its time budget; it is quarantined, the others go on."""


def checkpoint() -> None:
    """Raise BudgetExceeded if the current item is past its budget (cheap: call it often)."""
    current = _deadline.get()
    if current is None:
        return
    if time.thread_time() > current.cpu_until:
        raise BudgetExceeded(
            f"over the time budget: parsing and rules took more than {current.seconds:g} s "
            "of CPU time (budget.item_seconds)"
        )
    if time.monotonic() > current.wall_until:
        raise BudgetExceeded(
            f"over the time budget: parsing and rules took more than "
            f"{current.seconds * WALL_FACTOR:g} s of wall-clock time, {WALL_FACTOR:g} times "
            "budget.item_seconds (the item waits without computing)"
        )


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Give the code run in the block `seconds` of this thread's CPU time (and `WALL_FACTOR`
    times that of wall-clock time) before `checkpoint()` raises."""
    token = _deadline.set(
        _Deadline(
            cpu_until=time.thread_time() + seconds,
            wall_until=time.monotonic() + seconds * WALL_FACTOR,
            seconds=seconds,
        )
    )
    try:
        yield
    finally:
        _deadline.reset(token)


def over_size(record: SourceRecord, max_bytes: int) -> str | None:
    """Why an item is over the size budget, or None."""
    size = max(record.size or 0, len(record.raw or b""))
    if size > max_bytes:
        return f"over the size budget: {size} bytes, more than {max_bytes} (budget.item_max_bytes)"
    return None


def run_item(
    run: Callable[[StageContext, Work], Work | None],
    ctx: StageContext,
    record: SourceRecord,
    conf: BudgetSettings,
) -> Work | None:
    """Run the pipeline on one record within its size and time budgets.

    An item over the size budget reaches the pipeline marked for quarantine. An item over
    the time budget raises BudgetExceeded; it is also marked, so that when the worker
    redoes the batch record by record it is quarantined at once instead of run again.
    """
    from bot.pipeline import Work

    if not record.quarantine_reason:
        record.quarantine_reason = over_size(record, conf.item_max_bytes)
    try:
        with deadline(conf.item_seconds):
            return run(ctx, Work(record))
    except BudgetExceeded as exc:
        record.quarantine_reason = str(exc)
        ctx.log.warning(
            "item_over_budget", source=record.source, source_id=record.source_id, why=str(exc)
        )
        raise
