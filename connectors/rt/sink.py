"""Request Tracker 5 sink: Priority and custom fields, and comments (never correspondence).

Per ticket and cycle: read it once, drop any owned field an agent changed after crmbot's last
write (reported as a conflict, never overwritten), write the rest in one `PUT /ticket/{id}`,
add the notes as one Comment (internal: RT sends no mail to the requestor for a comment),
then read LastUpdated back as the version to expect next time.

The write is conditional: REST 2 sends an ETag with the ticket (its last transaction id) and
honours If-Match on PUT (412 Precondition Failed when the ticket changed after crmbot read
it), so an agent's edit between the read and the write is never overwritten: crmbot reads
again, re-checks for conflicts, and writes once more (a second 412 is a "retry").

RT answers 200 with a list of messages even when a field update failed (a custom field
value that does not match its pattern, a right missing): the sink reads the ticket back and
compares every field it wrote; one that did not take is reported with RT's messages (the
action is skipped with that reason, never reported done). A comment is not re-posted blindly
after an unknown outcome: the next cycle looks for it among the ticket's attachments first.

Actions (bot/actions.py): update_fields {"fields", "expected_version", "written"} with
"crmbot_priority" as RT's Priority, mapped through `priority_map` (P1..P4 -> 90/70/50/20) or
given as 0-99; add_note {"text"} as a comment; set_priority -> Priority; assign {"queue",
"owner"} -> Queue and Owner; escalate {"to", "queue" or `escalation_queue`, "message"} ->
Priority, Queue and a comment; set_field "case.x" -> the custom field mapped to "x" in
`custom_fields`; add_tag/remove_tag {"tag"} -> the custom field `tags_custom_field` (tags.py:
read, merged with the agent's own tags, written in the same conditional PUT; a ticket without
that field skips them with how to fix it). With `tags_custom_field: null` RT has no tags, and
REST 2 has no merge: a rule that plans them for an RT write-back is refused at load
(REFUSALS); a stray one is skipped with that reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import structlog

from bot.actions import (
    AddNote,
    AddTag,
    Assign,
    Escalate,
    RemoveTag,
    SetField,
    SetPriority,
    UpdateFields,
)
from bot.errors import ConfigError, MalformedInput, RetriableError, SourceUnavailable
from connectors.base import SinkAction, SinkResult, new_results
from connectors.kit.clock import Clock
from connectors.kit.contacts import changed as contact_changes
from connectors.kit.contacts import done as contact_done
from connectors.kit.contacts import perform_with_contact_updates
from connectors.kit.contacts import skipped as contact_skipped
from connectors.kit.http import HttpRejected
from connectors.kit.replies import PublicReply
from connectors.kit.tickets import (
    NOTE_SEPARATOR,
    TicketPlan,
    mapped_key,
    owned_by_action,
    owned_update,
    read_action,
    skip,
)
from connectors.rt import replies as rt_replies
from connectors.rt.client import label, make_client
from connectors.rt.settings import RtSettings
from connectors.rt.tags import (
    NO_TAGS,
    TAG_ACTIONS,
    bad_tag,
    field_value,
    merge_tags,
    missing_field,
)

log = structlog.get_logger(__name__)

# The action types this sink performs (declared once; the connector spec publishes it), and
# why it refuses the others (shown when a rule is refused at load).
SINK_ACTIONS = frozenset(
    {
        "update_fields",
        "add_note",
        "set_field",
        "set_priority",
        "assign",
        "escalate",
        "update_contact",
    }
)
# crmbot's contact fields -> the RT user's core fields (REST 2 /user/{id}).
USER_FIELDS = {
    "postal_address": "Address1",
    "phone": "MobilePhone",
    "email": "EmailAddress",
    "company_name": "Organization",
    "billing_contact": "FreeformContactInfo",
}
REFUSALS = {
    "add_tag": NO_TAGS,
    "remove_tag": NO_TAGS,
    "merge": "Request Tracker's REST 2 API has no merge",
    "send_reply": "crmbot never corresponds through RT (replies go through an smtp sink)",
}
EMPTY = (None, "", 0)  # a ticket field's values that no agent has set


@dataclass
class _Plan(TicketPlan):
    """Everything crmbot wants done to one RT ticket this cycle (kit's plan, and RT's own)."""

    unknown: list[str] = field(default_factory=list)  # custom fields missing on the ticket
    failed: dict[str, str] = field(default_factory=dict)  # field -> RT's messages
    tags: list[tuple[str, str]] = field(default_factory=list)  # (add_tag|remove_tag, tag)
    tags_wanted: str | None = None  # the tags field's value after the merge
    tags_error: str | None = None  # why the tag actions were not performed


class RtSink:
    """Performs crmbot's planned actions on RT tickets."""

    performs = SINK_ACTIONS

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
        self.performs = SINK_ACTIONS | TAG_ACTIONS if settings.tags_custom_field else SINK_ACTIONS
        self.label = label(name)
        self.http = make_client(name, settings, clock=clock, transport=transport)

    def close(self) -> None:
        """Release connections."""
        self.http.close()

    def last_public_reply(self, ticket_id: str) -> PublicReply | None:
        """The ticket's last public agent reply (connectors/rt/replies.py)."""
        return rt_replies.last_public_reply(self.http, ticket_id)

    @property
    def owned_fields(self) -> frozenset[str]:
        """What crmbot may write: priority and the mapped custom fields."""
        return frozenset({"priority", *self.settings.custom_fields})

    def perform(self, actions: list[SinkAction]) -> Iterator[SinkResult]:
        """Coalesce per ticket, check for conflicts, write, comment; one result per action,
        yielded in order, each as soon as the call that performs it completed."""
        return perform_with_contact_updates(actions, self._update_contact, self._perform_each)

    def _update_contact(self, action: SinkAction) -> SinkResult:
        """Set the RT user's fields (found by its address on file); report the old ones."""
        spec = action.typed()
        try:
            user = self.http.get(f"/user/{quote(spec.contact, safe='@')}")
        except HttpRejected as exc:
            return contact_skipped(action, exc.vendor_message)
        if not isinstance(user, dict) or not user.get("id"):
            return contact_skipped(action, f"no RT user has {spec.contact}")
        previous, changes = contact_changes(USER_FIELDS, spec.fields, user)
        if changes:
            try:
                answer = self.http.put(f"/user/{user['id']}", json=changes)
            except HttpRejected as exc:
                return contact_skipped(action, exc.vendor_message)
            refused = [m for m in answer or [] if isinstance(m, str) and "could not" in m.lower()]
            if refused:
                return contact_skipped(action, "; ".join(refused))
        return contact_done(action, user["id"], previous, spec.fields)

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
            except RetriableError as exc:  # this ticket later; the others' results stay
                plan.defer(str(exc), exc.retry_after)
            for action in plan.actions:
                results[action.outbox_id] = self._result(plan, action)
            yield from new_results(results, handed_out)

    # -- planning ---------------------------------------------------------------------------

    def _plan(self, action: SinkAction, plans: dict[int, _Plan]) -> SinkResult | None:
        read = read_action(action, "rt", "RT", self.performs, REFUSALS)
        if isinstance(read, SinkResult):
            return read
        number, spec = read
        plan = plans.setdefault(number, _Plan(number))
        if isinstance(spec, AddTag | RemoveTag):
            bad = bad_tag(spec.tag)
            if bad is not None:
                return skip(action, bad)
            plan.tags.append((spec.type, spec.tag))
        elif isinstance(spec, UpdateFields):
            found = owned_update(action, spec.fields, self.owned_fields)
            if isinstance(found, SinkResult):
                return found
            wanted, unmapped = found
            if "priority" in wanted and self._rt_priority(wanted["priority"]) is None:
                return skip(action, f"priority {wanted['priority']!r} is not 0-99 or mapped")
            plan.take_update(action, unmapped, spec.expected_version)
            plan.fields.update(wanted)
        elif isinstance(spec, AddNote):
            plan.add_note(spec.text)
            plan.expect(spec.expected_version)
        else:
            try:
                changes = self._direct_changes(spec)
            except MalformedInput as exc:
                return skip(action, str(exc))
            plan.take_direct(changes, getattr(spec, "message", ""), "CustomFields")
        plan.actions.append(action)
        return None

    def _direct_changes(self, spec: Any) -> dict[str, Any]:
        """The ticket changes a rule's set_priority, set_field, assign or escalate asks for."""
        if isinstance(spec, SetPriority | Escalate):
            changes: dict[str, Any] = {}
            level = spec.priority if isinstance(spec, SetPriority) else spec.to
            if level:
                priority = self._rt_priority(level)
                if priority is None:
                    raise MalformedInput(f"priority {level!r} is not 0-99 or mapped")
                changes["Priority"] = priority
            queue = None
            if isinstance(spec, Escalate):
                queue = spec.queue or self.settings.escalation_queue
            if queue:
                changes["Queue"] = queue
            return changes
        if isinstance(spec, Assign):
            changes = {}
            if spec.queue:
                changes["Queue"] = spec.queue
            if spec.owner:
                changes["Owner"] = spec.owner
            return changes
        if isinstance(spec, SetField):
            key = mapped_key(spec.field, self.settings.custom_fields)
            if key is not None:
                value = None if spec.value is None else str(spec.value)
                return {"CustomFields": {self.settings.custom_fields[key]: value}}
            raise MalformedInput(
                f"set_field {spec.field}: no RT custom field is mapped to it (custom_fields)"
            )
        raise MalformedInput(f"the rt sink does not perform {spec.type!r}")

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
                priority: Any = ticket.get("Priority")
                return int(priority)
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
        """Read, check, write under If-Match; once more after a 412; then a retry."""
        for _attempt in range(2):
            try:
                self._apply_once(plan)
                return
            except HttpRejected as exc:
                if exc.status_code != 412:
                    raise
                log.info("rt_write_precondition_failed", sink=self.name, ticket_id=plan.ticket_id)
        plan.retry = "the ticket changed while crmbot was writing it (HTTP 412 twice)"

    def _read(self, ticket_id: int) -> tuple[dict[str, Any], str | None]:
        response = self.http.request("GET", f"/ticket/{ticket_id}")
        try:
            ticket = response.json()
        except ValueError:
            raise SourceUnavailable(f"{self.label}: ticket {ticket_id} is not JSON") from None
        return ticket, response.headers.get("ETag")

    def _apply_once(self, plan: _Plan) -> None:
        plan.conflicts.clear()
        plan.unknown.clear()
        plan.failed.clear()
        try:
            ticket, etag = self._read(plan.ticket_id)
        except HttpRejected as exc:
            plan.error = f"ticket {plan.ticket_id}: {exc.vendor_message}"
            return
        changed_since = plan.changed_since_expected(ticket.get("LastUpdated"))
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
            if plan.agent_changed(
                key, current, wanted, self._wanted, changed_since=changed_since, empty=EMPTY
            ):
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
        for key, value in plan.direct.items():  # a rule's explicit changes, as asked
            if key == "CustomFields":
                custom.update(value)
            else:
                update[key] = value
        self._merge_tags(plan, ticket, custom)
        if custom:
            update["CustomFields"] = custom
        messages: list[str] = []
        if update:
            conditional = {"If-Match": etag} if etag else {}
            answer = self.http.put(f"/ticket/{plan.ticket_id}", json=update, headers=conditional)
            messages = [str(m) for m in answer] if isinstance(answer, list) else []
        notes = self._new_notes(plan) if plan.notes else []
        if notes:
            self.http.post(
                f"/ticket/{plan.ticket_id}/comment",
                json={"Content": NOTE_SEPARATOR.join(notes), "ContentType": "text/plain"},
                idempotent=False,
            )
        if update or notes:
            log.info(
                "rt_ticket_written",
                sink=self.name,
                ticket_id=plan.ticket_id,
                fields=sorted(update),
                notes=len(notes),
            )
            ticket, _ = self._read(plan.ticket_id)
            self._verify(plan, ticket, messages)
            self._verify_tags(plan, ticket, messages)
        plan.version = ticket.get("LastUpdated")

    def _verify(self, plan: _Plan, ticket: dict[str, Any], messages: list[str]) -> None:
        """Fields RT answered 200 for but did not set: report them with RT's messages."""
        said = "; ".join(messages) or "RT gave no reason"
        for key, value in plan.fields.items():
            if key in plan.conflicts or key in plan.unknown:
                continue
            try:
                current = self._current(ticket, key)
            except KeyError:
                continue
            if current != self._wanted(key, value):
                plan.failed[key] = said
        if plan.failed:
            log.warning(
                "rt_field_update_failed",
                sink=self.name,
                ticket_id=plan.ticket_id,
                fields=sorted(plan.failed),
                messages=said,
            )

    def _merge_tags(self, plan: _Plan, ticket: dict[str, Any], custom: dict[str, Any]) -> None:
        """Add the tags field's new value to `custom`: the ticket's tags with crmbot's merged in."""
        plan.tags_error = plan.tags_wanted = None
        if not plan.tags:
            return
        name = self.settings.tags_custom_field or ""
        present, current = field_value(ticket, name)
        if not present:
            plan.tags_error = missing_field(name)
            log.warning(
                "rt_custom_field_missing",
                sink=self.name,
                ticket_id=plan.ticket_id,
                custom_field=name,
            )
            return
        plan.tags_wanted = merge_tags(current, plan.tags)
        if (current or "") != plan.tags_wanted:
            custom[name] = plan.tags_wanted or None

    def _check_tags_field(self) -> str:
        """Whether the tags custom field exists (ConfigError with the fix when it does not)."""
        name = self.settings.tags_custom_field
        if not name:
            return f"{self.label}: no tags (tags_custom_field: null)"
        found = self.http.post(
            "/customfields",
            json=[{"field": "Name", "value": name}],
            params={"fields": "Name,LookupType,Disabled"},
            idempotent=True,
        )
        for item in (found or {}).get("items") or []:
            if (
                isinstance(item, dict)
                and item.get("Name") == name
                and item.get("LookupType") == "RT::Queue-RT::Ticket"
                and str(item.get("Disabled") or "0") == "0"
            ):
                return f"{self.label}: tags in ticket custom field {name!r}"
        raise ConfigError(f"{self.label}: {missing_field(name, 'does not exist for tickets')}")

    def _verify_tags(self, plan: _Plan, ticket: dict[str, Any], messages: list[str]) -> None:
        """Tags RT answered 200 for but did not store: the tag actions are skipped with why."""
        if plan.tags_wanted is None:
            return
        _, current = field_value(ticket, self.settings.tags_custom_field or "")
        if (current or "") != plan.tags_wanted:
            said = "; ".join(messages) or "RT gave no reason"
            plan.tags_error = f"RT did not apply the tags field: {said}"
            log.warning(
                "rt_field_update_failed",
                sink=self.name,
                ticket_id=plan.ticket_id,
                fields=["tags"],
                messages=said,
            )

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
        detail = plan.detail()
        failed_plan = plan.failure(action, detail)
        if failed_plan is not None:
            return failed_plan
        if action.action in TAG_ACTIONS:
            if plan.tags_error is not None:
                detail["reason"] = plan.tags_error
                return SinkResult(action.outbox_id, "skipped", detail)
            detail["tags"] = plan.tags_wanted
        if action.action == "update_fields":
            mine = owned_by_action(action, self.owned_fields)
            if plan.unmapped.get(action.outbox_id):
                detail["unmapped"] = plan.unmapped[action.outbox_id]
            conflicts = plan.conflicts_of(mine)
            unknown = sorted(mine & set(plan.unknown))
            failed = {k: v for k, v in plan.failed.items() if k in mine}
            detail["written"] = sorted(mine - set(conflicts) - set(unknown) - set(failed))
            if failed:
                detail["failed"] = sorted(failed)
                detail["reason"] = (
                    "RT did not apply "
                    + ", ".join(sorted(failed))
                    + ": "
                    + (next(iter(failed.values())))
                )
                return SinkResult(action.outbox_id, "skipped", detail)
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
        """Sign in (one cheap authenticated GET), then check the tags custom field exists."""
        data = self.http.get("/queues/all")
        signed_in = f"signed in to {self.settings.url}, {data.get('total', 0)} queue(s)"
        return f"{signed_in}; {self._check_tags_field()}"
