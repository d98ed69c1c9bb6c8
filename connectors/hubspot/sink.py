"""Write crmbot's results back to HubSpot tickets, with write-back discipline.

- Only crmbot-owned properties (named `crmbot_*`, created by `crmbot setup hubspot`) are
  written; an action naming any other property is skipped with the reason.
- Several `update_fields` for one ticket in one call are coalesced into one update; tickets
  are read (one batch read per 100, only when some action carries `expected_version`) and
  updated (one batch update per 100). A batch HubSpot rejects (one bad value, a deleted
  ticket) is retried record by record, so only the culprit is skipped, with HubSpot's reason.
- Conflicts: an action carries `expected_version` (the ticket's hs_lastmodifieddate that
  crmbot last saw or wrote) and may carry `written` (the values crmbot last wrote). If the
  ticket was modified after `expected_version` and an owned property now holds a value that
  is neither empty, nor the value wanted, nor the value crmbot last wrote, an agent changed
  it: the action becomes a "conflict" and nothing of it is written. Without `written`, any
  non-empty differing value counts as the agent's (conservative: a conflict, never an
  overwrite). The check-then-write is not atomic: an edit between the batch read and the
  batch update (milliseconds) can still be overwritten; HubSpot offers no conditional update.
- Notes are created in batches with a v4 association to the ticket (HUBSPOT_DEFINED, 228).
  HubSpot has no idempotency keys, so each note carries the action's key in the
  `crmbot_key` note property and the sink first reads the ticket's notes for that key.
- Merge (only when `enable_merge` is set) checks first whether it already happened.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog

from bot.errors import ConfigError, MalformedInput, SkippableError
from connectors.base import SinkAction, SinkResult, in_action_order, new_results
from connectors.hubspot.client import BATCH_MAX, HubSpotApi, chunks
from connectors.hubspot.settings import HubSpotSettings
from connectors.kit import Clock, HttpRejected, iso_utc, parse_timestamp
from connectors.kit.clock import SYSTEM_CLOCK

log = structlog.get_logger(__name__)

OWNED_PREFIX = "crmbot_"
NOTE_TO_TICKET_TYPE_ID = 228
NOTE_KEY_PROPERTY = "crmbot_key"


@dataclass
class _Update:
    """Every update_fields action for one ticket in this call, coalesced."""

    ticket_id: str
    actions: list[SinkAction] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    written: dict[str, Any] = field(default_factory=dict)
    expected_version: str | None = None


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def same_value(left: Any, right: Any) -> bool:
    """True when two property values mean the same (as text, number, or timestamp)."""
    a, b = _text(left), _text(right)
    if a == b:
        return True
    if not a or not b:
        return False
    try:
        return float(a) == float(b)
    except ValueError:
        pass
    try:
        return parse_timestamp(a) == parse_timestamp(b)
    except SkippableError:
        return False


def find_conflicts(
    current: dict[str, Any],
    fields: dict[str, Any],
    written: dict[str, Any],
    expected_version: str | None,
) -> list[dict[str, Any]]:
    """Owned properties an agent changed after crmbot's last write (see the module docstring)."""
    if not expected_version:
        return []
    try:
        modified = parse_timestamp(current.get("hs_lastmodifieddate"))
        expected = parse_timestamp(expected_version)
    except SkippableError:
        return []
    if modified <= expected:
        return []
    out = []
    for name, wanted in fields.items():
        now = current.get(name)
        if not _text(now) or same_value(now, wanted):
            continue
        if name in written and same_value(now, written[name]):
            continue
        out.append(
            {
                "property": name,
                "current": now,
                "wanted": wanted,
                "crmbot_last_written": written.get(name),
            }
        )
    return out


class HubSpotSink:
    """Performs update_fields, add_note and merge actions on HubSpot tickets."""

    def __init__(
        self,
        name: str,
        settings: HubSpotSettings,
        *,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self._clock = clock or SYSTEM_CLOCK
        self.api = HubSpotApi(name, settings, clock=clock, transport=transport)

    def close(self) -> None:
        """Release connections."""
        self.api.close()

    def perform(self, actions: list[SinkAction]) -> Iterator[SinkResult]:
        """Perform the actions, coalesced and batched; one result per action, yielded in
        order, each as soon as the API call that performs it completed."""
        return in_action_order(actions, self._perform_each(actions))

    def _perform_each(self, actions: list[SinkAction]) -> Iterator[SinkResult]:
        results: dict[int, SinkResult] = {}
        updates: dict[str, _Update] = {}
        notes: list[SinkAction] = []
        merges: list[SinkAction] = []
        for action in actions:
            try:
                ticket_id = _ticket_id(action)
                if action.action == "update_fields":
                    self._collect_update(action, ticket_id, updates)
                elif action.action == "add_note":
                    if not _text(action.payload.get("text")):
                        raise MalformedInput("add_note needs a non-empty payload.text")
                    notes.append(action)
                elif action.action == "merge":
                    merges.append(action)
                else:
                    raise MalformedInput(f"the HubSpot sink does not support {action.action!r}")
            except SkippableError as exc:
                results[action.outbox_id] = _skipped(action, str(exc))
        handed_out: set[int] = set()
        yield from new_results(results, handed_out)
        self._perform_updates(list(updates.values()), results)
        yield from new_results(results, handed_out)
        self._perform_notes(notes, results)
        yield from new_results(results, handed_out)
        for action in merges:
            results[action.outbox_id] = self._merge(action)
            yield from new_results(results, handed_out)

    # -- update_fields ----------------------------------------------------------------------

    def _collect_update(
        self, action: SinkAction, ticket_id: str, updates: dict[str, _Update]
    ) -> None:
        fields = action.payload.get("fields")
        if not isinstance(fields, dict) or not fields:
            raise MalformedInput("update_fields needs a non-empty payload.fields")
        foreign = sorted(k for k in fields if not str(k).startswith(OWNED_PREFIX))
        if foreign:
            raise MalformedInput(
                f"crmbot writes only {OWNED_PREFIX}* properties; refused: {', '.join(foreign)}"
            )
        update = updates.setdefault(ticket_id, _Update(ticket_id))
        update.actions.append(action)
        update.fields.update({k: _wire(v) for k, v in fields.items()})
        update.written.update(action.payload.get("written") or {})
        if update.expected_version is None:
            update.expected_version = action.payload.get("expected_version")

    def _perform_updates(self, updates: list[_Update], results: dict[int, SinkResult]) -> None:
        for part in chunks(updates, BATCH_MAX):
            if not any(u.expected_version for u in part):
                self._write(list(part), results)  # first writes: nothing to conflict with
                continue
            names = sorted({n for u in part for n in u.fields} | {"hs_lastmodifieddate"})
            current = self.api.batch_read("tickets", [u.ticket_id for u in part], names)
            ready: list[_Update] = []
            for update in part:
                if not update.expected_version:
                    ready.append(update)
                    continue
                record = current.get(update.ticket_id)
                if record is None or str(record.get("id")) != update.ticket_id:
                    for action in update.actions:
                        reason = f"HubSpot ticket {update.ticket_id} not found (deleted or merged)"
                        results[action.outbox_id] = _skipped(action, reason)
                    continue
                props = record.get("properties") or {}
                conflicts = find_conflicts(
                    props, update.fields, update.written, update.expected_version
                )
                if conflicts:
                    log.info("hubspot_write_conflict", sink=self.name, ticket_id=update.ticket_id)
                    detail = {
                        "ticket_id": update.ticket_id,
                        "version": props.get("hs_lastmodifieddate"),
                        "expected_version": update.expected_version,
                        "conflicts": conflicts,
                    }
                    for action in update.actions:
                        results[action.outbox_id] = SinkResult(action.outbox_id, "conflict", detail)
                    continue
                ready.append(update)
            self._write(ready, results)

    def _write(self, ready: list[_Update], results: dict[int, SinkResult]) -> None:
        if not ready:
            return
        inputs = [{"id": u.ticket_id, "properties": u.fields} for u in ready]
        try:
            written = self.api.batch_update("tickets", inputs)
            by_id = {str(r["id"]): r for r in written}
        except HttpRejected as exc:
            log.warning("hubspot_batch_update_rejected", sink=self.name, status=exc.status_code)
            _raise_if_setup_missing(self.name, exc)
            by_id = {}
            for update in ready:
                try:
                    by_id[update.ticket_id] = self.api.update(
                        "tickets", update.ticket_id, update.fields
                    )
                except HttpRejected as one:
                    reason = (
                        f"HubSpot ticket {update.ticket_id} not found (deleted or merged)"
                        if one.status_code == 404
                        else one.vendor_message
                    )
                    for action in update.actions:
                        results[action.outbox_id] = _skipped(action, reason)
        for update in ready:
            record = by_id.get(update.ticket_id)
            if record is None:
                continue
            version = (record.get("properties") or {}).get("hs_lastmodifieddate") or record.get(
                "updatedAt"
            )
            detail = {
                "ticket_id": update.ticket_id,
                "version": version,
                "written": update.fields,
                "coalesced": len(update.actions),
            }
            for action in update.actions:
                results[action.outbox_id] = SinkResult(action.outbox_id, "done", detail)
        log.info("hubspot_tickets_updated", sink=self.name, count=len(by_id))

    # -- add_note ---------------------------------------------------------------------------

    def _existing_note_keys(self, ticket_ids: Sequence[str]) -> dict[str, str]:
        """crmbot_key -> note id, for notes already on these tickets."""
        linked = self.api.associations("tickets", "notes", ticket_ids)
        note_ids = sorted({n for ids in linked.values() for n in ids})
        if not note_ids:
            return {}
        notes = self.api.batch_read("notes", note_ids, [NOTE_KEY_PROPERTY])
        out = {}
        for note_id, note in notes.items():
            key = (note.get("properties") or {}).get(NOTE_KEY_PROPERTY)
            if key:
                out[key] = note_id
        return out

    def _note_input(self, action: SinkAction, ticket_id: str) -> dict[str, Any]:
        text = _text(action.payload.get("text"))
        when = action.payload.get("timestamp") or iso_utc(
            datetime.fromtimestamp(self._clock.time(), UTC)
        )
        properties = {
            "hs_note_body": html.escape(text).replace("\n", "<br>"),
            "hs_timestamp": when,
        }
        if self.settings.note_idempotency:
            properties[NOTE_KEY_PROPERTY] = action.idempotency_key
        return {
            "properties": properties,
            "associations": [
                {
                    "to": {"id": ticket_id},
                    "types": [
                        {
                            "associationCategory": "HUBSPOT_DEFINED",
                            "associationTypeId": NOTE_TO_TICKET_TYPE_ID,
                        }
                    ],
                }
            ],
        }

    def _perform_notes(self, notes: list[SinkAction], results: dict[int, SinkResult]) -> None:
        for part in chunks(notes, BATCH_MAX):
            pending: list[SinkAction] = []
            existing: dict[str, str] = {}
            if self.settings.note_idempotency:
                existing = self._existing_note_keys([_ticket_id(a) for a in part])
            first_of_key: dict[str, SinkAction] = {}
            for action in part:
                note_id = existing.get(action.idempotency_key)
                if note_id:
                    detail = {"note_id": note_id, "already_done": True}
                    results[action.outbox_id] = SinkResult(action.outbox_id, "done", detail)
                elif action.idempotency_key in first_of_key:
                    continue  # same key twice in one call: filled in below
                else:
                    first_of_key[action.idempotency_key] = action
                    pending.append(action)
            self._create_notes(pending, results)
            for action in part:
                if action.outbox_id not in results:
                    twin = results.get(first_of_key[action.idempotency_key].outbox_id)
                    if twin is not None:
                        results[action.outbox_id] = SinkResult(
                            action.outbox_id, twin.status, dict(twin.detail)
                        )

    def _create_notes(self, pending: list[SinkAction], results: dict[int, SinkResult]) -> None:
        if not pending:
            return
        inputs = [self._note_input(a, _ticket_id(a)) for a in pending]
        try:
            created = self.api.batch_create("notes", inputs)
        except HttpRejected as exc:
            log.warning("hubspot_note_batch_rejected", sink=self.name, status=exc.status_code)
            _raise_if_setup_missing(self.name, exc)
            for action, body in zip(pending, inputs, strict=True):
                try:
                    note = self.api.post("/crm/v3/objects/notes", body)
                except HttpRejected as one:
                    results[action.outbox_id] = _skipped(action, one.vendor_message)
                    continue
                detail = {"note_id": str(note["id"]), "ticket_id": _ticket_id(action)}
                results[action.outbox_id] = SinkResult(action.outbox_id, "done", detail)
            return
        if self.settings.note_idempotency:
            by_key = {
                (r.get("properties") or {}).get(NOTE_KEY_PROPERTY): str(r["id"]) for r in created
            }
            ids = [by_key.get(a.idempotency_key) for a in pending]
        else:  # HubSpot returns batch results in input order
            ids = [str(r["id"]) for r in created] + [None] * (len(pending) - len(created))
        for action, note_id in zip(pending, ids, strict=True):
            if note_id is None:
                results[action.outbox_id] = _skipped(action, "HubSpot did not return the note")
                continue
            detail = {"note_id": note_id, "ticket_id": _ticket_id(action)}
            results[action.outbox_id] = SinkResult(action.outbox_id, "done", detail)
        log.info("hubspot_notes_created", sink=self.name, count=len(created))

    # -- merge ------------------------------------------------------------------------------

    def _merge(self, action: SinkAction) -> SinkResult:
        if not self.settings.enable_merge:
            return _skipped(action, "ticket merge is disabled (set enable_merge to allow it)")
        duplicate = _ticket_id(action)
        into = _text(action.payload.get("into"))
        if not into.isdigit() or into == duplicate:
            return _skipped(action, f"merge needs payload.into, another ticket id (got {into!r})")
        found = self.api.batch_read("tickets", [duplicate, into], ["hs_merged_object_ids"])
        if into not in found:
            return _skipped(action, f"HubSpot ticket {into} not found")
        merged_ids = _text((found[into].get("properties") or {}).get("hs_merged_object_ids"))
        if duplicate in merged_ids.split(";"):
            detail = {"primary": into, "merged": duplicate, "already_done": True}
            return SinkResult(action.outbox_id, "done", detail)
        if duplicate not in found:
            return _skipped(action, f"HubSpot ticket {duplicate} not found")
        try:
            merged = self.api.merge("tickets", into, duplicate)
        except HttpRejected as exc:
            return _skipped(action, exc.vendor_message)
        detail = {"primary": str(merged.get("id", into)), "merged": duplicate}
        return SinkResult(action.outbox_id, "done", detail)

    # -- check ------------------------------------------------------------------------------

    def check(self) -> str:
        """One cheap authenticated GET: the ticket properties, and whether setup created ours."""
        data = self.api.http.get("/crm/v3/properties/tickets", limiters=[self.api.general])
        names = [str(p.get("name", "")) for p in (data or {}).get("results", [])]
        owned = sum(n.startswith(OWNED_PREFIX) for n in names)
        if not owned:
            raise ConfigError(
                f"{self.name}: HubSpot has no {OWNED_PREFIX}* ticket property; run "
                "`crmbot setup hubspot` first"
            )
        return f"{self.name}: HubSpot answered, {owned} {OWNED_PREFIX}* ticket properties"


_MISSING_PROPERTY = re.compile(r'Property \\?"(crmbot_\w+)\\?" does not exist')


def _raise_if_setup_missing(name: str, exc: HttpRejected) -> None:
    """A crmbot_* property HubSpot does not know means setup never ran: stop, don't skip."""
    found = _MISSING_PROPERTY.search(exc.vendor_message)
    if found:
        raise ConfigError(
            f"{name}: HubSpot has no property {found.group(1)!r}; run `crmbot setup hubspot`"
        )


def _ticket_id(action: SinkAction) -> str:
    target = action.target or {}
    if target.get("type", "ticket") != "ticket":
        raise MalformedInput(f"the HubSpot sink writes tickets, not {target.get('type')!r}")
    tid = _text(target.get("id"))
    if not tid.isdigit():
        raise MalformedInput(f"not a HubSpot ticket id: {tid!r}")
    return tid


def _wire(value: Any) -> str:
    """A property value as HubSpot takes it: text; lists joined by ';'; bools lower-case."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | set):
        return ";".join(str(v) for v in value)
    if isinstance(value, datetime):
        return iso_utc(value)
    return str(value)


def _skipped(action: SinkAction, reason: str) -> SinkResult:
    return SinkResult(action.outbox_id, "skipped", {"reason": reason})
