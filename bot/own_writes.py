"""What crmbot itself wrote, or is writing, to a CRM ticket, as the CRM's source reads it back.

A polled version of a ticket whose only changes are these values is crmbot's own write-back
read back, not a new request (bot/store/requests.py: unchanged_ticket_version). Each sink's
connector says what an action sets among the fields the source reads (`ConnectorSpec.
read_back`); the actions are the outbox rows of the ticket's case, to the source's write-back
sink, planned or in flight, or finished (done, but also skipped or dead: part of an action may
have landed) since the last version was stored.
"""

from __future__ import annotations

from datetime import datetime

from bot.errors import ConfigError
from bot.pipeline import StageContext
from bot.store.outbox import writes_since
from connectors.base import SinkAction


def own_ticket_values(
    ctx: StageContext, source: str, thread_key: str, case_id: int, since: datetime
) -> dict[str, set[str]]:
    """Field ("status", "priority") -> the values crmbot's writes set on this ticket."""
    from bot.registry import get_connector

    write_back = ctx.write_back()
    sink = write_back.sink_for(source)
    conf = write_back.sinks.get(sink or "")
    if sink is None or conf is None:
        return {}
    try:
        read_back = get_connector(conf.type).read_back
    except ConfigError:
        return {}
    if read_back is None:
        return {}
    ticket = thread_key.removeprefix(f"{source}:")
    values: dict[str, set[str]] = {}
    for row in writes_since(ctx.conn, case_id, sink, since):
        payload = dict(row["payload"] or {})
        target = payload.get("target") or {}
        if target.get("type", "ticket") != "ticket" or str(target.get("id")) != ticket:
            continue
        action = SinkAction(row["id"], row["idempotency_key"], row["action"], dict(target), payload)
        for name, value in read_back(conf, action).items():
            values.setdefault(name, set()).add(value)
    return values
