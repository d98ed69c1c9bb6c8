"""Zendesk sink: crmbot's write-back, coalesced per ticket and batched through update_many.

One cycle: read the targeted tickets (`show_many`, 100 per call), drop any owned field an agent
changed since crmbot's last write (a conflict, reported, never overwritten), fold every
update_fields / add_tags / add_note for a ticket into one update, send them 100 at a time with
`PUT /api/v2/tickets/update_many.json` (each with `safe_update`, so a change made meanwhile is
refused too), poll the job status, then merge confirmed duplicates.

Zendesk performs update_many and merge in background jobs (job_status: queued, working,
completed, failed). A job's outcome becomes a result per action, never an exception that
would throw away what the same call already did: a ticket the job could not update is
skipped with Zendesk's reason (a closed ticket stays closed: retrying cannot help), a conflict
is a conflict, and a job that failed as a whole, a job still running at the deadline or an
outage while writing is a "retry" for just the actions it carried. update_many carrying a
note is not retried blindly after a 5xx (the note may be posted): the next cycle reads the
ticket's comments back first (`dedupe_notes`).


Actions (the typed models of bot/actions.py; one ticket's actions become one update):
- update_fields: crmbot's enrichment {"fields": {"priority" (or "crmbot_priority"): "P2",
  "tags": [...], "<name mapped in custom_fields>": value}, "expected_version", "written"};
  owned fields an agent changed are a conflict; fields not mapped are listed as `unmapped`.
- add_note {"text"} -> an internal note (public: false), not posted twice.
- add_tag / remove_tag {"tag"} -> additional_tags / remove_tags (an agent's other tags stay).
- set_priority {"priority"} -> priority through `priority_map`.
- set_field {"field": "case.x", "value"} -> the custom field mapped to "x" (or "case.x") in
  `custom_fields`, or Zendesk's own status/priority/type; anything else is skipped with why.
- assign {"queue", "owner"} -> group_id (a group id, or a name in `groups`) and assignee_id
  (an id, a name in `agents`) or assignee_email.
- escalate {"to", "queue", "message"} -> priority, group (`queue` or `escalation_group`), and
  the message as an internal note.
- merge {"into"}: the target ticket is merged into ticket `into` (a job, polled).
A rule's explicit changes (priority, group, assignee, field) are written as asked, without
the enrichment's conflict check: an admin's rule decided them.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog

from bot.actions import (
    AddNote,
    AddTag,
    Assign,
    Escalate,
    Merge,
    RemoveTag,
    SetField,
    SetPriority,
    UpdateFields,
)
from bot.errors import AuthError, MalformedInput, RetriableError, SourceUnavailable
from connectors.base import SinkAction, SinkResult, new_results
from connectors.kit.clock import Clock
from connectors.kit.contacts import changed as contact_changes
from connectors.kit.contacts import done as contact_done
from connectors.kit.contacts import perform_with_contact_updates
from connectors.kit.contacts import skipped as contact_skipped
from connectors.kit.http import HttpRejected
from connectors.kit.mapping import parse_timestamp
from connectors.kit.replies import PublicReply
from connectors.kit.tickets import (
    NOTE_SEPARATOR,
    TicketPlan,
    chunks,
    mapped_key,
    newer,
    owned_by_action,
    owned_update,
    read_action,
    skip,
    ticket_id,
)
from connectors.zendesk import replies as zendesk_replies
from connectors.zendesk.client import ZendeskApi
from connectors.zendesk.settings import ZendeskSettings

log = structlog.get_logger(__name__)

# crmbot's contact fields -> the Zendesk user's attributes (user_fields.<key>: custom fields).
USER_FIELDS = {
    "postal_address": "user_fields.postal_address",
    "phone": "phone",
    "email": "email",
    "company_name": "user_fields.company_name",
    "billing_contact": "user_fields.billing_contact",
}

# The action types this sink performs (declared once; the connector spec publishes it).
SINK_ACTIONS = frozenset(
    {
        "update_fields",
        "add_note",
        "add_tag",
        "remove_tag",
        "set_field",
        "set_priority",
        "assign",
        "escalate",
        "merge",
        "update_contact",
    }
)
MAX_BULK = 100
MAX_MERGE_SOURCES = 5
EMPTY: tuple[Any, ...] = (None, "", [])  # a ticket field's values that no agent has set


@dataclass
class _Plan(TicketPlan):
    """Everything crmbot wants done to one ticket this cycle (kit's plan, and Zendesk's own)."""

    tags: list[str] = field(default_factory=list)
    remove_tags: list[str] = field(default_factory=list)
    current: dict[str, Any] | None = None  # the ticket as read this cycle


# Words in a job's or a result's message that mean retrying cannot help.
PERMANENT_MARKERS = ("closed", "not found", "notfound", "invalid", "cannot be merged", "permission")


def is_permanent(message: str | None) -> bool:
    """True when a Zendesk job/result message describes a failure retrying cannot fix."""
    text = (message or "").lower()
    return any(marker in text for marker in PERMANENT_MARKERS)


class ZendeskSink:
    """Performs crmbot's planned actions on Zendesk tickets."""

    performs = SINK_ACTIONS

    def __init__(
        self,
        name: str,
        settings: ZendeskSettings,
        *,
        clock: Clock | None = None,
        transport: Any = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.api = ZendeskApi(name, settings, clock=clock, transport=transport)
        self.label = self.api.label
        self._server_time = 0.0

    def close(self) -> None:
        """Release connections."""
        self.api.close()

    def last_public_reply(self, ticket_id: str) -> PublicReply | None:
        """The ticket's last public agent reply (connectors/zendesk/replies.py)."""
        return zendesk_replies.last_public_reply(self.api.http, ticket_id)

    @property
    def owned_fields(self) -> frozenset[str]:
        """The ticket fields crmbot may write: priority, tags, and the mapped custom fields."""
        return frozenset({"priority", "tags", *self.settings.custom_fields})

    # -- entry point ------------------------------------------------------------------------

    def perform(self, actions: list[SinkAction]) -> Iterator[SinkResult]:
        """Coalesce, check for conflicts, write in batches, merge; one result per action,
        yielded in order, each as soon as the call that performs it completed."""
        return perform_with_contact_updates(actions, self._update_contact, self._perform_each)

    def _update_contact(self, action: SinkAction) -> SinkResult:
        """Set the requester's user fields (found by its address on file); report the old ones."""
        spec = action.typed()
        try:
            data = self.api.http.get(
                "/api/v2/users/search.json", params={"query": f"email:{spec.contact}"}
            )
        except HttpRejected as exc:
            return contact_skipped(action, str(exc))
        users = [u for u in (data or {}).get("users") or [] if isinstance(u, dict)]
        if len(users) != 1:
            return contact_skipped(action, f"{len(users)} Zendesk users have {spec.contact}")
        user = users[0]
        current = {
            "email": user.get("email"),
            "phone": user.get("phone"),
            **{f"user_fields.{k}": v for k, v in (user.get("user_fields") or {}).items()},
        }
        previous, changes = contact_changes(USER_FIELDS, spec.fields, current)
        if changes:
            body: dict[str, Any] = {k: v for k, v in changes.items() if "." not in k}
            extra = {k.split(".", 1)[1]: v for k, v in changes.items() if "." in k}
            if extra:
                body["user_fields"] = extra
            try:
                self.api.http.put(f"/api/v2/users/{user['id']}.json", json={"user": body})
            except HttpRejected as exc:
                return contact_skipped(action, str(exc))
        return contact_done(action, user["id"], previous, spec.fields)

    def _perform_each(self, actions: list[SinkAction]) -> Iterator[SinkResult]:
        results: dict[int, SinkResult] = {}
        plans: dict[int, _Plan] = {}
        merges: list[tuple[SinkAction, int, int]] = []
        for action in actions:
            skipped = self._plan(action, plans, merges)
            if skipped is not None:
                results[action.outbox_id] = skipped
        handed_out: set[int] = set()
        yield from new_results(results, handed_out)
        if plans:
            self._load_current(plans.values())
            for plan in plans.values():
                if plan.current is not None:
                    self._check_conflicts(plan)
            self._dedupe_notes(plans.values())
            self._write(list(plans.values()))
            try:
                self._refresh_versions(
                    [p for p in plans.values() if p.error is None and p.retry is None]
                )
            except RetriableError as exc:  # the writes are done: report them without versions
                log.warning("zendesk_version_read_failed", sink=self.name, error=str(exc))
            for plan in plans.values():
                for action in plan.actions:
                    results[action.outbox_id] = self._result(plan, action)
            yield from new_results(results, handed_out)
        for action, status, detail in self._merge(merges):
            results[action.outbox_id] = SinkResult(action.outbox_id, status, detail)
        yield from new_results(results, handed_out)

    # -- planning ---------------------------------------------------------------------------

    def _plan(
        self,
        action: SinkAction,
        plans: dict[int, _Plan],
        merges: list[tuple[SinkAction, int, int]],
    ) -> SinkResult | None:
        read = read_action(action, "zendesk", "Zendesk", SINK_ACTIONS)
        if isinstance(read, SinkResult):
            return read
        number, spec = read
        if isinstance(spec, Merge):
            into = ticket_id(spec.into)
            if into is None or into == number:
                return skip(action, "merge needs payload.into, another ticket id")
            merges.append((action, number, into))
            return None
        plan = plans.setdefault(number, _Plan(number))
        if isinstance(spec, UpdateFields):
            found = owned_update(action, spec.fields, self.owned_fields)
            if isinstance(found, SinkResult):
                return found
            wanted, unmapped = found
            plan.take_update(action, unmapped, spec.expected_version)
            for key, value in wanted.items():
                if key == "tags":
                    plan.tags.extend(_tag_list(value))
                else:
                    plan.fields[key] = value
        elif isinstance(spec, AddNote):
            plan.add_note(spec.text)
            plan.expect(spec.expected_version)
        elif isinstance(spec, AddTag | RemoveTag):
            tags = _tag_list([spec.tag])
            (plan.tags if isinstance(spec, AddTag) else plan.remove_tags).extend(tags)
        else:
            try:
                changes = self._direct_changes(spec)
            except MalformedInput as exc:
                return skip(action, str(exc))
            plan.take_direct(changes, getattr(spec, "message", ""), "custom_fields")
        plan.actions.append(action)
        return None

    def _direct_changes(self, spec: Any) -> dict[str, Any]:
        """The ticket changes a rule's set_priority, set_field, assign or escalate asks for."""
        if isinstance(spec, SetPriority):
            return {"priority": self._zendesk_value("priority", spec.priority)}
        if isinstance(spec, Escalate):
            changes: dict[str, Any] = {}
            if spec.to:
                changes["priority"] = self._zendesk_value("priority", spec.to)
            queue = spec.queue or self.settings.escalation_group
            if queue:
                changes["group_id"] = self._group_id(queue)
            return changes
        if isinstance(spec, Assign):
            changes = {}
            if spec.queue:
                changes["group_id"] = self._group_id(spec.queue)
            if spec.owner:
                owner = spec.owner.strip()
                if owner.isdigit():
                    changes["assignee_id"] = int(owner)
                elif owner in self.settings.agents:
                    changes["assignee_id"] = self.settings.agents[owner]
                elif "@" in owner:
                    changes["assignee_email"] = owner
                else:
                    raise MalformedInput(
                        f"assign owner {owner!r}: not an agent id, an e-mail, nor in agents"
                    )
            return changes
        if isinstance(spec, SetField):
            key = mapped_key(spec.field, self.settings.custom_fields)
            if key is not None:
                field_id = self.settings.custom_fields[key]
                return {"custom_fields": [{"id": field_id, "value": spec.value}]}
            name = spec.field.split(".", 1)[1] if "." in spec.field else spec.field
            if name in ("status", "priority", "type"):
                return {name: spec.value}
            raise MalformedInput(
                f"set_field {spec.field}: no Zendesk field is mapped to it (custom_fields)"
            )
        raise MalformedInput(f"the zendesk sink does not perform {spec.type!r}")

    def _group_id(self, queue: str) -> int:
        if queue.isdigit():
            return int(queue)
        if queue in self.settings.groups:
            return self.settings.groups[queue]
        raise MalformedInput(f"queue {queue!r} is not a Zendesk group (map it in groups)")

    # -- reading and conflicts --------------------------------------------------------------

    def _show_many(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        for chunk in chunks(ids, MAX_BULK):
            response = self.api.http.request(
                "GET", "/api/v2/tickets/show_many.json", params={"ids": ",".join(map(str, chunk))}
            )
            self._server_time = _server_time(response.headers.get("Date"), self.api.clock)
            try:
                data = response.json()
            except ValueError:
                raise SourceUnavailable(f"{self.label}: show_many answered no JSON") from None
            for ticket in (data or {}).get("tickets") or []:
                if isinstance(ticket, dict) and isinstance(ticket.get("id"), int):
                    found[ticket["id"]] = ticket
        return found

    def _load_current(self, plans: Iterable[_Plan]) -> None:
        """Read every targeted ticket; a chunk that cannot be read now is deferred alone."""
        for chunk in chunks(list(plans), MAX_BULK):
            try:
                found = self._show_many([p.ticket_id for p in chunk])
            except RetriableError as exc:
                for plan in chunk:
                    plan.defer(str(exc), exc.retry_after)
                continue
            for plan in chunk:
                plan.current = found.get(plan.ticket_id)
                if plan.current is None:
                    plan.error = f"ticket {plan.ticket_id} not found (deleted, or no access)"

    def _current_value(self, current: dict[str, Any], key: str) -> Any:
        if key == "priority":
            return current.get("priority")
        field_id = self.settings.custom_fields[key]
        for entry in current.get("custom_fields") or []:
            if isinstance(entry, dict) and entry.get("id") == field_id:
                return entry.get("value")
        return None

    def _zendesk_value(self, key: str, value: Any) -> Any:
        if key == "priority" and value is not None:
            return self.settings.priority_map.get(str(value), str(value))
        return value

    def _check_conflicts(self, plan: _Plan) -> None:
        """Drop owned fields an agent changed after crmbot's last write; record them."""
        assert plan.current is not None
        changed_since = plan.changed_since_expected(plan.current.get("updated_at"))
        for key in list(plan.fields):
            wanted = self._zendesk_value(key, plan.fields[key])
            current = self._current_value(plan.current, key)
            if current == wanted:
                continue
            if plan.agent_changed(
                key, current, wanted, self._zendesk_value, changed_since=changed_since, empty=EMPTY
            ):
                del plan.fields[key]
        if plan.conflicts:
            log.warning(
                "zendesk_write_conflict",
                sink=self.name,
                ticket_id=plan.ticket_id,
                fields=sorted(plan.conflicts),
                updated_at=plan.current.get("updated_at"),
                expected_version=plan.expected_version,
            )

    def _dedupe_notes(self, plans: Iterable[_Plan]) -> None:
        """Drop notes already on the ticket (a retried cycle must not post them twice).

        A ticket not updated since the version crmbot expects cannot hold a note from an
        earlier attempt (posting it would have moved updated_at): no need to look.
        """
        if not self.settings.dedupe_notes:
            return
        for plan in plans:
            if not plan.notes or plan.error is not None or plan.current is None:
                continue
            if plan.retry is not None:
                continue
            if plan.expected_version is not None and not newer(
                plan.current.get("updated_at"), plan.expected_version
            ):
                continue
            try:
                data = self.api.http.get(
                    f"/api/v2/tickets/{plan.ticket_id}/comments.json",
                    params={"sort_order": "desc", "per_page": 100},
                )
            except RetriableError as exc:  # cannot tell whether the note is there: later
                plan.defer(str(exc), exc.retry_after)
                continue
            existing = {
                str(c.get("body") or "").strip()
                for c in (data or {}).get("comments") or []
                if isinstance(c, dict) and not c.get("public", True)
            }
            kept = [n for n in plan.notes if n not in existing]
            for body in (n for n in plan.notes if n in existing):
                log.info(
                    "zendesk_note_already_present",
                    sink=self.name,
                    ticket_id=plan.ticket_id,
                    chars=len(body),
                )
            plan.notes = kept

    # -- writing ----------------------------------------------------------------------------

    def _update_body(self, plan: _Plan) -> dict[str, Any] | None:
        assert plan.current is not None
        body: dict[str, Any] = {"id": plan.ticket_id}
        custom = []
        for key, value in plan.fields.items():
            if key == "priority":
                body["priority"] = self._zendesk_value(key, value)
            else:
                custom.append({"id": self.settings.custom_fields[key], "value": value})
        if custom:
            body["custom_fields"] = custom
        current_tags = plan.current.get("tags") or []
        tags = [t for t in dict.fromkeys(plan.tags) if t not in current_tags]
        if tags:
            body["additional_tags"] = tags
        gone = [t for t in dict.fromkeys(plan.remove_tags) if t in current_tags]
        if gone:
            body["remove_tags"] = gone
        for key, value in plan.direct.items():
            if key == "custom_fields":
                body["custom_fields"] = [*body.get("custom_fields", []), *value]
            else:
                body[key] = value
        if plan.notes:
            body["comment"] = {"body": NOTE_SEPARATOR.join(plan.notes), "public": False}
        if len(body) == 1:
            return None
        body["safe_update"] = True
        body["updated_stamp"] = plan.current.get("updated_at")
        return body

    def _leave_the_read_second(self, plans: list[_Plan]) -> None:
        """Make sure this write gets a later updated_at than the one just read.

        Stamps have one-second resolution: a note written in the very second of the version
        crmbot holds would leave updated_at unchanged, and a retry could not tell that the
        note is already there. Waiting for the server's clock to pass that second keeps
        "updated_at moved" a reliable sign of an earlier attempt.
        """
        latest = 0.0
        for plan in plans:
            if plan.current is None or not plan.notes or plan.error is not None:
                continue
            try:
                latest = max(latest, parse_timestamp(plan.current.get("updated_at")).timestamp())
            except Exception:
                continue
        wait = math.floor(latest) + 1 - self._server_time
        if latest and wait > 0:
            self.api.clock.sleep(min(wait, 2.0))

    def _write(self, plans: list[_Plan]) -> None:
        self._leave_the_read_second(plans)
        bodies = []
        for plan in plans:
            if plan.error is not None or plan.retry is not None or plan.current is None:
                continue
            body = self._update_body(plan)
            if body is not None:
                bodies.append(body)
        by_id = {p.ticket_id: p for p in plans}
        for chunk in chunks(bodies, MAX_BULK):
            try:
                # never resent blindly: a note would be posted twice, and a repeated safe_update
                # with the old stamp would come back as a false UpdateConflict
                data = self.api.http.put(
                    "/api/v2/tickets/update_many.json", json={"tickets": chunk}, idempotent=False
                )
                job = self._wait_for_job((data or {}).get("job_status") or {})
            except HttpRejected as exc:
                for body in chunk:
                    by_id[body["id"]].error = f"update_many rejected: {exc.vendor_message}"
                continue
            except RetriableError as exc:
                for body in chunk:
                    by_id[body["id"]].defer(str(exc), exc.retry_after)
                continue
            if job.get("status") != "completed":
                self._job_failed(job, [by_id[body["id"]] for body in chunk])
                continue
            outcome = {r.get("id"): r for r in job.get("results") or [] if isinstance(r, dict)}
            for body in chunk:
                plan = by_id[body["id"]]
                result = outcome.get(plan.ticket_id)
                if result is None:
                    plan.defer(f"job {job.get('id')} has no result for this ticket", None)
                elif result.get("error") == "UpdateConflict":
                    plan.conflicts["*"] = {
                        "reason": "changed by someone else while writing",
                        "details": result.get("details"),
                    }
                    plan.error = "conflict"
                elif result.get("error") or result.get("success") is False:
                    plan.error = f"{result.get('error')}: {result.get('details') or ''}".strip()
            log.info(
                "zendesk_update_many",
                sink=self.name,
                tickets=len(chunk),
                job_id=job.get("id"),
                status=job.get("status"),
            )

    def _job_failed(self, job: dict[str, Any], plans: list[_Plan]) -> None:
        """A whole update_many job failed: skipped if permanent, else retried later."""
        message = f"job {job.get('id')} {job.get('status')}: {job.get('message') or ''}".strip()
        log.warning("zendesk_job_failed", sink=self.name, job_id=job.get("id"), reason=message)
        for plan in plans:
            if is_permanent(job.get("message")):
                plan.error = message
            else:
                plan.defer(message, None)

    def _wait_for_job(self, job: dict[str, Any]) -> dict[str, Any]:
        """Poll a job status until it ends (completed, failed, killed); return its last status.

        A job still running at the deadline is SourceUnavailable (its outcome is unknown).
        """
        clock = self.api.clock
        deadline = clock.monotonic() + self.settings.job_timeout_seconds
        while job.get("status") not in ("completed", "failed", "killed"):
            if not job.get("id"):
                raise SourceUnavailable(f"{self.label}: update_many answered no job id")
            if clock.monotonic() >= deadline:
                raise SourceUnavailable(
                    f"{self.label}: job {job['id']} still {job.get('status')} after "
                    f"{self.settings.job_timeout_seconds:.0f} s",
                    retry_after=self.settings.job_poll_interval_seconds * 10,
                )
            clock.sleep(self.settings.job_poll_interval_seconds)
            data = self.api.http.get(f"/api/v2/job_statuses/{job['id']}.json")
            job = (data or {}).get("job_status") or {}
        return job

    def _refresh_versions(self, plans: list[_Plan]) -> None:
        if not plans:
            return
        found = self._show_many([p.ticket_id for p in plans])
        for plan in plans:
            ticket = found.get(plan.ticket_id)
            if ticket is not None:
                plan.version = ticket.get("updated_at")

    def _result(self, plan: _Plan, action: SinkAction) -> SinkResult:
        detail = plan.detail()
        if plan.error == "conflict":
            detail["conflicts"] = plan.conflicts
            return SinkResult(action.outbox_id, "conflict", detail)
        failed_plan = plan.failure(action, detail)
        if failed_plan is not None:
            return failed_plan
        if action.action == "update_fields":
            unmapped = plan.unmapped.get(action.outbox_id, [])
            mine = owned_by_action(action, self.owned_fields)
            conflicts = plan.conflicts_of(mine)
            detail["written"] = sorted(mine - set(conflicts))
            if unmapped:
                detail["unmapped"] = unmapped
            if conflicts:
                detail["conflicts"] = conflicts
                return SinkResult(action.outbox_id, "conflict", detail)
        return SinkResult(action.outbox_id, "done", detail)

    # -- merging ----------------------------------------------------------------------------

    def _merges_not_done(
        self,
        target: int,
        items: list[tuple[SinkAction, int]],
        out: list[tuple[SinkAction, str, dict[str, Any]]],
    ) -> list[tuple[SinkAction, int]]:
        """Sources still to merge; closed ones are already merged (crmbot's mark) or refused.

        A merge whose answer was lost may have happened: a closed source carrying crmbot's
        private "Merged into #target" comment is done; any other closed source is skipped
        (Zendesk cannot merge a closed ticket, retrying cannot help).
        """
        current = self._show_many(list(dict.fromkeys(s for _, s in items)))
        todo = []
        for action, source in items:
            ticket = current.get(source)
            if ticket is None:
                detail: dict[str, Any] = {
                    "ticket_id": str(source),
                    "reason": f"ticket {source} not found",
                }
                out.append((action, "skipped", detail))
            elif ticket.get("status") != "closed":
                todo.append((action, source))
            elif self._carries_merge_mark(source, target):
                detail = {"ticket_id": str(source), "into": str(target), "already_done": True}
                out.append((action, "done", detail))
            else:
                reason = f"ticket {source} is closed: Zendesk cannot merge a closed ticket"
                out.append((action, "skipped", {"ticket_id": str(source), "reason": reason}))
        return todo

    def _carries_merge_mark(self, source: int, target: int) -> bool:
        data = self.api.http.get(
            f"/api/v2/tickets/{source}/comments.json",
            params={"sort_order": "desc", "per_page": 100},
        )
        mark = _merge_mark(target)
        return any(
            isinstance(c, dict) and str(c.get("body") or "").startswith(mark)
            for c in (data or {}).get("comments") or []
        )

    def _merge(
        self, merges: list[tuple[SinkAction, int, int]]
    ) -> list[tuple[SinkAction, str, dict[str, Any]]]:
        out: list[tuple[SinkAction, str, dict[str, Any]]] = []
        by_target: dict[int, list[tuple[SinkAction, int]]] = {}
        for action, source, target in merges:
            by_target.setdefault(target, []).append((action, source))
        for target, items in by_target.items():
            try:
                items = self._merges_not_done(target, items, out)
            except RetriableError as exc:
                for action, source in items:
                    out.append((action, "retry", {"ticket_id": str(source), "why": str(exc)}))
                continue
            for chunk in chunks(items, MAX_MERGE_SOURCES):
                sources = list(dict.fromkeys(s for _, s in chunk))
                note = next(
                    (str(a.payload.get("note")) for a, _ in chunk if a.payload.get("note")), None
                )
                body: dict[str, Any] = {
                    "ids": sources,
                    "target_comment_is_public": False,
                    "source_comment_is_public": False,
                    # crmbot's mark on the source: how a retry recognises a merge already done
                    "source_comment": f"{_merge_mark(target)} {note or ''}".strip(),
                }
                if note:
                    body["target_comment"] = note
                try:
                    data = self.api.http.post(
                        f"/api/v2/tickets/{target}/merge.json", json=body, idempotent=False
                    )
                    job = self._wait_for_job((data or {}).get("job_status") or {})
                except HttpRejected as exc:
                    for action, source in chunk:
                        out.append(
                            (
                                action,
                                "skipped",
                                {"ticket_id": str(source), "reason": exc.vendor_message},
                            )
                        )
                    continue
                except RetriableError as exc:
                    for action, source in chunk:
                        detail: dict[str, Any] = {"ticket_id": str(source), "why": str(exc)}
                        if exc.retry_after is not None:
                            detail["retry_after"] = exc.retry_after
                        out.append((action, "retry", detail))
                    continue
                if job.get("status") != "completed":
                    reason = f"merge job {job.get('id')} {job.get('status')}: {job.get('message')}"
                    status = "skipped" if is_permanent(job.get("message")) else "retry"
                    log.warning(
                        "zendesk_merge_failed", sink=self.name, target=target, reason=reason
                    )
                    for action, source in chunk:
                        key = "reason" if status == "skipped" else "why"
                        out.append((action, status, {"ticket_id": str(source), key: reason}))
                    continue
                log.info("zendesk_merged", sink=self.name, target=target, sources=sources)
                for action, source in chunk:
                    out.append((action, "done", {"ticket_id": str(source), "into": str(target)}))
        return out

    # -- check ------------------------------------------------------------------------------

    def check(self) -> str:
        """Sign in with one cheap authenticated GET and say who we are."""
        data = self.api.http.get("/api/v2/users/me.json")
        user = data.get("user", {}) if isinstance(data, dict) else {}
        if not user.get("id"):  # Zendesk answers an anonymous user to unknown credentials
            raise AuthError(f"{self.label}: Zendesk did not accept the credentials")
        return f"{self.label}: signed in to {self.settings.url} as {user.get('email', '?')}"


def _merge_mark(target: int) -> str:
    """The private comment crmbot leaves on a merged source (read back before a retry)."""
    return f"Merged into #{target} by crmbot."


def _server_time(date_header: str | None, clock: Clock) -> float:
    """The server's clock from its Date header, else ours."""
    if date_header:
        try:
            return email.utils.parsedate_to_datetime(date_header).timestamp()
        except (TypeError, ValueError, IndexError):
            pass
    return clock.time()


def _tag_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list | tuple):
        return []
    return [str(t).strip().lower().replace(" ", "_") for t in value if str(t).strip()]
