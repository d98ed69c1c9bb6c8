"""Requests as stored (raw message kept, size-capped) and the quarantine of unreadable items."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select, text

from bot.models import Attachment, Request, SourceRecord
from bot.store.batch import pending
from bot.store.schema import cases, quarantine, requests
from bot.store.sql import fit_to_columns, insert_ignore, utcnow

_SPACES = re.compile(r"\s+")


def body_fingerprint(text: str) -> str:
    """A hash of the cleaned body that ignores case and spacing: equal texts, equal hashes."""
    folded = _SPACES.sub(" ", text.casefold()).strip()
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()


def insert_request(
    conn: Connection,
    request: Request,
    *,
    case_id: int | None,
    contact_id: int | None,
    raw_max_bytes: int,
) -> int | None:
    """Store a request; None when (source, source_id) was stored already."""
    raw = request.raw or b""
    values: dict[str, Any] = {
        "source": request.source,
        "source_id": request.source_id,
        "channel": request.channel,
        "message_id": request.message_id,
        "in_reply_to": request.in_reply_to,
        "references": request.references,
        "thread_key": request.thread_key,
        "sender_email": request.sender_email,
        "sender_name": request.sender_name,
        "subject": request.subject,
        "body_text": request.body_text,
        "body_clean": request.body_clean,
        "body_hash": body_fingerprint(request.body_clean),
        "language": request.language,
        "received_at": request.received_at or utcnow(),
        "attachments": [asdict(a) for a in request.attachments],
        "auto_reply": request.auto_reply,
        "headers": request.headers,
        "defects": request.defects,
        "raw": raw[:raw_max_bytes] if raw else None,
        "raw_size": len(raw),
        "raw_truncated": len(raw) > raw_max_bytes,
        "contact_id": contact_id,
        "case_id": case_id,
        "created_at": utcnow(),
    }
    new_id = insert_ignore(
        conn, requests, fit_to_columns(requests, values), ["source", "source_id"]
    )
    writes = pending(conn)
    if writes is not None and writes.open_requests is not None and contact_id is not None:
        writes.open_requests.stale.add(contact_id)  # its read no longer holds every request
    seen = _seen_cache(conn)
    if seen is not None and new_id is not None:  # a later copy in the batch sees this one
        seen.rows.append(
            _SeenRow(new_id, case_id, request.source, request.source_id, request.message_id)
        )
    return new_id


_LOCK_MESSAGE_ID = text("SELECT pg_advisory_xact_lock(hashtext(:key))")


# Every lock of a batch in one statement, in one order (replicas never wait on each other in
# a cycle): the same keys as _LOCK_MESSAGE_ID.
_LOCK_MESSAGE_IDS = text(
    "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtext(m) AS h "
    "FROM unnest(CAST(:keys AS text[])) AS m ORDER BY h) AS locks"
)


def lock_message_id(conn: Connection, message_id: str) -> None:
    """PostgreSQL: wait for any other transaction storing this Message-ID (held to commit).

    Two replicas reading two mailboxes that got the same mail: the second waits for the
    first's transaction, then sees its request. A no-op on SQLite (one writer at a time), and
    for a Message-ID its batch locked already (`read_seen_for_batch`).
    """
    if conn.dialect.name != "postgresql":
        return
    seen = _seen_cache(conn)
    if seen is None or message_id not in seen.message_ids:
        conn.execute(_LOCK_MESSAGE_ID, {"key": message_id})


def find_seen(
    conn: Connection, source: str, source_id: str, message_id: str
) -> dict[str, Any] | None:
    """The stored request with this source id, or else with this Message-ID, if any."""
    seen = _seen_cache(conn)
    if seen is not None and seen.covers(source, source_id, message_id):
        rows: Sequence[Any] = seen.matching(source, source_id, message_id)
    else:
        rows = conn.execute(
            _SEEN, {"source": source, "source_id": source_id, "message_id": message_id}
        ).all()
    if not rows:
        return None
    same = [r for r in rows if r.source == source and r.source_id == source_id]
    found = (same or rows)[0]
    return {k: getattr(found, k) for k in ("id", "case_id", "source", "source_id")}


@dataclass(slots=True)
class _SeenRow:
    id: int
    case_id: int | None
    source: str
    source_id: str
    message_id: str


@dataclass(slots=True)
class SeenCache:
    """The stored requests a batch's messages may repeat (by source id or Message-ID), read
    once for the batch, and those the batch stored since."""

    source_ids: set[tuple[str, str]]
    message_ids: set[str]
    rows: list[_SeenRow] = field(default_factory=list)  # in id order

    def covers(self, source: str, source_id: str, message_id: str) -> bool:
        """True when both keys were read for the batch (else the caller asks the table)."""
        return (source, source_id) in self.source_ids and message_id in self.message_ids

    def matching(self, source: str, source_id: str, message_id: str) -> list[_SeenRow]:
        """What `_SEEN` would read: the rows with this source id or Message-ID, oldest first."""
        found = [
            r
            for r in self.rows
            if (r.source == source and r.source_id == source_id) or r.message_id == message_id
        ]
        return sorted(found, key=lambda r: r.id)[:5]


def _seen_cache(conn: Connection) -> SeenCache | None:
    writes = pending(conn)
    return None if writes is None else writes.seen


def read_seen_for_batch(conn: Connection, keys: Sequence[tuple[str, str, str]]) -> None:
    """Before a batch's messages are checked one by one: lock every Message-ID of the batch
    (PostgreSQL) and read every stored request they may repeat, in one statement each;
    `find_seen` then answers from that (and from what the batch stores meanwhile).

    `keys` are (source, source_id, message_id). A no-op outside a batch (bot/store/batch.py).
    """
    writes = pending(conn)
    if writes is None or not keys:
        return
    message_ids = sorted({m for _, _, m in keys})
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK_MESSAGE_IDS, {"keys": message_ids})
    by_source: dict[str, list[str]] = {}
    for source, source_id, _ in keys:
        by_source.setdefault(source, []).append(source_id)
    same_item = [
        (requests.c.source == source) & requests.c.source_id.in_(ids)
        for source, ids in by_source.items()
    ]
    rows = conn.execute(
        select(
            requests.c.id,
            requests.c.case_id,
            requests.c.source,
            requests.c.source_id,
            requests.c.message_id,
        )
        .where(or_(*same_item, requests.c.message_id.in_(message_ids)))
        .order_by(requests.c.id)
    ).all()
    writes.seen = SeenCache(
        source_ids={(source, source_id) for source, source_id, _ in keys},
        message_ids=set(message_ids),
        rows=[_SeenRow(*r) for r in rows],
    )


_SEEN = (
    select(requests.c.id, requests.c.case_id, requests.c.source, requests.c.source_id)
    .where(
        or_(
            (requests.c.source == bindparam("source"))
            & (requests.c.source_id == bindparam("source_id")),
            requests.c.message_id == bindparam("message_id"),
        )
    )
    .order_by(requests.c.id)
    .limit(5)
)


def case_of_thread_key(conn: Connection, thread_key: str) -> int | None:
    """The case that an earlier version of the same CRM ticket belongs to."""
    return conn.execute(
        select(requests.c.case_id)
        .where(requests.c.thread_key == thread_key, requests.c.case_id.is_not(None))
        .order_by(requests.c.id.desc())
        .limit(1)
    ).scalar()


OwnValues = Callable[[int, datetime], Mapping[str, Collection[str]]]
TICKET_FIELDS_READ = ("status", "priority")


def unchanged_ticket_version(
    conn: Connection, request: Request, own: OwnValues | None = None
) -> int | None:
    """The id of the latest stored version of the same CRM ticket when this version changes
    nothing crmbot reads (subject, text, status, priority) but what crmbot wrote itself, or
    fields it does not read. None when something else changed or the ticket is new.

    `own(case_id, since)`: field -> the values crmbot's own writes to this ticket set since
    that version was stored (bot/own_writes.py); asked only when status or priority moved.
    """
    if request.thread_key is None:
        return None
    row = conn.execute(
        select(
            requests.c.id,
            requests.c.case_id,
            requests.c.subject,
            requests.c.body_hash,
            requests.c.headers,
            requests.c.created_at,
        )
        .where(requests.c.thread_key == request.thread_key)
        .order_by(requests.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    if row.subject != request.subject or row.body_hash != body_fingerprint(request.body_clean):
        return None
    before, now = row.headers or {}, request.headers
    moved = [f for f in TICKET_FIELDS_READ if before.get(f) != now.get(f)]
    if not moved:
        return int(row.id)
    if own is None or row.case_id is None:
        return None
    mine = own(int(row.case_id), row.created_at)
    theirs = [f for f in moved if now.get(f) is None or now[f] not in mine.get(f, ())]
    return None if theirs else int(row.id)


def first_thread_key(conn: Connection, case_id: int) -> str | None:
    """The CRM ticket key ("source:id") of a case's first ticket request, if it has one."""
    return conn.execute(
        select(requests.c.thread_key)
        .where(requests.c.case_id == case_id, requests.c.thread_key.is_not(None))
        .order_by(requests.c.id)
        .limit(1)
    ).scalar()


def requests_of_case(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    """A case's requests (with those of cases merged into it), oldest first, without raw.

    One statement: the merge chain is walked in SQL. Nothing this reads is held back in a
    batch (requests are inserted at once, merges written at once), so nothing is flushed.
    """
    return [dict(r._mapping) for r in conn.execute(_REQUESTS_OF_CASE, {"case_id": case_id})]


def _requests_of_case_statement() -> Any:
    # the case, then every case merged into one of the chain (UNION: a cycle ends)
    start = select(bindparam("case_id", type_=requests.c.case_id.type).label("id"))
    chain = start.cte("merge_chain", recursive=True)
    chain = chain.union(select(cases.c.id).where(cases.c.merged_into == chain.c.id))
    cols = [c for c in requests.c if c.name != "raw"]
    return select(*cols).where(requests.c.case_id.in_(select(chain.c.id))).order_by(requests.c.id)


_REQUESTS_OF_CASE = _requests_of_case_statement()


def quarantine_record(
    conn: Connection, record: SourceRecord, reason: str, *, raw_max_bytes: int
) -> bool:
    """Keep an item that could not be processed, with why; False if it was already there."""
    raw = record.raw or b""
    version = record.fields.get("version") if record.kind == "ticket" else None
    new_id = insert_ignore(
        conn,
        quarantine,
        {
            "source": record.source,
            # each version of a CRM ticket is its own item: a later one is never hidden
            "source_id": f"{record.source_id}@{version}"[:300] if version else record.source_id,
            "reason": reason[:4000],
            "raw": raw[:raw_max_bytes] if raw else None,
            "raw_size": record.size or len(raw),
            "created_at": utcnow(),
        },
        ["source", "source_id"],
    )
    return new_id is not None


def quarantined(conn: Connection) -> list[dict[str, Any]]:
    """Every quarantined item, newest first, without the raw bytes."""
    cols = [c for c in quarantine.c if c.name != "raw"]
    return [dict(r._mapping) for r in conn.execute(select(*cols).order_by(quarantine.c.id.desc()))]


def request_from_row(row: dict[str, Any]) -> Request:
    """Rebuild a Request from its stored row (for decisions taken later, on timers)."""
    return Request(
        source=row["source"],
        source_id=row["source_id"],
        channel=row["channel"],
        message_id=row["message_id"],
        subject=row["subject"],
        body_text=row["body_text"],
        body_clean=row["body_clean"],
        sender_email=row["sender_email"],
        sender_name=row["sender_name"],
        in_reply_to=row["in_reply_to"],
        references=list(row["references"] or []),
        thread_key=row["thread_key"],
        language=row["language"],
        received_at=row["received_at"],
        attachments=[Attachment(**a) for a in row["attachments"] or []],
        auto_reply=row["auto_reply"],
        headers=dict(row["headers"] or {}),
        defects=list(row["defects"] or []),
    )


_OPEN_REQUEST_COLUMNS = (
    requests.c.case_id,
    requests.c.subject,
    requests.c.body_clean,
    requests.c.body_hash,
    requests.c.received_at,
    requests.c.sender_email,
    requests.c.sender_name,
    cases.c.category,
    cases.c.reference,
    cases.c.subject.label("case_subject"),
)
# Newest first; the id parts requests received at the same moment (the last stored first).
_NEWEST_FIRST = (requests.c.received_at.desc(), requests.c.id.desc())
# Contacts per read of `read_open_requests_for_batch` (bound parameters stay few).
OPEN_READ_CONTACTS = 500


def _open_where(since: Any, open_statuses: Iterable[str]) -> tuple[Any, ...]:
    return (
        requests.c.received_at >= since,
        cases.c.status.in_(sorted(str(s) for s in open_statuses)),
        cases.c.merged_into.is_(None),
    )


@dataclass(slots=True)
class OpenRequestsRead:
    """Some contacts' requests in open, unmerged cases since a time, newest first, at most
    `limit` each: what `recent_open_requests` reads, read once for a batch."""

    since: Any
    statuses: frozenset[str]
    limit: int
    rows: dict[int, list[Any]]  # every contact read, with or without requests
    stale: set[int] = field(default_factory=set)  # the batch stored a request of these since

    def answer(
        self, contact_id: int, since: Any, statuses: frozenset[str], limit: int
    ) -> list[Any] | None:
        """The rows the query would read now, or None when this read cannot tell."""
        rows = self.rows.get(contact_id)
        if (
            rows is None
            or contact_id in self.stale
            or statuses != self.statuses
            or limit > self.limit
            or since < self.since
        ):
            return None
        # Newest first: the rows since `since` are the first ones (and at most `limit`).
        return [row for row in rows if row.received_at >= since][:limit]


def read_open_requests_for_batch(
    conn: Connection,
    contact_ids: Iterable[int],
    since: Any,
    open_statuses: Iterable[str],
    limit: int,
) -> None:
    """Read `recent_open_requests` of all these contacts at once (since the earliest `since`
    of the batch's messages); the batch's lookups then answer from it while it holds. A
    no-op outside a batch (bot/store/batch.py)."""
    writes = pending(conn)
    ids = sorted(set(contact_ids))
    if writes is None or not ids:
        return
    read = OpenRequestsRead(since, frozenset(str(s) for s in open_statuses), limit, {})
    for start in range(0, len(ids), OPEN_READ_CONTACTS):
        chunk = ids[start : start + OPEN_READ_CONTACTS]
        rank = (
            func.row_number()
            .over(partition_by=requests.c.contact_id, order_by=_NEWEST_FIRST)
            .label("rank")
        )
        ranked = (
            select(*_OPEN_REQUEST_COLUMNS, requests.c.contact_id, requests.c.id, rank)
            .join(cases, cases.c.id == requests.c.case_id)
            .where(requests.c.contact_id.in_(chunk), *_open_where(since, read.statuses))
            .subquery()
        )
        names = [c.name for c in _OPEN_REQUEST_COLUMNS]
        query = (
            select(*(ranked.c[n] for n in names), ranked.c.contact_id)
            .where(ranked.c.rank <= limit)
            .order_by(ranked.c.contact_id, ranked.c.received_at.desc(), ranked.c.id.desc())
        )
        for contact_id in chunk:
            read.rows[contact_id] = []
        for row in conn.execute(query):
            read.rows[row.contact_id].append(row)
    writes.open_requests = read


def recent_open_requests(
    conn: Connection,
    contact_id: int,
    since: Any,
    open_statuses: Iterable[str],
    limit: int,
) -> list[Any]:
    """A contact's requests since a time in open, unmerged cases, newest first, with their
    case's reference, subject and category (the candidates a new request may repeat).

    In a batch that read them ahead (`read_open_requests_for_batch`), from that read while it
    holds: no statement.
    """
    writes = pending(conn)
    ahead = None if writes is None else writes.open_requests
    statuses = frozenset(str(s) for s in open_statuses)
    rows = None if ahead is None else ahead.answer(contact_id, since, statuses, limit)
    if rows is None:
        query = (
            select(*_OPEN_REQUEST_COLUMNS)
            .join(cases, cases.c.id == requests.c.case_id)
            .where(requests.c.contact_id == contact_id, *_open_where(since, statuses))
            .order_by(*_NEWEST_FIRST)
            .limit(limit)
        )
        rows = list(conn.execute(query).all())
    if writes is None or not writes.case_updates:
        return rows
    # the references and categories of cases decided earlier in this batch, not written yet
    changed: list[Any] = []
    for row in rows:
        held: dict[str, Any] = writes.case_updates.get(row.case_id) or {}
        keep = {k: held[k] for k in ("reference", "category") if k in held}
        fields: dict[str, Any] = dict(row._mapping)
        changed.append(SimpleNamespace(**(fields | keep)) if keep else row)
    return changed


def cases_of_message_ids(conn: Connection, message_ids: list[str]) -> list[tuple[int, str]]:
    """Every case holding a stored request whose Message-ID is in the list (newest first),
    each once, with the Message-ID that names it."""
    if not message_ids:
        return []
    rows = conn.execute(
        select(requests.c.case_id, requests.c.message_id)
        .where(requests.c.message_id.in_(message_ids[-50:]), requests.c.case_id.is_not(None))
        .order_by(requests.c.id.desc())
    ).all()
    seen: dict[int, str] = {}
    for case_id, message_id in rows:
        seen.setdefault(case_id, message_id)
    return list(seen.items())


def previous_ticket_headers(
    conn: Connection, thread_key: str, before_id: int
) -> dict[str, Any] | None:
    """The headers (status, priority, version) of the version of a CRM ticket stored last
    before request `before_id`."""
    row = conn.execute(
        select(requests.c.headers)
        .where(requests.c.thread_key == thread_key, requests.c.id < before_id)
        .order_by(requests.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else dict(row[0] or {})
