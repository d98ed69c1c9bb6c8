"""The outbox: planned effects, recorded with their idempotency key before they happen.

A dispatcher claims a few rows of one sink (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
replicas never take the same row), performs them, and marks each one done as soon as its sink
says it was performed. A claim is a short lease that its holder renews while it works; a
claim whose worker died comes back when its `claimed_until` has passed.

`attempts` counts real attempts only (the sink tried the effect and it failed): a claim, an
outage of the sink or a deferral (rate limit) does not use one up.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, select, text, update

from bot.store.schema import outbox
from bot.store.sql import insert_ignore, utcnow

MAX_ATTEMPTS = 8


def enqueue(
    conn: Connection,
    *,
    idempotency_key: str,
    sink: str,
    action: str,
    payload: dict[str, Any],
    case_id: int | None,
    rule_id: str | None = None,
    available_at: datetime | None = None,
    state: str = "pending",
    result: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> int | None:
    """Plan an effect; None when an effect with this key was planned already (harmless).

    `state="refused"` records an action no sink performs, with `result={"reason": ...}`.
    """
    # `now` is the pipeline's clock (when the decision was taken: the reply limits count it);
    # due times stay on the store's clock, which the dispatcher's claim compares with.
    stored_at = utcnow()
    now = now or stored_at
    return insert_ignore(
        conn,
        outbox,
        {
            "idempotency_key": idempotency_key[:300],
            "case_id": case_id,
            "sink": sink,
            "action": action,
            "payload": payload,
            "rule_id": rule_id,
            "state": state,
            "result": result,
            "attempts": 0,
            "available_at": available_at or stored_at,
            "created_at": now,
            "updated_at": stored_at,
        },
        ["idempotency_key"],
    )


_LAST_WRITTEN = (
    select(outbox.c.payload)
    .where(
        outbox.c.case_id == bindparam("case_id"),
        outbox.c.action == "update_fields",
        outbox.c.state == "done",
    )
    .order_by(outbox.c.id.desc())
    .limit(1)
)


def last_written_fields(conn: Connection, case_id: int) -> dict[str, Any] | None:
    """The CRM fields of the case's latest performed write-back, or None."""
    payload = conn.execute(_LAST_WRITTEN, {"case_id": case_id}).scalar()
    return None if payload is None else payload.get("fields")


# Finished rows count from when they were finished; planned ones (not performed yet, or
# performed without crmbot knowing: an answer lost to a reset) count always. Every finished
# state counts, not only done: a row can end skipped, conflict or dead after part of its
# effect landed (a HubSpot escalation whose priority was written but whose note was refused
# ends skipped), and its values are on the ticket all the same.
_UNFINISHED = ("pending", "claimed")


def writes_since(
    conn: Connection, case_id: int, sink: str, since: datetime
) -> list[dict[str, Any]]:
    """A case's rows for one sink that may have changed the CRM since `since`: planned or in
    flight, or finished (in any state) since then; oldest first."""
    rows = conn.execute(
        select(outbox.c.id, outbox.c.idempotency_key, outbox.c.action, outbox.c.payload)
        .where(
            outbox.c.case_id == case_id,
            outbox.c.sink == sink,
            outbox.c.state.in_(_UNFINISHED) | (outbox.c.updated_at >= since),
        )
        .order_by(outbox.c.id)
    ).all()
    return [dict(r._mapping) for r in rows]


# One lock per case (the two-key form: a lock space apart from the one-key locks of
# `requests.lock_message_id` and the migrations), all of a claim's in one statement and in one
# order, so two replicas never wait on each other in a cycle. Held to the claim's commit.
_LOCK_CASES = text(
    "SELECT pg_advisory_xact_lock(1869968482, k) FROM (SELECT DISTINCT "
    "CAST(c % 2147483647 AS integer) AS k FROM unnest(CAST(:cases AS bigint[])) AS c "
    "ORDER BY k) AS locks"
)


@dataclass(slots=True)
class _CaseClaims:
    """What the rows about to be claimed share with the other rows of their cases."""

    first: set[tuple[int, str]]  # (case, sink) never handed to that sink before
    busy: set[tuple[int, str]]  # (case, sink) with a live claim held by another owner
    tickets: dict[tuple[int, str], str]  # the record the sink last reported for the case


def _case_claims(
    conn: Connection, pairs: set[tuple[int, str]], owner: str, now: datetime
) -> _CaseClaims:
    """Read, for the (case, sink) pairs of the rows about to be claimed, which were never
    handed to that sink (nothing of the case can exist there yet, unless made by hand), which
    another replica is performing right now, and the record (`ticket_id`) the sink reported
    for the case in an action done before. Read before the claim marks these rows.

    Two replicas claiming two rows of one new case at once would both read "never handed"
    before either commits (each skips the other's locked row), and both would create the
    case in the sink. On PostgreSQL each claim therefore waits for any other uncommitted
    claim touching the same cases (an advisory lock per case, held to commit), then reads:
    the second sees the first's claim. On SQLite one writer at a time already serialises
    claims.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK_CASES, {"cases": sorted({c for c, _ in pairs})})
    seen: set[tuple[int, str]] = set()
    busy: set[tuple[int, str]] = set()
    tickets: dict[tuple[int, str], str] = {}
    rows = conn.execute(
        select(
            outbox.c.case_id,
            outbox.c.sink,
            outbox.c.state,
            outbox.c.claimed_by,
            outbox.c.claimed_until,
            case((outbox.c.state == "done", outbox.c.result), else_=None).label("result"),
        )
        .where(
            outbox.c.case_id.in_({c for c, _ in pairs}),
            outbox.c.claimed_by.is_not(None),
        )
        .order_by(outbox.c.id)
    )
    for r in rows:
        pair = (r.case_id, r.sink)
        if pair not in pairs:
            continue
        seen.add(pair)
        live = r.claimed_until is not None and r.claimed_until >= now
        if r.state == "claimed" and r.claimed_by != owner and live:
            busy.add(pair)
        result = r.result
        if isinstance(result, str):
            result = json.loads(result)
        if isinstance(result, dict) and result.get("ticket_id"):
            tickets[pair] = str(result["ticket_id"])  # the newest done row's wins
    return _CaseClaims(pairs - seen, busy, tickets)


def claim(
    conn: Connection,
    owner: str,
    *,
    limit: int = 20,
    lease_seconds: float = 60.0,
    sink: str | None = None,
    not_sinks: Collection[str] = (),
    max_attempts: int | None = None,
) -> list[dict[str, Any]]:
    """Claim due pending rows (and stalled claims), of one sink if given; inside a transaction.

    A claim is not an attempt, except the takeover of a stalled claim: its holder died while
    performing it, perhaps because of it. After `max_attempts` such deaths (and real failed
    attempts) the row is dead, so an effect that kills the worker is not tried for ever.
    """
    now = utcnow()
    due = ((outbox.c.state == "pending") & (outbox.c.available_at <= now)) | (
        (outbox.c.state == "claimed") & (outbox.c.claimed_until < now)
    )
    if sink is not None:
        due = due & (outbox.c.sink == sink)
    if not_sinks:
        due = due & outbox.c.sink.not_in(list(not_sinks))
    other = outbox.alias("other")
    performed_elsewhere = (
        select(other.c.id)
        .where(
            other.c.case_id == outbox.c.case_id,
            other.c.sink == outbox.c.sink,
            other.c.state == "claimed",
            other.c.claimed_by != owner,
            other.c.claimed_until >= now,
        )
        .exists()
    )
    due = due & ~performed_elsewhere  # see _case_claims for the claims not committed yet
    query = select(outbox.c.id).where(due).order_by(outbox.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(conn.execute(query).scalars())
    if not ids:
        return []
    pair_of = {
        r.id: (r.case_id, r.sink)
        for r in conn.execute(
            select(outbox.c.id, outbox.c.case_id, outbox.c.sink).where(
                outbox.c.id.in_(ids), outbox.c.case_id.is_not(None)
            )
        )
    }
    shared = _CaseClaims(set(), set(), {})
    if pair_of:
        shared = _case_claims(conn, set(pair_of.values()), owner, now)
        # A case another replica is performing for this sink waits for it: one replica at a
        # time performs a case's actions in a sink, in order, and the next one knows what the
        # previous one opened there (its `ticket_id`) instead of looking for it.
        ids = [i for i in ids if pair_of.get(i) not in shared.busy]
        if not ids:
            return []
    conn.execute(
        update(outbox)
        .where(outbox.c.id.in_(ids))
        .values(
            state="claimed",
            claimed_by=owner,
            claimed_until=now + timedelta(seconds=lease_seconds),
            # evaluated on the row before this update: a stalled claim is taken over
            attempts=case(
                (outbox.c.state == "claimed", outbox.c.attempts + 1), else_=outbox.c.attempts
            ),
            updated_at=now,
        )
    )
    rows = [
        dict(r._mapping)
        for r in conn.execute(select(outbox).where(outbox.c.id.in_(ids)).order_by(outbox.c.id))
    ]
    for row in rows:
        pair = (row["case_id"], row["sink"])
        row["first_of_case"] = pair in shared.first
        row["case_ticket"] = shared.tickets.get(pair)
    if max_attempts is None:
        return rows
    killed = [r["id"] for r in rows if r["attempts"] >= max_attempts]
    if killed:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(killed))
            .values(
                state="dead",
                claimed_until=None,
                last_error=f"the worker stopped while performing it {max_attempts} times",
                updated_at=now,
            )
        )
    return [r for r in rows if r["id"] not in killed]


def renew(conn: Connection, ids: Collection[int], owner: str, lease_seconds: float) -> int:
    """Extend our claims on these rows (the heartbeat); returns how many are still ours."""
    if not ids:
        return 0
    return conn.execute(
        update(outbox)
        .where(
            outbox.c.id.in_(list(ids))
            & (outbox.c.state == "claimed")
            & (outbox.c.claimed_by == owner)
        )
        .values(claimed_until=utcnow() + timedelta(seconds=lease_seconds))
    ).rowcount


def _ours(row: dict[str, Any]) -> Any:
    """Only the claim we hold: a claim that expired and was taken by another replica is theirs."""
    return (
        (outbox.c.id == row["id"])
        & (outbox.c.state == "claimed")
        & (outbox.c.claimed_by == row["claimed_by"])
    )


def finish(conn: Connection, row: dict[str, Any], state: str, result: dict[str, Any]) -> bool:
    """Mark our claimed row done, skipped or conflict; False if the claim was lost meanwhile."""
    done = conn.execute(
        update(outbox)
        .where(_ours(row))
        .values(state=state, result=result, claimed_until=None, updated_at=utcnow())
    )
    return done.rowcount == 1


def mark_performed(
    conn: Connection, row: dict[str, Any], state: str, result: dict[str, Any]
) -> bool:
    """Record that the sink performed this row (done, skipped, conflict), even if our claim
    lapsed meanwhile: it did happen. False if the row was finished already."""
    done = conn.execute(
        update(outbox)
        .where((outbox.c.id == row["id"]) & outbox.c.state.in_(("pending", "claimed", "dead")))
        .values(state=state, result=result, claimed_until=None, updated_at=utcnow())
    )
    return done.rowcount == 1


def retry_later(
    conn: Connection,
    row: dict[str, Any],
    error: str,
    delay: float,
    *,
    attempted: bool = True,
    max_attempts: int = MAX_ATTEMPTS,
) -> str | None:
    """Put our row back for later, or mark it dead after `max_attempts` real failed attempts.

    `attempted=True`: the sink tried the effect and it failed (uses up an attempt).
    `attempted=False`: nothing was tried (an outage of the sink, a rate limit, greylisting
    before sending, a store outage): the row comes back without using one.
    Returns the new state, or None if the claim had been lost to another replica.
    """
    attempts = row["attempts"] + 1 if attempted else row["attempts"]
    state = "dead" if attempted and attempts >= max_attempts else "pending"
    done = conn.execute(
        update(outbox)
        .where(_ours(row))
        .values(
            state=state,
            attempts=attempts,
            last_error=error[:2000],
            available_at=utcnow() + timedelta(seconds=delay),
            claimed_until=None,
            updated_at=utcnow(),
        )
    )
    return state if done.rowcount == 1 else None


def requeue_dead(conn: Connection) -> int:
    """Give every dead row a fresh start (after the admin fixed the cause); returns how many."""
    return conn.execute(
        update(outbox)
        .where(outbox.c.state == "dead")
        .values(state="pending", attempts=0, available_at=utcnow(), updated_at=utcnow())
    ).rowcount


def dead_rows(conn: Connection, limit: int = 200) -> list[dict[str, Any]]:
    """Rows given up on, newest first, with their last error."""
    rows = conn.execute(
        select(outbox).where(outbox.c.state == "dead").order_by(outbox.c.id.desc()).limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def refused_rows(conn: Connection, limit: int = 200) -> list[dict[str, Any]]:
    """Rows not performed (refused or skipped), newest first, with the reason in `result`."""
    rows = conn.execute(
        select(outbox)
        .where(outbox.c.state.in_(("refused", "skipped")))
        .order_by(outbox.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def counts(conn: Connection) -> dict[str, int]:
    """Number of outbox rows in each state."""
    rows = conn.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state))
    return {state: n for state, n in rows}


def rows_of_case(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    """A case's planned and performed effects, oldest first."""
    rows = conn.execute(select(outbox).where(outbox.c.case_id == case_id).order_by(outbox.c.id))
    return [dict(r._mapping) for r in rows]
