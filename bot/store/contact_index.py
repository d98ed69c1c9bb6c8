"""The contact index as stored: blocking keys in `contact_keys`, the normalised profile in
`contacts.attributes["identity"]` (read and written by bot/identity/index.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa

from bot.errors import ConfigError
from bot.store.batch import contacts_written, pending, settle
from bot.store.contacts import read_contact
from bot.store.schema import contact_keys, contacts
from bot.store.sql import fit_to_columns


@cache
def _mark(paramstyle: str) -> str:
    if paramstyle not in ("qmark", "format", "pyformat"):
        raise ConfigError(f"contact index: unsupported DB-API paramstyle {paramstyle!r}")
    return "?" if paramstyle == "qmark" else "%s"


@cache
def _key_query(mark: str, n: int) -> str:
    """(key, contact_id) under n keys, each key read with its own LIMIT (cap + 1).

    A very common key thus costs at most cap + 1 index entries.
    """
    return " UNION ALL ".join(
        f"SELECT * FROM (SELECT key, contact_id FROM contact_keys "
        f"WHERE key = {mark} LIMIT {mark}) AS q{i}"
        for i in range(n)
    )


@cache
def _row_query(mark: str, n: int) -> str:
    """(id, merged_into, attributes) of n contacts by id."""
    marks = ", ".join([mark] * n)
    return f"SELECT id, merged_into, attributes FROM contacts WHERE id IN ({marks})"


def _driver_rows(conn: sa.Connection, sql: str, params: list[Any]) -> list[Any]:
    # The two hot reads skip SQLAlchemy's statement compilation (it costs more than the
    # query on SQLite); they still run in the caller's transaction and are seen by its
    # events (statement counts, echo).
    return list(conn.exec_driver_sql(sql, tuple(params)).all())


def contacts_under_keys(conn: sa.Connection, caps: dict[str, int]) -> list[tuple[str, int]]:
    """(key, contact id) for each key, at most its cap + 1 contacts per key; one query.

    The keys of contacts created earlier in the batch, held back (bot/store/batch.py), are
    added to what the table holds.
    """
    if not caps:
        return []
    writes = pending(conn)
    read = None if writes is None else writes.keys_read
    if read is not None and all(key in read for key in caps):  # read once for the batch
        found = [(key, cid) for key, cap in caps.items() for cid in read[key][: cap + 1]]
    else:
        found = _read_keys(conn, caps)
    if writes is None or not writes.contact_keys:
        return found
    counts: dict[str, int] = {}
    for key, _ in found:
        counts[key] = counts.get(key, 0) + 1
    for row in writes.contact_keys:
        key = row["key"]
        if key in caps and counts.get(key, 0) <= caps[key]:
            found.append((key, row["contact_id"]))
            counts[key] = counts.get(key, 0) + 1
    return found


def _read_keys(conn: sa.Connection, caps: dict[str, int]) -> list[tuple[str, int]]:
    params: list[Any] = []
    for key, cap in caps.items():
        params += (key, cap + 1)
    sql = _key_query(_mark(conn.dialect.paramstyle), len(caps))
    return [(key, cid) for key, cid in _driver_rows(conn, sql, params)]


# Keys read for a batch per statement, at most (a statement's parameters stay few).
BATCH_KEYS_PER_READ = 200


def read_keys_for_batch(conn: sa.Connection, caps: dict[str, int]) -> None:
    """Read the contacts under every key of a batch's senders at once (each key capped as in
    `contacts_under_keys`); the batch's lookups then answer from that. A no-op outside a
    batch (bot/store/batch.py)."""
    writes = pending(conn)
    if writes is None or not caps:
        return
    read: dict[str, list[int]] = {key: [] for key in caps}
    items = list(caps.items())
    for start in range(0, len(items), BATCH_KEYS_PER_READ):
        for key, cid in _read_keys(conn, dict(items[start : start + BATCH_KEYS_PER_READ])):
            read[key].append(cid)
    writes.keys_read = read


def identity_rows(conn: sa.Connection, ids: Sequence[int]) -> list[tuple[int, Any, Any]]:
    """(id, merged_into, attributes) of these contacts; one query, or none when the batch
    read them all (bot/store/contacts.py: `read_contacts_for_batch`)."""
    if not ids:
        return []
    read = [read_contact(conn, cid) for cid in ids]
    if all(row is not None for row in read):
        return [(row["id"], row["merged_into"], row["attributes"]) for row in read if row]
    sql = _row_query(_mark(conn.dialect.paramstyle), len(ids))
    return [(cid, merged, attrs) for cid, merged, attrs in _driver_rows(conn, sql, list(ids))]


_INSERT_CONTACT = contacts.insert().returning(*contacts.c)


def insert_indexed_contact(
    conn: sa.Connection, row: dict[str, Any], keys: Sequence[str]
) -> dict[str, Any]:
    """Insert a new contact (its id from the database) and its keys; returns it as stored."""
    values = fit_to_columns(contacts, row)
    values.pop("id", None)
    stored = dict(conn.execute(_INSERT_CONTACT, values).one()._mapping)
    add_keys(conn, stored["id"], keys)
    return stored


def insert_contacts(
    conn: sa.Connection, rows: list[dict[str, Any]], key_rows: list[dict[str, Any]]
) -> None:
    """Bulk-insert contacts whose ids are given, and their keys (one statement each)."""
    if rows:
        contacts_written(conn, [row["id"] for row in rows])
        conn.execute(contacts.insert(), rows)
    if key_rows:
        conn.execute(contact_keys.insert(), key_rows)


def identity_and_ids(conn: sa.Connection, contact_id: int) -> Any:
    """(attributes, external_ids) of a contact, or None when it does not exist."""
    return conn.execute(
        sa.select(contacts.c.attributes, contacts.c.external_ids).where(contacts.c.id == contact_id)
    ).first()


def contact_attributes(conn: sa.Connection, contact_id: int) -> Any:
    """The attributes of a contact (None when it does not exist)."""
    return conn.execute(
        sa.select(contacts.c.attributes).where(contacts.c.id == contact_id)
    ).scalar()


def update_identity(
    conn: sa.Connection,
    contact_id: int,
    attributes: dict[str, Any],
    external_ids: dict[str, Any],
    now: datetime,
) -> None:
    """Store a contact's new attributes (profile included) and CRM ids."""
    contacts_written(conn, [contact_id])
    conn.execute(
        contacts.update()
        .where(contacts.c.id == contact_id)
        .values(attributes=attributes, external_ids=external_ids, updated_at=now)
    )


def keys_held(conn: sa.Connection, contact_id: int, keys: Sequence[str]) -> set[str]:
    """Which of these keys the contact is indexed under (through the primary key)."""
    settle(conn)
    return set(
        conn.execute(
            sa.select(contact_keys.c.key).where(
                contact_keys.c.key.in_(sorted(keys)), contact_keys.c.contact_id == contact_id
            )
        ).scalars()
    )


def drop_keys(conn: sa.Connection, contact_id: int, keys: Sequence[str]) -> None:
    """Stop indexing a contact under these keys."""
    if keys:
        settle(conn)
        writes = pending(conn)
        if writes is not None and writes.keys_read is not None:
            for key in keys:
                if contact_id in writes.keys_read.get(key, ()):
                    writes.keys_read[key].remove(contact_id)
        conn.execute(
            contact_keys.delete().where(
                contact_keys.c.key.in_(sorted(keys)), contact_keys.c.contact_id == contact_id
            )
        )


def add_keys(conn: sa.Connection, contact_id: int, keys: Sequence[str]) -> None:
    """Index a contact under these keys (each once); held back in a batch."""
    rows = [{"key": k, "contact_id": contact_id} for k in dict.fromkeys(keys)]
    writes = pending(conn)
    if writes is not None:
        writes.contact_keys.extend(rows)
    elif rows:
        conn.execute(contact_keys.insert(), rows)
