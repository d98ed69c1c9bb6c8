"""What every CRM sink shares to perform `update_contact`: split them out, report previous values.

A sink performs the contact updates one by one (they are rare: a verified administrative
update) beside its batched ticket write-back; each result carries the values it replaced
(`previous`), which the audit trail and the CRM note keep.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.errors import RetriableError, SkippableError
from connectors.base import SinkAction, SinkResult


def perform_with_contact_updates(
    actions: list[SinkAction],
    update_one: Callable[[SinkAction], SinkResult],
    perform_rest: Callable[[list[SinkAction]], list[SinkResult]],
) -> list[SinkResult]:
    """Results in order: `update_contact` actions by `update_one`, the others by `perform_rest`."""
    contact = [a for a in actions if a.action == "update_contact"]
    if not contact:
        return perform_rest(actions)
    results: dict[int, SinkResult] = {}
    for action in contact:
        try:
            results[action.outbox_id] = update_one(action)
        except RetriableError as exc:
            results[action.outbox_id] = SinkResult(action.outbox_id, "retry", {"why": str(exc)})
        except SkippableError as exc:
            results[action.outbox_id] = SinkResult(
                action.outbox_id, "skipped", {"reason": str(exc)}
            )
    rest = [a for a in actions if a.action != "update_contact"]
    if rest:
        for action, result in zip(rest, perform_rest(rest), strict=True):
            results[action.outbox_id] = result
    return [results[a.outbox_id] for a in actions]


def changed(
    mapping: dict[str, str], fields: dict[str, str], current: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """(previous values by crmbot field, remote changes by remote name) for an update."""
    previous = {name: current.get(mapping[name]) for name in fields}
    changes = {
        mapping[name]: value
        for name, value in fields.items()
        if str(current.get(mapping[name]) or "") != value
    }
    return previous, changes


def done(action: SinkAction, contact_id: Any, previous: dict[str, Any], written: Any) -> SinkResult:
    """The result of a contact update: the contact, what it replaced, what it wrote."""
    detail = {"contact_id": str(contact_id), "previous": previous, "written": written}
    return SinkResult(action.outbox_id, "done", detail)


def skipped(action: SinkAction, reason: str) -> SinkResult:
    """A contact update not performed, with why."""
    return SinkResult(action.outbox_id, "skipped", {"reason": reason})
