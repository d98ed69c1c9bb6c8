"""What every CRM sink shares to perform `update_contact`: split them out, report previous values.

A sink performs the contact updates one by one (they are rare: a verified administrative
update) beside its batched ticket write-back; each result carries the values it replaced
(`previous`), which the audit trail and the CRM note keep.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from bot.errors import RetriableError, SkippableError
from connectors.base import SinkAction, SinkResult, in_action_order


def perform_with_contact_updates(
    actions: list[SinkAction],
    update_one: Callable[[SinkAction], SinkResult],
    perform_rest: Callable[[list[SinkAction]], Iterable[SinkResult]],
) -> Iterator[SinkResult]:
    """Results in action order, each as soon as known: `update_contact` actions by
    `update_one`, the others by `perform_rest` (which may yield them one by one)."""
    return in_action_order(actions, _each(actions, update_one, perform_rest))


def _each(
    actions: list[SinkAction],
    update_one: Callable[[SinkAction], SinkResult],
    perform_rest: Callable[[list[SinkAction]], Iterable[SinkResult]],
) -> Iterator[SinkResult]:
    for action in actions:
        if action.action != "update_contact":
            continue
        try:
            yield update_one(action)
        except RetriableError as exc:
            yield SinkResult(action.outbox_id, "retry", {"why": str(exc)})
        except SkippableError as exc:
            yield SinkResult(action.outbox_id, "skipped", {"reason": str(exc)})
    rest = [a for a in actions if a.action != "update_contact"]
    if rest:
        yield from perform_rest(rest)


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
