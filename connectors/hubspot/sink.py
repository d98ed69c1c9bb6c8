"""Write crmbot's results back to HubSpot tickets, with write-back discipline.

- Only crmbot-owned properties (named `crmbot_*`, created by `crmbot setup hubspot`) are
  written; an action naming any other property is skipped with the reason.
- Several `update_fields` for one ticket in one call are coalesced into one update, and go
  in the same input as the rules' property changes for that ticket: tickets are read (one
  batch read per 100, only when some action carries `expected_version` or touches tags) and
  updated (one batch update per 100). A batch HubSpot rejects (one bad value, a deleted
  ticket) is retried record by record, a refused ticket's enrichment and rule changes apart,
  so only the culprit is skipped, with HubSpot's reason.
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
- A rule's set_priority, assign, escalate, set_field, add_tag and remove_tag become ticket
  properties (see rule_actions.py), in the same batch update; an escalation's message is
  a note.
- An action aimed at a case that came by mail goes to that case's ticket, found by
  crmbot_case_reference or opened (case_tickets.py). A ticket opened in this call is created
  with the properties of its case's update_fields and rule changes (no update after it), and
  has no notes to read back yet.
- Batch answers are matched by id (updates) and by `objectWriteTraceId` or `crmbot_key`
  (notes), never by position: HubSpot does not promise input order. A 207 answer's errors
  become per-action results (OBJECT_NOT_FOUND, VALIDATION_ERROR: skipped with HubSpot's
  message); a result HubSpot left out is a "retry" (an update is harmless to repeat) or, for
  a note, a read-back of its key first. Creating notes is never resent by the HTTP client
  after an unknown outcome (5xx): the sink reads the ticket's notes back for the key.
- An outage in one phase (updates, notes, merges) defers only that phase's actions ("retry");
  results already obtained in the same call are returned, never thrown away.
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

from bot.actions import AddNote, Escalate
from bot.errors import ConfigError, MalformedInput, RetriableError, SkippableError
from connectors.base import SinkAction, SinkResult, new_results
from connectors.hubspot import case_tickets
from connectors.hubspot import replies as hubspot_replies
from connectors.hubspot.client import BATCH_MAX, BatchOutcome, HubSpotApi, chunks
from connectors.hubspot.rule_actions import TAGS_PROPERTY, TicketChange, collect, merged_tags
from connectors.hubspot.settings import HubSpotSettings
from connectors.kit import Clock, HttpRejected, iso_utc, parse_timestamp
from connectors.kit.clock import SYSTEM_CLOCK
from connectors.kit.contacts import changed as contact_changes
from connectors.kit.contacts import done as contact_done
from connectors.kit.contacts import perform_with_contact_updates
from connectors.kit.contacts import skipped as contact_skipped
from connectors.kit.replies import PublicReply

log = structlog.get_logger(__name__)

# The action types this sink performs (declared once; the connector spec publishes it).
RULE_CHANGES = frozenset(
    {"add_tag", "remove_tag", "set_field", "set_priority", "assign", "escalate"}
)
SINK_ACTIONS = frozenset({"update_fields", "add_note", "merge", "update_contact"}) | RULE_CHANGES
# crmbot's contact fields -> HubSpot contact properties (update_contact).
CONTACT_PROPERTIES = {
    "postal_address": "address",
    "phone": "phone",
    "email": "email",
    "company_name": "company",
    "billing_contact": "crmbot_billing_contact",
}
OWNED_PREFIX = "crmbot_"
NOTE_TO_TICKET_TYPE_ID = 228
NOTE_KEY_PROPERTY = "crmbot_key"
CACHE_MAX = 20_000  # case tickets and contacts this process remembers (the newest)
PERMANENT_CATEGORIES = frozenset({"OBJECT_NOT_FOUND", "VALIDATION_ERROR", "INVALID_OBJECT"})


@dataclass
class _Update:
    """Every update_fields action for one ticket in this call, coalesced."""

    ticket_id: str
    actions: list[SinkAction] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    written: dict[str, Any] = field(default_factory=dict)
    expected_version: str | None = None


@dataclass
class _Write:
    """One ticket's input in the batch update: its update_fields and its rule changes."""

    ticket_id: str
    update: _Update | None = None
    change: TicketChange | None = None
    update_props: dict[str, Any] | None = None  # None: nothing of update_fields to write
    change_props: dict[str, str] = field(default_factory=dict)

    @property
    def update_ids(self) -> list[int]:
        """The outbox ids of the update_fields actions."""
        return [a.outbox_id for a in self.update.actions] if self.update else []

    @property
    def change_ids(self) -> list[int]:
        """The outbox ids of the rule changes."""
        return list(self.change.outbox_ids) if self.change else []

    @property
    def outbox_ids(self) -> list[int]:
        """Every outbox id this ticket's input carries."""
        return self.update_ids + self.change_ids

    @property
    def properties(self) -> dict[str, Any]:
        """What the batch update sets: the enrichment, then the rules' changes over it."""
        return {**(self.update_props or {}), **self.change_props}


def _why(write: _Write, exc: HttpRejected) -> str:
    """HubSpot's reason for refusing this ticket's update."""
    if exc.status_code == 404:
        return f"HubSpot ticket {write.ticket_id} not found (deleted or merged)"
    return exc.vendor_message


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
    """Performs crmbot's enrichment, notes, merges and the rules' ticket changes in HubSpot."""

    performs = SINK_ACTIONS

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
        self._case_tickets: dict[str, str] = {}  # case reference -> ticket id opened/found
        self._contacts: dict[str, str] = {}  # e-mail -> contact id, for the tickets opened
        self._fresh: set[str] = set()  # tickets opened in this call: no note on them yet

    def close(self) -> None:
        """Release connections."""
        self.api.close()

    def last_public_reply(self, ticket_id: str) -> PublicReply | None:
        """The ticket's last public agent reply (connectors/hubspot/replies.py)."""
        return hubspot_replies.last_public_reply(self.api, ticket_id)

    def perform(self, actions: list[SinkAction]) -> Iterator[SinkResult]:
        """Perform the actions, coalesced and batched; one result per action, in order."""
        return perform_with_contact_updates(actions, self._update_contact, self._perform_each)

    def _update_contact(self, action: SinkAction) -> SinkResult:
        """Set the contact's properties (found by its address on file); report the old ones."""
        spec = action.typed()
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "EQ", "value": spec.contact}]}
            ],
            "properties": sorted(set(CONTACT_PROPERTIES.values())),
            "limit": 2,
        }
        try:
            found = self.api.search("contacts", body).get("results") or []
        except HttpRejected as exc:
            return contact_skipped(action, exc.vendor_message)
        if len(found) != 1:
            return contact_skipped(action, f"{len(found)} HubSpot contacts have {spec.contact}")
        contact_id = str(found[0]["id"])
        current = found[0].get("properties") or {}
        previous, changes = contact_changes(CONTACT_PROPERTIES, spec.fields, current)
        if changes:
            try:
                self.api.update("contacts", contact_id, changes)
            except HttpRejected as exc:
                return contact_skipped(action, exc.vendor_message)
        return contact_done(action, contact_id, previous, spec.fields)

    def _perform_each(self, actions: list[SinkAction]) -> Iterator[SinkResult]:
        results: dict[int, SinkResult] = {}
        updates: dict[str, _Update] = {}
        notes: list[SinkAction] = []
        merges: list[SinkAction] = []
        changes: dict[str, TicketChange] = {}
        opened = case_tickets.resolve(
            self.api, self.settings, actions, self._case_tickets, self._contacts, self._fold
        )
        for cache in (self._case_tickets, self._contacts):  # a worker runs for months
            while len(cache) > CACHE_MAX:
                cache.pop(next(iter(cache)))  # the oldest: the outbox hands a case's ticket on
        self._fresh = {o.ticket_id for o in opened.values()}
        for action in actions:
            try:
                ticket_id = _ticket_id(action)
                spec = action.typed()
                if action.outbox_id in opened:  # written with the ticket's creation
                    if isinstance(spec, Escalate) and spec.message.strip():
                        notes.append(_escalation_note(action, spec.message))
                elif spec.type == "update_fields":
                    self._collect_update(action, ticket_id, updates)
                elif spec.type == "add_note":
                    notes.append(action)
                elif spec.type == "merge":
                    merges.append(action)
                elif spec.type in RULE_CHANGES:
                    collect(self.settings, spec, ticket_id, action.outbox_id, changes)
                    if isinstance(spec, Escalate) and spec.message.strip():
                        notes.append(_escalation_note(action, spec.message))
                else:
                    raise MalformedInput(f"the HubSpot sink does not perform {action.action!r}")
            except SkippableError as exc:
                results[action.outbox_id] = _skipped(action, str(exc))
        handed_out: set[int] = set()
        yield from new_results(results, handed_out)
        for outbox_id, ticket in opened.items():
            detail = {"ticket_id": ticket.ticket_id, "version": ticket.version, "opened": True}
            results.setdefault(outbox_id, SinkResult(outbox_id, "done", detail))
        self._perform_writes(list(updates.values()), list(changes.values()), results)
        # an escalation with a message is done only once its note is written too
        held = {-n.outbox_id: results.pop(-n.outbox_id, None) for n in notes if n.outbox_id < 0}
        yield from new_results(results, handed_out)
        self._perform_notes(notes, results)
        for outbox_id, change in held.items():
            note_result = results.pop(-outbox_id, None)
            if change is None or change.status != "done" or note_result is None:
                results[outbox_id] = change or _missing(outbox_id)
            elif note_result.status == "done":
                results[outbox_id] = change
            else:
                results[outbox_id] = SinkResult(outbox_id, note_result.status, note_result.detail)
        yield from new_results(results, handed_out)
        for action in merges:
            try:
                results[action.outbox_id] = self._merge(action)
            except RetriableError as exc:
                _defer([action], results, exc)
            yield from new_results(results, handed_out)

    def _fold(self, actions: list[SinkAction]) -> tuple[dict[str, Any], list[int]]:
        """The properties a case's new ticket can be created with, and the actions they come
        from: its update_fields and the rules' property changes and tags (a new ticket has
        nothing an agent changed, and no tags to read first)."""
        updates: dict[str, _Update] = {}
        changes: dict[str, TicketChange] = {}
        folded: list[int] = []
        for action in actions:
            try:
                spec = action.typed()
                if spec.type == "update_fields":
                    self._collect_update(action, "new", updates)
                elif spec.type in RULE_CHANGES:
                    collect(self.settings, spec, "new", action.outbox_id, changes)
                else:
                    continue
            except SkippableError:
                continue  # skipped with its reason by _perform_each
            folded.append(action.outbox_id)
        properties: dict[str, Any] = {}
        for update in updates.values():
            properties.update(update.fields)
        for change in changes.values():
            properties.update({k: _wire(v) for k, v in change.properties.items()})
            if change.touches_tags:
                properties[TAGS_PROPERTY] = merged_tags(None, change.add_tags, change.remove_tags)
        return properties, folded

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

    # -- update_fields and a rule's changes: one read, one batch update --------------------

    def _perform_writes(
        self,
        updates: list[_Update],
        changes: list[TicketChange],
        results: dict[int, SinkResult],
    ) -> None:
        """Each ticket's update_fields and rule changes in one input of one batch update (100
        tickets a call), after one batch read where something must be read first: the
        versions of the conflict check, the current tags."""
        writes: dict[str, _Write] = {}
        for update in updates:
            writes.setdefault(update.ticket_id, _Write(update.ticket_id)).update = update
        for change in changes:
            writes.setdefault(change.ticket_id, _Write(change.ticket_id)).change = change
        for part in chunks(list(writes.values()), BATCH_MAX):
            try:
                self._write_part(list(part), results)
            except RetriableError as exc:
                _defer_ids(results, [i for w in part for i in w.outbox_ids], exc)

    def _write_part(self, part: list[_Write], results: dict[int, SinkResult]) -> None:
        names: set[str] = set()
        to_read: list[str] = []
        for write in part:
            if write.update is not None and write.update.expected_version:
                names |= set(write.update.fields) | {"hs_lastmodifieddate"}
                to_read.append(write.ticket_id)
            if write.change is not None and write.change.touches_tags:
                names.add(TAGS_PROPERTY)
                to_read.append(write.ticket_id)
        current = self.api.batch_read("tickets", to_read, sorted(names)) if to_read else {}
        for write in part:
            self._check_update(write, current.get(write.ticket_id), results)
            self._plan_change(write, current.get(write.ticket_id), results)
        self._send([w for w in part if w.update_props is not None or w.change_props], results)

    def _check_update(
        self, write: _Write, record: dict[str, Any] | None, results: dict[int, SinkResult]
    ) -> None:
        """The update_fields to write, unless the ticket is gone or an agent changed them."""
        update = write.update
        if update is None:
            return
        if not update.expected_version:
            write.update_props = update.fields  # first writes: nothing to conflict with
            return
        if record is None or str(record.get("id")) != update.ticket_id:
            for action in update.actions:
                reason = f"HubSpot ticket {update.ticket_id} not found (deleted or merged)"
                results[action.outbox_id] = _skipped(action, reason)
            return
        props = record.get("properties") or {}
        conflicts = find_conflicts(props, update.fields, update.written, update.expected_version)
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
            return
        write.update_props = update.fields

    def _plan_change(
        self, write: _Write, record: dict[str, Any] | None, results: dict[int, SinkResult]
    ) -> None:
        """A rule's properties as HubSpot takes them, tags merged with the current ones."""
        change = write.change
        if change is None:
            return
        props = {k: _wire(v) for k, v in change.properties.items()}
        if change.touches_tags:
            if record is None:
                reason = f"HubSpot ticket {change.ticket_id} not found (deleted or merged)"
                _finish(results, change.outbox_ids, "skipped", {"reason": reason})
                return
            now = (record.get("properties") or {}).get(TAGS_PROPERTY)
            props[TAGS_PROPERTY] = merged_tags(now, change.add_tags, change.remove_tags)
        if not props:  # nothing to write (an escalation without a level or a queue)
            _finish(results, change.outbox_ids, "done", {"ticket_id": change.ticket_id})
            return
        write.change_props = props

    def _send(self, ready: list[_Write], results: dict[int, SinkResult]) -> None:
        if not ready:
            return
        inputs = [{"id": w.ticket_id, "properties": w.properties} for w in ready]
        outcome = BatchOutcome()
        try:
            outcome = self.api.batch_update("tickets", inputs)
            by_id = {str(r.get("id")): r for r in outcome.results}
        except HttpRejected as exc:
            log.warning("hubspot_batch_update_rejected", sink=self.name, status=exc.status_code)
            _raise_if_setup_missing(self.name, exc)
            by_id = self._write_one_by_one(ready, results)
        for write in ready:
            record = by_id.get(write.ticket_id)
            if record is None:
                self._unanswered(write, outcome, results)
                continue
            version = (record.get("properties") or {}).get("hs_lastmodifieddate") or record.get(
                "updatedAt"
            )
            if write.update is not None and write.update_props is not None:
                detail = {
                    "ticket_id": write.ticket_id,
                    "version": version,
                    "written": write.update_props,
                    "coalesced": len(write.update.actions),
                }
                for action in write.update.actions:
                    results.setdefault(
                        action.outbox_id, SinkResult(action.outbox_id, "done", detail)
                    )
            if write.change is not None and write.change_props:
                detail = {"ticket_id": write.ticket_id, "written": write.change_props}
                for outbox_id in write.change.outbox_ids:
                    results.setdefault(outbox_id, SinkResult(outbox_id, "done", dict(detail)))
        log.info("hubspot_tickets_updated", sink=self.name, count=len(by_id))

    def _write_one_by_one(
        self, ready: list[_Write], results: dict[int, SinkResult]
    ) -> dict[str, dict[str, Any]]:
        """After a rejected batch: each ticket alone, and a refused ticket's enrichment and
        rule changes apart, so that only the culprit is skipped, with HubSpot's reason."""
        by_id: dict[str, dict[str, Any]] = {}
        for write in ready:
            parts = [
                (props, ids)
                for props, ids in (
                    (write.update_props, write.update_ids),
                    (write.change_props, write.change_ids),
                )
                if props
            ]
            try:
                by_id[write.ticket_id] = self.api.update(
                    "tickets", write.ticket_id, write.properties
                )
                continue
            except HttpRejected as one:
                if len(parts) == 1:
                    _finish(results, parts[0][1], "skipped", {"reason": _why(write, one)})
                    continue
            except RetriableError as exc:  # the others' results stay
                _defer_ids(results, write.outbox_ids, exc)
                continue
            for props, ids in parts:
                try:
                    by_id[write.ticket_id] = self.api.update("tickets", write.ticket_id, props)
                except HttpRejected as one:
                    _finish(results, ids, "skipped", {"reason": _why(write, one)})
                except RetriableError as exc:
                    _defer_ids(results, ids, exc)
        return by_id

    def _unanswered(
        self, write: _Write, outcome: BatchOutcome, results: dict[int, SinkResult]
    ) -> None:
        """A 207 answer without this ticket's result: HubSpot's error, or try again later."""
        pending = [i for i in write.outbox_ids if i not in results]
        if not pending:
            return
        error = outcome.error_for(write.ticket_id)
        if error is not None and error.get("category") in PERMANENT_CATEGORIES:
            reason = f"HubSpot: {error.get('category')}: {error.get('message')}"
            _finish(results, pending, "skipped", {"reason": reason})
            return
        why = f"HubSpot answered without a result for ticket {write.ticket_id}" + (
            f" ({error.get('category')}: {error.get('message')})" if error else ""
        )
        log.warning("hubspot_batch_result_missing", sink=self.name, ticket_id=write.ticket_id)
        _finish(results, pending, "retry", {"why": why})

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
        text = _text(action.typed().text)
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
            try:
                self._notes_part(list(part), results)
            except RetriableError as exc:
                _defer(part, results, exc)

    def _notes_part(self, part: list[SinkAction], results: dict[int, SinkResult]) -> None:
        pending: list[SinkAction] = []
        existing: dict[str, str] = {}
        if self.settings.note_idempotency:
            older = [t for t in (_ticket_id(a) for a in part) if t not in self._fresh]
            existing = self._existing_note_keys(older) if older else {}
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
        inputs = [
            {**self._note_input(a, _ticket_id(a)), "objectWriteTraceId": _trace(a)} for a in pending
        ]
        try:
            outcome = self.api.batch_create("notes", inputs)
        except HttpRejected as exc:
            log.warning("hubspot_note_batch_rejected", sink=self.name, status=exc.status_code)
            _raise_if_setup_missing(self.name, exc)
            self._create_one_by_one(pending, inputs, results)
            return
        except RetriableError as exc:  # refused, or its outcome unknown: read the keys back
            self._read_back(pending, results, str(exc))
            return
        for batch_error in outcome.errors:
            found = _MISSING_PROPERTY.search(str(batch_error.get("message") or ""))
            if found:
                raise ConfigError(
                    f"{self.name}: HubSpot has no property {found.group(1)!r}; "
                    "run `crmbot setup hubspot`"
                )
        by_trace = {str(r.get("objectWriteTraceId")): r for r in outcome.results}
        by_key = {
            (r.get("properties") or {}).get(NOTE_KEY_PROPERTY): r
            for r in outcome.results
            if (r.get("properties") or {}).get(NOTE_KEY_PROPERTY)
        }
        unanswered: list[SinkAction] = []
        for action in pending:
            note = by_trace.get(_trace(action)) or by_key.get(action.idempotency_key)
            if note is not None:
                detail = {"note_id": str(note["id"]), "ticket_id": _ticket_id(action)}
                results[action.outbox_id] = SinkResult(action.outbox_id, "done", detail)
                continue
            error = outcome.error_for(_trace(action))
            if error is not None and error.get("category") in PERMANENT_CATEGORIES:
                reason = f"HubSpot: {error.get('category')}: {error.get('message')}"
                results[action.outbox_id] = _skipped(action, reason)
            else:
                unanswered.append(action)
        if unanswered:
            self._read_back(unanswered, results, "HubSpot answered without these notes")
        log.info("hubspot_notes_created", sink=self.name, count=len(outcome.results))

    def _create_one_by_one(
        self,
        pending: list[SinkAction],
        inputs: list[dict[str, Any]],
        results: dict[int, SinkResult],
    ) -> None:
        """After a rejected batch: each note alone, so only the culprit is skipped."""
        for action, body in zip(pending, inputs, strict=True):
            try:
                note = self.api.post("/crm/v3/objects/notes", body, idempotent=False)
            except HttpRejected as one:
                results[action.outbox_id] = _skipped(action, one.vendor_message)
                continue
            except RetriableError as exc:
                self._read_back([action], results, str(exc))
                continue
            detail = {"note_id": str(note["id"]), "ticket_id": _ticket_id(action)}
            results[action.outbox_id] = SinkResult(action.outbox_id, "done", detail)

    def _read_back(
        self, actions: list[SinkAction], results: dict[int, SinkResult], why: str
    ) -> None:
        """Notes whose creation may or may not have happened: look for their key first.

        Found: done. Not found: "retry" (the next cycle reads back again before creating).
        Without `note_idempotency` there is no key to look for: the action is skipped with
        that reason rather than risk a duplicate note.
        """
        if not self.settings.note_idempotency:
            for action in actions:
                results[action.outbox_id] = _skipped(
                    action,
                    f"{why}; without note_idempotency crmbot cannot tell whether the note "
                    "exists, so it is not sent again",
                )
            return
        try:
            existing = self._existing_note_keys([_ticket_id(a) for a in actions])
        except RetriableError as exc:
            existing = {}
            why = f"{why}; read-back failed: {exc}"
        for action in actions:
            note_id = existing.get(action.idempotency_key)
            if note_id:
                detail = {"note_id": note_id, "ticket_id": _ticket_id(action), "read_back": True}
                results[action.outbox_id] = SinkResult(action.outbox_id, "done", detail)
            else:
                results[action.outbox_id] = SinkResult(action.outbox_id, "retry", {"why": why})
        log.info("hubspot_note_keys_read_back", sink=self.name, count=len(actions))

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


def _trace(action: SinkAction) -> str:
    """The objectWriteTraceId that ties a created note back to its action."""
    return f"crmbot-{action.outbox_id}"


def _defer(actions: Sequence[SinkAction], results: dict[int, SinkResult], exc: Exception) -> None:
    """Actions not resolved yet when an outage hit: try again later (results kept)."""
    detail: dict[str, Any] = {"why": str(exc)}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        detail["retry_after"] = retry_after
    for action in actions:
        if action.outbox_id not in results:
            results[action.outbox_id] = SinkResult(action.outbox_id, "retry", dict(detail))


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


def _missing(outbox_id: int) -> SinkResult:
    """No result came for an action: perform it again later."""
    return SinkResult(outbox_id, "retry", {"why": "no result for this action"})


def _escalation_note(action: SinkAction, message: str) -> SinkAction:
    """The note an escalation's message becomes (its result is the escalation's own)."""
    return SinkAction(
        -action.outbox_id,
        f"{action.idempotency_key}/note",
        "add_note",
        action.target,
        {"text": message},
        action.case_reference,
        AddNote(text=message),
    )


def _defer_ids(results: dict[int, SinkResult], outbox_ids: list[int], exc: Exception) -> None:
    """Like `_defer`, for actions known by their outbox ids."""
    detail: dict[str, Any] = {"why": str(exc)}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        detail["retry_after"] = retry_after
    for outbox_id in outbox_ids:
        results.setdefault(outbox_id, SinkResult(outbox_id, "retry", dict(detail)))


def _finish(
    results: dict[int, SinkResult], outbox_ids: list[int], status: str, detail: dict[str, Any]
) -> None:
    for outbox_id in outbox_ids:
        results[outbox_id] = SinkResult(outbox_id, status, dict(detail))


def _skipped(action: SinkAction, reason: str) -> SinkResult:
    return SinkResult(action.outbox_id, "skipped", {"reason": reason})
