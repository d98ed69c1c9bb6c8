"""Request Tracker 5 sink: Priority and custom fields, and comments (never correspondence).

Per ticket and cycle: read it once, drop any owned field an agent changed after crmbot's last
write (reported as a conflict, never overwritten), write the rest in one `PUT /ticket/{id}`,
add the notes as one Comment (internal: RT sends no mail to the requestor for a comment),
then read LastUpdated back as the version to expect next time. REST 2 has no bulk update
with custom fields nor a conditional write, so the window between read and write stays open
for the length of one request.

Action payloads are those of the Zendesk sink: update_fields {"fields", "expected_version",
"written"}, add_note {"body"}; "crmbot_priority" is RT's Priority, mapped through
`priority_map` (P1..P4 -> 90/70/50/20) or given as 0-99. RT has no tags and REST 2 has no
merge: add_tags and merge are skipped with that reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog

from connectors.base import SinkAction, SinkResult, in_action_order, new_results
from connectors.kit.clock import Clock
from connectors.kit.http import HttpRejected
from connectors.kit.mapping import parse_timestamp
from connectors.kit.writeback import last_written, split_owned
from connectors.rt.source import RtSettings, connector_label, make_client

log = structlog.get_logger(__name__)

NOTE_SEPARATOR = "\n\n---\n\n"


@dataclass
class _Plan:
    """Everything crmbot wants done to one RT ticket this cycle."""

    ticket_id: int
    fields: dict[str, Any] = field(default_factory=dict)
    previous: dict[str, Any] = field(default_factory=dict)
    expected_version: str | None = None
    notes: list[str] = field(default_factory=list)
    actions: list[SinkAction] = field(default_factory=list)
    conflicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    unmapped_by_action: dict[int, list[str]] = field(default_factory=dict)
    error: str | None = None
    version: str | None = None


class RtSink:
    """Performs crmbot's planned actions on RT tickets."""

    def __init__(
        self,
        name: str,
        settings: RtSettings,
        *,
        clock: Clock | None = None,
        transport: Any = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.label = connector_label(name)
        self.http = make_client(name, settings, clock=clock, transport=transport)

    def close(self) -> None:
        """Release connections."""
        self.http.close()

    @property
    def owned_fields(self) -> frozenset[str]:
        """What crmbot may write: priority and the mapped custom fields."""
        return frozenset({"priority", *self.settings.custom_fields})

    def perform(self, actions: list[SinkAction]) -> Iterator[SinkResult]:
        """Coalesce per ticket, check for conflicts, write, comment; one result per action,
        yielded in order, each as soon as its ticket is written."""
        return in_action_order(actions, self._perform_each(actions))

    def _perform_each(self, actions: list[SinkAction]) -> Iterator[SinkResult]:
        results: dict[int, SinkResult] = {}
        plans: dict[int, _Plan] = {}
        for action in actions:
            skipped = self._plan(action, plans)
            if skipped is not None:
                results[action.outbox_id] = skipped
        handed_out: set[int] = set()
        yield from new_results(results, handed_out)
        for plan in plans.values():
            try:
                self._apply(plan)
            except HttpRejected as exc:
                plan.error = exc.vendor_message
            for action in plan.actions:
                results[action.outbox_id] = self._result(plan, action)
            yield from new_results(results, handed_out)

    # -- planning ---------------------------------------------------------------------------

    def _plan(self, action: SinkAction, plans: dict[int, _Plan]) -> SinkResult | None:
        ticket_id = _ticket_id(action.target.get("id"))
        if ticket_id is None:
            return _skip(action, f"target has no RT ticket id: {action.target!r}")
        payload = action.payload or {}
        if action.action in ("add_tags", "remove_tags", "merge"):
            return _skip(action, f"Request Tracker's REST 2 API has no {action.action}")
        plan = plans.setdefault(ticket_id, _Plan(ticket_id))
        if action.action == "update_fields":
            wanted = payload.get("fields")
            if not isinstance(wanted, dict) or not wanted:
                return _skip(action, "update_fields needs a non-empty payload.fields")
            wanted, unmapped = split_owned(wanted, self.owned_fields)
            if not wanted:
                return _skip(
                    action,
                    "no field crmbot may write here (map them in custom_fields): "
                    + ", ".join(unmapped),
                )
            if "priority" in wanted and self._rt_priority(wanted["priority"]) is None:
                return _skip(action, f"priority {wanted['priority']!r} is not 0-99 or mapped")
            if unmapped:
                plan.unmapped_by_action[action.outbox_id] = unmapped
            plan.fields.update(wanted)
            plan.previous.update(last_written(payload))
            version = payload.get("expected_version")
            if version is not None and (
                plan.expected_version is None or _newer(version, plan.expected_version)
            ):
                plan.expected_version = str(version)
        elif action.action == "add_note":
            body = str(payload.get("body") or payload.get("note") or "").strip()
            if not body:
                return _skip(action, "add_note needs a non-empty payload.body")
            if body not in plan.notes:
                plan.notes.append(body)
            version = payload.get("expected_version")
            if version is not None and (
                plan.expected_version is None or _newer(version, plan.expected_version)
            ):
                plan.expected_version = str(version)
        else:
            return _skip(action, f"the rt sink does not support {action.action!r}")
        plan.actions.append(action)
        return None

    def _rt_priority(self, value: Any) -> int | None:
        mapped = self.settings.priority_map.get(str(value), value)
        try:
            number = int(mapped)
        except (TypeError, ValueError):
            return None
        return number if 0 <= number <= 99 else None

    # -- one ticket -------------------------------------------------------------------------

    def _current(self, ticket: dict[str, Any], key: str) -> Any:
        if key == "priority":
            try:
                return int(ticket.get("Priority"))
            except (TypeError, ValueError):
                return None
        cf_name = self.settings.custom_fields[key]
        for entry in ticket.get("CustomFields") or []:
            if isinstance(entry, dict) and entry.get("name") == cf_name:
                values = entry.get("values") or []
                return values[0] if values else None
        raise KeyError(cf_name)

    def _wanted(self, key: str, value: Any) -> Any:
        if key == "priority":
            return self._rt_priority(value)
        return None if value is None else str(value)

    def _apply(self, plan: _Plan) -> None:
        try:
            ticket = self.http.get(f"/ticket/{plan.ticket_id}")
        except HttpRejected as exc:
            plan.error = f"ticket {plan.ticket_id}: {exc.vendor_message}"
            return
        newer = plan.expected_version is not None and _newer(
            ticket.get("LastUpdated"), plan.expected_version
        )
        update: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        for key, value in plan.fields.items():
            wanted = self._wanted(key, value)
            try:
                current = self._current(ticket, key)
            except KeyError as missing:
                plan.unknown.append(key)
                log.warning(
                    "rt_custom_field_missing",
                    sink=self.name,
                    ticket_id=plan.ticket_id,
                    custom_field=str(missing),
                )
                continue
            if current == wanted:
                continue
            if key in plan.previous:
                agent_changed = current != self._wanted(key, plan.previous[key])
            else:
                agent_changed = newer and current not in (None, "", 0)
            if agent_changed:
                plan.conflicts[key] = {
                    "current": current,
                    "wanted": wanted,
                    "previous": plan.previous.get(key),
                }
                continue
            if key == "priority":
                update["Priority"] = wanted
            else:
                custom[self.settings.custom_fields[key]] = wanted
        if plan.conflicts:
            log.warning(
                "rt_write_conflict",
                sink=self.name,
                ticket_id=plan.ticket_id,
                fields=sorted(plan.conflicts),
                last_updated=ticket.get("LastUpdated"),
                expected_version=plan.expected_version,
            )
        if custom:
            update["CustomFields"] = custom
        if update:
            self.http.put(f"/ticket/{plan.ticket_id}", json=update)
        notes = self._new_notes(plan) if plan.notes else []
        if notes:
            self.http.post(
                f"/ticket/{plan.ticket_id}/comment",
                json={"Content": NOTE_SEPARATOR.join(notes), "ContentType": "text/plain"},
            )
        if update or notes:
            log.info(
                "rt_ticket_written",
                sink=self.name,
                ticket_id=plan.ticket_id,
                fields=sorted(update),
                notes=len(notes),
            )
            ticket = self.http.get(f"/ticket/{plan.ticket_id}")
        plan.version = ticket.get("LastUpdated")

    def _new_notes(self, plan: _Plan) -> list[str]:
        """Notes not already on the ticket (a retried cycle must not comment twice).

        Always looked up: LastUpdated has one-second resolution, so an unchanged stamp does
        not prove that an earlier attempt did not comment in that same second.
        """
        if not self.settings.dedupe_notes:
            return plan.notes
        data = self.http.get(
            f"/ticket/{plan.ticket_id}/attachments",
            params={"fields": "Content", "orderby": "id", "order": "DESC", "per_page": "50"},
        )
        existing = {
            str(a.get("Content") or "").strip()
            for a in (data or {}).get("items") or []
            if isinstance(a, dict)
        }
        joined = NOTE_SEPARATOR.join(plan.notes)
        if joined in existing:
            return []
        return [n for n in plan.notes if n not in existing]

    def _result(self, plan: _Plan, action: SinkAction) -> SinkResult:
        detail: dict[str, Any] = {"ticket_id": str(plan.ticket_id)}
        if plan.version:
            detail["version"] = plan.version
        if plan.error is not None:
            detail["reason"] = plan.error
            return SinkResult(action.outbox_id, "skipped", detail)
        if action.action == "update_fields":
            fields = (action.payload or {}).get("fields") or {}
            mine = set(split_owned(fields, self.owned_fields)[0])
            if plan.unmapped_by_action.get(action.outbox_id):
                detail["unmapped"] = plan.unmapped_by_action[action.outbox_id]
            conflicts = {k: v for k, v in plan.conflicts.items() if k in mine}
            unknown = sorted(mine & set(plan.unknown))
            detail["written"] = sorted(mine - set(conflicts) - set(unknown))
            if unknown:
                detail["reason"] = (
                    "custom field(s) not applied to this ticket's queue: "
                    + ", ".join(self.settings.custom_fields[k] for k in unknown)
                )
            if conflicts:
                detail["conflicts"] = conflicts
                return SinkResult(action.outbox_id, "conflict", detail)
            if unknown and not detail["written"]:
                return SinkResult(action.outbox_id, "skipped", detail)
        return SinkResult(action.outbox_id, "done", detail)

    # -- check ------------------------------------------------------------------------------

    def check(self) -> str:
        """Sign in with one cheap authenticated GET and count the queues we can see."""
        data = self.http.get("/queues/all")
        return f"{self.label}: signed in to {self.settings.url}, {data.get('total', 0)} queue(s)"


def _skip(action: SinkAction, reason: str) -> SinkResult:
    return SinkResult(action.outbox_id, "skipped", {"reason": reason})


def _ticket_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str):
        text = value.strip().removeprefix("ticket:")
        if text.isdigit():
            return int(text)
    return None


def _newer(current: Any, expected: Any) -> bool:
    try:
        return parse_timestamp(current) > parse_timestamp(expected)
    except Exception:
        return True
