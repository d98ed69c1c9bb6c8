"""What the CRM ticket sinks share: the per-ticket plan, its results, ids, versions, chunks.

A write-back sink folds one cycle's actions into one plan per ticket (`TicketPlan`, which a
sink extends with its own fields), writes each plan, then turns it back into one result per
action: `skipped` with a reason (`error`), `retry` with why (`retry`), or the sink's own
verdict (done, conflict).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.errors import MalformedInput
from connectors.base import SinkAction, SinkResult
from connectors.kit.mapping import parse_timestamp
from connectors.kit.writeback import last_written, split_owned

NOTE_SEPARATOR = "\n\n---\n\n"  # between notes posted as one comment
T = TypeVar("T")


@dataclass
class TicketPlan:
    """Everything crmbot wants done to one ticket this cycle, and how it went."""

    ticket_id: int
    fields: dict[str, Any] = field(default_factory=dict)  # owned fields, canonical names
    previous: dict[str, Any] = field(default_factory=dict)  # what crmbot wrote last
    expected_version: str | None = None
    notes: list[str] = field(default_factory=list)
    direct: dict[str, Any] = field(default_factory=dict)  # a rule's explicit ticket changes
    actions: list[SinkAction] = field(default_factory=list)
    conflicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    unmapped: dict[int, list[str]] = field(default_factory=dict)  # per outbox id
    error: str | None = None  # not done, and retrying cannot help
    version: str | None = None  # the ticket's version after the write
    retry: str | None = None  # not done this time, for a transient reason: try again later
    retry_after: float | None = None

    def add_note(self, text: str) -> None:
        """A note to post (once per cycle, whatever the number of actions that carry it)."""
        text = text.strip()
        if text and text not in self.notes:
            self.notes.append(text)

    def take_direct(self, changes: dict[str, Any], message: str, custom_key: str) -> None:
        """A rule's explicit ticket changes, and its message as a note; the vendor's custom
        fields (`custom_key`: a dict or a list of values) add up, other keys are replaced."""
        self.add_note(message)
        for key, value in changes.items():
            if key != custom_key:
                self.direct[key] = value
            elif isinstance(value, dict):
                self.direct.setdefault(key, {}).update(value)
            else:
                self.direct.setdefault(key, []).extend(value)

    def expect(self, version: Any) -> None:
        """Remember the newest version the actions were planned against."""
        if version is not None and (
            self.expected_version is None or newer(version, self.expected_version)
        ):
            self.expected_version = str(version)

    def changed_since_expected(self, version: Any) -> bool:
        """True when the ticket's `version` is later than the one the actions expected."""
        return self.expected_version is not None and newer(version, self.expected_version)

    def agent_changed(
        self,
        key: str,
        current: Any,
        wanted: Any,
        vendor_value: Callable[[str, Any], Any],
        *,
        changed_since: bool,
        empty: tuple[Any, ...],
    ) -> bool:
        """Whether an agent changed owned field `key` after crmbot's last write (recorded as a
        conflict, never overwritten).

        With the value crmbot last wrote (`previous`), any other current value is an agent's.
        Without it, a non-empty value that differs counts as an agent's once the ticket was
        updated after the expected version (`changed_since`).
        """
        if key in self.previous:
            changed = bool(current != vendor_value(key, self.previous[key]))
        else:
            changed = changed_since and current not in empty
        if changed:
            self.conflicts[key] = {
                "current": current,
                "wanted": wanted,
                "previous": self.previous.get(key),
            }
        return changed

    def take_update(self, action: SinkAction, unmapped: list[str], version: Any) -> None:
        """Note what an update_fields action brings besides its fields: the names not mapped
        here, the values crmbot wrote last, the version it was planned against."""
        if unmapped:
            self.unmapped[action.outbox_id] = unmapped
        self.previous.update(last_written(action.payload or {}))
        self.expect(version)

    def conflicts_of(self, fields: set[str]) -> dict[str, dict[str, Any]]:
        """The conflicts among `fields` (one action's share of the ticket's conflicts)."""
        return {k: v for k, v in self.conflicts.items() if k in fields}

    def defer(self, why: str, retry_after: float | None) -> None:
        """Mark the plan as not done this time, for a transient reason."""
        if self.error is None:
            self.retry = why
            self.retry_after = retry_after

    def detail(self) -> dict[str, Any]:
        """The detail every result of this plan carries: the ticket and its new version."""
        detail: dict[str, Any] = {"ticket_id": str(self.ticket_id)}
        if self.version:
            detail["version"] = self.version
        return detail

    def failure(self, action: SinkAction, detail: dict[str, Any]) -> SinkResult | None:
        """The action's result if the whole plan failed (skipped) or waits (retry), else None."""
        if self.error is not None:
            detail["reason"] = self.error
            return SinkResult(action.outbox_id, "skipped", detail)
        if self.retry is not None:
            detail["why"] = self.retry
            if self.retry_after is not None:
                detail["retry_after"] = self.retry_after
            return SinkResult(action.outbox_id, "retry", detail)
        return None


def read_action(
    action: SinkAction,
    sink_type: str,
    vendor: str,
    performs: frozenset[str],
    refusals: dict[str, str] | None = None,
) -> tuple[int, Any] | SinkResult:
    """(ticket id, typed action) of an action for a ticket sink, or its `skipped` result: no
    ticket id, a payload that breaks the contract, or a type this sink does not perform."""
    number = ticket_id(action.target.get("id"))
    if number is None:
        return skip(action, f"target has no {vendor} ticket id: {action.target!r}")
    try:
        spec = action.typed()
    except MalformedInput as exc:
        return skip(action, str(exc))
    if spec.type not in performs:
        default = f"the {sink_type} sink does not perform {spec.type!r}"
        return skip(action, (refusals or {}).get(spec.type, default))
    return number, spec


def owned_update(
    action: SinkAction, fields: dict[str, Any], owned: frozenset[str]
) -> tuple[dict[str, Any], list[str]] | SinkResult:
    """(the owned fields to write, the names not mapped here), or `skipped` if none is owned."""
    wanted, unmapped = split_owned(fields, owned)
    if not wanted:
        return skip(
            action,
            "no field crmbot may write here (map them in custom_fields): " + ", ".join(unmapped),
        )
    return wanted, unmapped


def owned_by_action(action: SinkAction, owned: frozenset[str]) -> set[str]:
    """The owned fields an update_fields action asked for (its share of the plan's outcome)."""
    fields = (action.payload or {}).get("fields") or {}
    return set(split_owned(fields, owned)[0])


def mapped_key(field_name: str, mapping: dict[str, Any]) -> str | None:
    """The key of `mapping` a set_field names: "case.x" itself, else "x"."""
    name = field_name.split(".", 1)[1] if "." in field_name else field_name
    return next((key for key in (field_name, name) if key in mapping), None)


def skip(action: SinkAction, reason: str) -> SinkResult:
    """An action skipped before anything was sent, with why."""
    return SinkResult(action.outbox_id, "skipped", {"reason": reason})


def ticket_id(value: Any) -> int | None:
    """A ticket id from a target: a positive int, or digits (maybe "ticket:"-prefixed)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str):
        text = value.strip().removeprefix("ticket:")
        if text.isdigit():
            return int(text)
    return None


def newer(current: Any, expected: Any) -> bool:
    """True when the version `current` is later than `expected` (or either is unreadable)."""
    try:
        return parse_timestamp(current) > parse_timestamp(expected)
    except Exception:
        return True


def chunks(items: list[T], size: int) -> Iterator[list[T]]:
    """`items` in consecutive lists of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
