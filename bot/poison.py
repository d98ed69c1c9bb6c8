"""Poison items: an item that kills the process while it is handled is quarantined after a
few tries, although the process died each time (OOM kill, segfault, kill -9).

Before a batch is handled, one attempt per item is committed in its own transaction; the
marks are deleted once the batch is stored. Marks still there when the source is polled
again mean the process died inside that batch: its items are then handled one by one, each
in its own transactions (attempt committed, item handled, attempt cleared), so that the item
that kills the process is the only one whose attempts grow. Once they reach
`budget.poison_attempts` it is quarantined with the reason instead of being handled, and the
source moves on.

An innocent item can carry at most one mark from a batch that died, and the limit is at
least 2: it is never quarantined for another item's crash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import Connection

from bot.errors import RetriableError
from bot.store import audit
from bot.store import cursors as cursor_store
from bot.store import poison as poison_store
from bot.store.requests import quarantine_record

if TYPE_CHECKING:
    from bot.models import SourceRecord
    from bot.pipeline import StageContext, Work
    from bot.settings import Settings
    from bot.store import Store
    from connectors.base import Batch

log = structlog.get_logger(__name__)


def item_key(record: SourceRecord) -> str:
    """The item's id as the quarantine keeps it (each version of a CRM ticket is its own)."""
    version = record.fields.get("version") if record.kind == "ticket" else None
    return f"{record.source_id}@{version}"[:300] if version else record.source_id[:300]


class PoisonGuard:
    """Records attempts around batches and isolates the batch a dead process left behind."""

    def __init__(self, store: Store, settings: Settings, owner: str) -> None:
        self.store = store
        self.settings = settings
        self.owner = owner
        self.enabled = not settings.dry_run  # a dry run writes nothing, marks included

    def handle(
        self,
        name: str,
        batch: Batch,
        store_batch: Callable[[str, Batch], int],
        context: Callable[[Connection], StageContext],
        run_guarded: Callable[[Connection, StageContext, str, SourceRecord], Work | None],
    ) -> int:
        """Store a batch (`store_batch`), or item by item if a process died inside it before."""
        if not self.enabled or not batch.records:
            return store_batch(name, batch)
        keys = [item_key(r) for r in batch.records]
        with self.store.begin() as conn:
            if poison_store.attempts_of(conn, name, keys):
                isolate = True
            else:
                isolate = False
                poison_store.mark_batch(conn, name, keys, self.owner)
        if isolate:
            log.warning("batch_isolated", source=name, records=len(batch.records))
            return self._one_by_one(name, batch, context, run_guarded)
        try:
            stored = store_batch(name, batch)
        except Exception:  # an ordinary failure, not a death: the marks must not count
            self._clear(name, keys)
            raise
        self._clear(name, keys)
        return stored

    def _clear(self, name: str, keys: list[str]) -> None:
        try:
            with self.store.begin() as conn:
                poison_store.clear_attempts(conn, name, keys)
        except Exception:  # left over, they only make the next poll of this batch item-wise
            log.warning("item_attempts_not_cleared", source=name, records=len(keys))

    def _lease(self, conn: Connection, name: str) -> None:
        if self.store.is_postgres and not cursor_store.acquire_lease(
            conn, name, self.owner, self.settings.worker.lease_seconds
        ):
            raise RetriableError(f"source {name}: lease taken by another replica")

    def _one_by_one(
        self,
        name: str,
        batch: Batch,
        context: Callable[[Connection], StageContext],
        run_guarded: Callable[[Connection, StageContext, str, SourceRecord], Work | None],
    ) -> int:
        limit = self.settings.budget.poison_attempts
        stored = 0
        for record in batch.records:
            key = item_key(record)
            with self.store.begin() as conn:
                self._lease(conn, name)
                tried = poison_store.begin_attempt(conn, name, key, self.owner, limit)
                if tried >= limit:
                    self._quarantine(conn, name, record, key, tried)
                    continue
            try:
                with self.store.begin() as conn:
                    self._lease(conn, name)
                    work = run_guarded(conn, context(conn), name, record)
                    poison_store.clear_attempts(conn, name, [key])
            except Exception:
                self._undo(name, key)
                raise
            if work is not None and work.dropped is None:
                stored += 1
        with self.store.begin() as conn:
            self._lease(conn, name)
            cursor_store.save_cursor(conn, name, batch.cursor)
        return stored

    def _undo(self, name: str, key: str) -> None:
        try:
            with self.store.begin() as conn:
                poison_store.undo_attempt(conn, name, key)
        except Exception:  # the store is down: the attempt stays counted
            log.warning("item_attempt_not_undone", source=name, source_id=key)

    def _quarantine(
        self, conn: Connection, name: str, record: SourceRecord, key: str, tried: int
    ) -> None:
        reason = (
            f"poison item: the worker process died {tried} times while handling it (killed "
            "for memory, crashed or kill -9); not handled again (budget.poison_attempts)"
        )
        quarantine_record(conn, record, reason, raw_max_bytes=self.settings.store.raw_max_bytes)
        poison_store.mark_quarantined(conn, name, key)
        audit.record(conn, "item_poison_quarantined", source=name, id=key, why=reason)
        log.error("item_poison_quarantined", source=name, source_id=key, attempts=tried)
