"""When an agent confirms two cases are one, the CRM tickets behind them can be merged too."""

from __future__ import annotations

from sqlalchemy import Connection

from bot.actions import Merge
from bot.entities import Case, ThreadKey
from bot.routing import route
from bot.store import outbox as outbox_store
from bot.store.cases import merged_into_chain
from bot.store.requests import first_thread_key
from connectors.kit.writeback import WriteBackSettings


def _ticket_of(conn: Connection, case_id: int) -> tuple[str, str] | None:
    """(source, ticket id) of the first CRM ticket in a case, if it has one."""
    key = first_thread_key(conn, case_id)
    if key is None:
        return None
    ticket = ThreadKey.parse(key)
    return ticket.source, ticket.ticket_id


def plan_crm_merge(
    conn: Connection,
    write_back: WriteBackSettings,
    survivor: Case,
    absorbed: Case,
) -> str:
    """Plan the CRM merge of `absorbed`'s ticket into `survivor`'s; says what was done.

    Only when both tickets live in the same CRM source and that source writes back to a sink;
    the sink then merges only if its admin enabled it (HubSpot `enable_merge`).
    """
    ours = _ticket_of(conn, survivor.id)
    theirs = next(
        (t for cid in merged_into_chain(conn, absorbed.id) if (t := _ticket_of(conn, cid))),
        None,
    )
    if ours is None or theirs is None:
        return "no CRM ticket to merge (mail only)"
    if ours[0] != theirs[0]:
        return f"tickets live in different systems ({ours[0]}, {theirs[0]}): not merged there"
    sink = write_back.sink_for(ours[0])
    if not sink:
        return f"source {ours[0]} has no write_back sink: the CRM tickets are left as they are"
    where = route(write_back, "merge", ours[0])
    if where.sink is None:
        return f"the CRM tickets are left as they are: {where.refusal}"
    outbox_store.enqueue(
        conn,
        idempotency_key=f"{survivor.reference}/crmbot/merge/{theirs[1]}",
        sink=sink,
        action="merge",
        payload={
            **Merge(into=ours[1]).payload(),
            "target": {"type": "ticket", "id": theirs[1]},
            "case_reference": survivor.reference,
        },
        case_id=survivor.id,
    )
    return f"ticket {theirs[1]} will be merged into {ours[1]} in {ours[0]} (if {sink} allows)"
