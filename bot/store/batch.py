"""Batched writes: what the pipeline writes while a batch is stored, sent as one statement
per table (an executemany) instead of one per row.

While a batch's transaction is open, the worker registers a `BatchWrites` on its connection
(`batch_writes`). The store functions that only append (audit entries, case links, outbox
rows, timers) or that change a case row (counters, reference, decision) then add to it instead
of executing; `flush` sends each table's rows in one executemany, in the same transaction,
before the cursor moves. Nothing changes for a connection with no batch registered (timers,
the CLI, tests that call the store directly): each function writes at once, as before.

The outbox is not held back: the reply discipline counts the replies planned a moment ago
(inside the same batch), and `enqueue` tells a new effect from a repeat of its key.

Reads must see what was written before them, batched or not: a store function that reads
the audit trail or case links calls `settle(conn)` first, which flushes the appends (a no-op
when nothing is pending). Case changes stay held back until the batch ends, so that each
batch takes its case row locks at one moment and in case id order (replicas attaching mail
to the same cases do not deadlock): reads of cases apply them (`overlay_case`,
`pending_reference`), and the rare paths that write a case at once (status, merges) call
`settle_all(conn)`. The blocking keys of contacts created in the batch are held back too: the
candidate lookup adds them to what it reads (`contact_index.contacts_under_keys`), and the
rarer reads of keys settle first. Rows that later messages of the same batch look up
(requests, contacts, new cases) are inserted at once, so threading and deduplication inside a
batch see the earlier messages.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert, update

from bot.store.schema import audit, case_requests, cases, contact_keys, timers
from bot.store.sql import insert_ignore_many

# The counters are added to in SQL, so that replicas attaching to one case never lose a count.
_COUNTERS = ("request_count", "follow_up_count", "duplicate_count")


@dataclass(slots=True)
class BatchWrites:
    """The rows held back during one batch, by table, in the order they were written."""

    audit: list[dict[str, Any]] = field(default_factory=list)
    case_links: list[dict[str, Any]] = field(default_factory=list)
    timers: list[dict[str, Any]] = field(default_factory=list)
    case_updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    contact_keys: list[dict[str, Any]] = field(default_factory=list)
    # The stored requests this batch's messages may repeat, read once for the batch (fast
    # path only; bot/store/requests.py: `read_seen_for_batch`). Not a pending write: kept
    # across flushes, gone with the batch.
    seen: Any = None
    # key -> contact ids, as the contact_keys table held them when the batch read the keys of
    # all its senders at once (`contact_index.read_keys_for_batch`); keys the batch stores or
    # drops are applied to it. Like `seen`, gone with the batch.
    keys_read: dict[str, list[int]] | None = None
    # The requests in open cases of the contacts the batch's senders may be, read once for
    # the batch (fast path only; bot/store/requests.py: `read_open_requests_for_batch`). Not
    # a pending write: dropped once a case or request row is written at once (`settle_all`,
    # a bounce filed), and a contact's rows no longer answer once the batch stores a request
    # of that contact.
    open_requests: Any = None
    # The contacts under those keys, read once for the batch (fast path only;
    # bot/store/contacts.py: `read_contacts_for_batch`); a contact written since no longer
    # answers from it (`contacts_written`).
    contacts_read: Any = None

    def __bool__(self) -> bool:
        """True when something is pending."""
        return bool(
            self.audit or self.case_links or self.timers or self.case_updates or self.contact_keys
        )

    def update_case(self, case_id: int, **values: Any) -> None:
        """Hold back a change to a case: counters add up, other fields keep the latest."""
        pending = self.case_updates.setdefault(case_id, {})
        for name, value in values.items():
            if name in _COUNTERS:
                pending[name] = pending.get(name, 0) + value
            else:
                pending[name] = value

    def flush(self, conn: Connection) -> int:
        """Send what is pending, one statement per table (and per shape of case update);
        returns the number of statements sent."""
        sent = _flush_case_updates(conn, self.case_updates) if self.case_updates else 0
        sent += self.flush_appends(conn)
        self.discard()
        return sent

    def flush_appends(self, conn: Connection) -> int:
        """Send the pending appends (contact keys, audit, case links, timers), not the case
        changes."""
        sent = 0
        if self.keys_read is not None:  # written now: the batch's copy of the keys keeps them
            for row in self.contact_keys:
                if row["key"] in self.keys_read:
                    self.keys_read[row["key"]].append(row["contact_id"])
        for table, rows in (
            (contact_keys, self.contact_keys),
            (case_requests, self.case_links),
            (audit, self.audit),
        ):
            if rows:
                conn.execute(insert(table), rows)
                rows.clear()
                sent += 1
        if self.timers:
            insert_ignore_many(conn, timers, self.timers, ["case_id", "event", "due_at"])
            self.timers.clear()
            sent += 1
        return sent

    def overlay(self, case: dict[str, Any]) -> dict[str, Any]:
        """A case row as read, with this batch's held-back changes applied."""
        changes = self.case_updates.get(case["id"])
        if not changes:
            return case
        merged = dict(case)
        for name, value in changes.items():
            merged[name] = (merged.get(name) or 0) + value if name in _COUNTERS else value
        return merged

    def discard(self) -> None:
        """Forget what is pending (its transaction or savepoint was rolled back)."""
        self.audit.clear()
        self.case_links.clear()
        self.timers.clear()
        self.case_updates.clear()
        self.contact_keys.clear()
        self.open_requests = None
        self.contacts_read = None


def _flush_case_updates(conn: Connection, updates: dict[int, dict[str, Any]]) -> int:
    """One executemany per set of changed columns (in case id order: no lock-order cycles)."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for case_id in sorted(updates):
        values = updates[case_id]
        shapes.setdefault(tuple(sorted(values)), []).append(
            {"b_case_id": case_id, **{f"b_{k}": v for k, v in values.items()}}
        )
    for columns, rows in shapes.items():
        conn.execute(_case_update_statement(columns), rows)
    updates.clear()
    return len(shapes)


_CASE_UPDATES: dict[tuple[str, ...], Any] = {}


def _case_update_statement(columns: tuple[str, ...]) -> Any:
    stmt = _CASE_UPDATES.get(columns)
    if stmt is None:
        values: dict[str, Any] = {}
        for name in columns:
            param = bindparam(f"b_{name}", type_=cases.c[name].type)
            values[name] = cases.c[name] + param if name in _COUNTERS else param
        stmt = _CASE_UPDATES[columns] = (
            update(cases).where(cases.c.id == bindparam("b_case_id")).values(values)
        )
    return stmt


_ACTIVE: weakref.WeakKeyDictionary[Connection, BatchWrites] = weakref.WeakKeyDictionary()


def pending(conn: Connection) -> BatchWrites | None:
    """The batch registered on this connection, or None (then writes go at once)."""
    return _ACTIVE.get(conn)


def settle(conn: Connection) -> None:
    """Flush the appends this connection holds back, so that the read that follows sees them."""
    writes = _ACTIVE.get(conn)
    if writes:
        writes.flush_appends(conn)


def settle_all(conn: Connection) -> None:
    """Flush everything held back, case changes included (before a case is written at once)."""
    writes = _ACTIVE.get(conn)
    if writes is not None:
        writes.open_requests = None  # a case's status or merge may change: read again
    if writes:
        writes.flush(conn)


def contacts_written(conn: Connection, ids: Iterable[int]) -> None:
    """These contacts' rows are written now: the batch's read of them no longer answers."""
    writes = _ACTIVE.get(conn)
    if writes is not None and writes.contacts_read is not None:
        writes.contacts_read.stale.update(ids)


def overlay_case(conn: Connection, case: dict[str, Any]) -> dict[str, Any]:
    """A case as read from the database, with the batch's held-back changes applied."""
    writes = _ACTIVE.get(conn)
    return case if writes is None else writes.overlay(case)


def pending_reference(conn: Connection, reference: str) -> int | None:
    """The id of a case opened in this batch whose reference is not written yet."""
    writes = _ACTIVE.get(conn)
    if writes is None:
        return None
    for case_id, changes in writes.case_updates.items():
        if changes.get("reference") == reference:
            return case_id
    return None


@contextmanager
def batch_writes(conn: Connection) -> Iterator[BatchWrites]:
    """Hold back appends and case changes on `conn` until the block ends, then flush them.

    An exception discards what is pending (the caller rolls the transaction back).
    """
    if conn in _ACTIVE:
        raise RuntimeError("a batch is already registered on this connection")
    writes = _ACTIVE[conn] = BatchWrites()
    try:
        yield writes
        writes.flush(conn)
    except BaseException:
        writes.discard()
        raise
    finally:
        _ACTIVE.pop(conn, None)


def hold_or_insert(conn: Connection, table: Table, row: dict[str, Any]) -> None:
    """Append a row to `audit` or `case_requests`: held back in a batch, else inserted now."""
    writes = _ACTIVE.get(conn)
    if writes is None:
        conn.execute(insert(table), row)
    elif table is audit:
        writes.audit.append(row)
    elif table is case_requests:
        writes.case_links.append(row)
    else:
        raise ValueError(f"{table.name} rows are not held back")


def schedule_timers(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Add wake-ups (case_id, event, due_at, rule_id), each once: held back in a batch."""
    writes = _ACTIVE.get(conn)
    if writes is None:
        insert_ignore_many(conn, timers, rows, ["case_id", "event", "due_at"])
    else:
        writes.timers.extend(rows)
