"""Zendesk sink: crmbot's write-back, coalesced per ticket and batched through update_many.

One cycle: read the targeted tickets (`show_many`, 100 per call), drop any owned field an agent
changed since crmbot's last write (a conflict, reported, never overwritten), fold every
update_fields / add_tags / add_note for a ticket into one update, send them 100 at a time with
`PUT /api/v2/tickets/update_many.json` (each with `safe_update`, so a change made meanwhile is
refused too), poll the job status, then merge confirmed duplicates.

Action payloads:
- update_fields: {"fields": {"priority" (or "crmbot_priority"): "P2", "tags": [...],
  "<name mapped in custom_fields>": value}, "expected_version": "<updated_at crmbot last
  saw>", "written": {field: value crmbot last wrote} (alias "previous"; optional: without
  it, a non-empty value that differs counts as an agent's once the ticket is newer)}.
  Fields not mapped are left alone and listed in the result's `unmapped`; None is not sent.
- add_note: {"body": "...", "expected_version": optional} -> an internal note (a comment
  with public: false); a note already on the ticket is not posted again, and with
  expected_version the check costs a call only when the ticket changed since
- add_tags: {"tags": [...]} -> additional_tags (an agent's tags are never removed)
- merge: target {"id": source ticket}, payload {"into": target ticket id, "note": "..."}
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog

from bot.errors import AuthError, SourceUnavailable
from connectors.base import SinkAction, SinkResult, in_action_order, new_results
from connectors.kit.clock import Clock
from connectors.kit.http import HttpRejected
from connectors.kit.mapping import parse_timestamp
from connectors.kit.writeback import last_written, split_owned
from connectors.zendesk.source import ZendeskApi, ZendeskSettings

log = structlog.get_logger(__name__)

MAX_BULK = 100
MAX_MERGE_SOURCES = 5
NOTE_SEPARATOR = "\n\n---\n\n"


@dataclass
class _Plan:
    """Everything crmbot wants done to one ticket this cycle."""

    ticket_id: int
    fields: dict[str, Any] = field(default_factory=dict)
    previous: dict[str, Any] = field(default_factory=dict)
    expected_version: str | None = None
    tags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    actions: list[SinkAction] = field(default_factory=list)
    conflicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    unmapped: dict[int, list[str]] = field(default_factory=dict)  # per outbox id
    current: dict[str, Any] | None = None
    error: str | None = None
    version: str | None = None


class ZendeskSink:
    """Performs crmbot's planned actions on Zendesk tickets."""

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

    @property
    def owned_fields(self) -> frozenset[str]:
        """The ticket fields crmbot may write: priority, tags, and the mapped custom fields."""
        return frozenset({"priority", "tags", *self.settings.custom_fields})

    # -- entry point ------------------------------------------------------------------------

    def perform(self, actions: list[SinkAction]) -> Iterator[SinkResult]:
        """Coalesce, check for conflicts, write in batches, merge; one result per action,
        yielded in order, each as soon as the call that performs it completed."""
        return in_action_order(actions, self._perform_each(actions))

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
            self._refresh_versions([p for p in plans.values() if p.error is None])
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
        ticket_id = _ticket_id(action.target.get("id"))
        if ticket_id is None:
            return _skip(action, f"target has no Zendesk ticket id: {action.target!r}")
        payload = action.payload or {}
        if action.action == "merge":
            into = _ticket_id(payload.get("into"))
            if into is None or into == ticket_id:
                return _skip(action, "merge needs payload.into, another ticket id")
            merges.append((action, ticket_id, into))
            return None
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
            if unmapped:
                plan.unmapped[action.outbox_id] = unmapped
            for key, value in wanted.items():
                if key == "tags":
                    plan.tags.extend(_tag_list(value))
                else:
                    plan.fields[key] = value
            plan.previous.update(last_written(payload))
            version = payload.get("expected_version")
            if version is not None:
                plan.expected_version = _max_version(plan.expected_version, str(version))
        elif action.action == "add_note":
            body = str(payload.get("body") or payload.get("note") or "").strip()
            if not body:
                return _skip(action, "add_note needs a non-empty payload.body")
            if body not in plan.notes:
                plan.notes.append(body)
            version = payload.get("expected_version")
            if version is not None:
                plan.expected_version = _max_version(plan.expected_version, str(version))
        elif action.action == "add_tags":
            tags = _tag_list(payload.get("tags"))
            if not tags:
                return _skip(action, "add_tags needs payload.tags")
            plan.tags.extend(tags)
        else:
            return _skip(action, f"the zendesk sink does not support {action.action!r}")
        plan.actions.append(action)
        return None

    # -- reading and conflicts --------------------------------------------------------------

    def _show_many(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        for chunk in _chunks(ids, MAX_BULK):
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
        plans = list(plans)
        found = self._show_many([p.ticket_id for p in plans])
        for plan in plans:
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
        """Drop owned fields an agent changed after crmbot's last write; record them.

        With the value crmbot last wrote (`previous`), any other current value is an agent's.
        Without it, a non-empty value that differs counts as an agent's once the ticket was
        updated after `expected_version`.
        """
        assert plan.current is not None
        newer = plan.expected_version is not None and _newer(
            plan.current.get("updated_at"), plan.expected_version
        )
        for key in list(plan.fields):
            wanted = self._zendesk_value(key, plan.fields[key])
            current = self._current_value(plan.current, key)
            if current == wanted:
                continue
            if key in plan.previous:
                agent_changed = current != self._zendesk_value(key, plan.previous[key])
            else:
                agent_changed = newer and current not in (None, "", [])
            if agent_changed:
                plan.conflicts[key] = {
                    "current": current,
                    "wanted": wanted,
                    "previous": plan.previous.get(key),
                }
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
            if plan.expected_version is not None and not _newer(
                plan.current.get("updated_at"), plan.expected_version
            ):
                continue
            data = self.api.http.get(
                f"/api/v2/tickets/{plan.ticket_id}/comments.json",
                params={"sort_order": "desc", "per_page": 100},
            )
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
        tags = [t for t in dict.fromkeys(plan.tags) if t not in (plan.current.get("tags") or [])]
        if tags:
            body["additional_tags"] = tags
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
            if plan.error is not None:
                continue
            body = self._update_body(plan)
            if body is not None:
                bodies.append(body)
        by_id = {p.ticket_id: p for p in plans}
        for chunk in _chunks(bodies, MAX_BULK):
            try:
                data = self.api.http.put(
                    "/api/v2/tickets/update_many.json", json={"tickets": chunk}
                )
            except HttpRejected as exc:
                for body in chunk:
                    by_id[body["id"]].error = f"update_many rejected: {exc.vendor_message}"
                continue
            job = self._wait_for_job((data or {}).get("job_status") or {})
            outcome = {r.get("id"): r for r in job.get("results") or [] if isinstance(r, dict)}
            for body in chunk:
                plan = by_id[body["id"]]
                result = outcome.get(plan.ticket_id)
                if result is None:
                    plan.error = f"job {job.get('id')} has no result for this ticket"
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

    def _wait_for_job(self, job: dict[str, Any]) -> dict[str, Any]:
        """Poll a job status until it completes; a job that never ends is SourceUnavailable."""
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
        if job.get("status") != "completed":
            raise SourceUnavailable(
                f"{self.label}: job {job.get('id')} {job.get('status')}: {job.get('message')}"
            )
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
        detail: dict[str, Any] = {"ticket_id": str(plan.ticket_id)}
        if plan.version:
            detail["version"] = plan.version
        if plan.error == "conflict":
            detail["conflicts"] = plan.conflicts
            return SinkResult(action.outbox_id, "conflict", detail)
        if plan.error is not None:
            detail["reason"] = plan.error
            return SinkResult(action.outbox_id, "skipped", detail)
        if action.action == "update_fields":
            unmapped = plan.unmapped.get(action.outbox_id, [])
            fields = (action.payload or {}).get("fields") or {}
            mine = set(split_owned(fields, self.owned_fields)[0])
            conflicts = {k: v for k, v in plan.conflicts.items() if k in mine}
            detail["written"] = sorted(mine - set(conflicts))
            if unmapped:
                detail["unmapped"] = unmapped
            if conflicts:
                detail["conflicts"] = conflicts
                return SinkResult(action.outbox_id, "conflict", detail)
        return SinkResult(action.outbox_id, "done", detail)

    # -- merging ----------------------------------------------------------------------------

    def _merge(
        self, merges: list[tuple[SinkAction, int, int]]
    ) -> list[tuple[SinkAction, str, dict[str, Any]]]:
        out: list[tuple[SinkAction, str, dict[str, Any]]] = []
        by_target: dict[int, list[tuple[SinkAction, int]]] = {}
        for action, source, target in merges:
            by_target.setdefault(target, []).append((action, source))
        for target, items in by_target.items():
            for chunk in _chunks(items, MAX_MERGE_SOURCES):
                sources = list(dict.fromkeys(s for _, s in chunk))
                note = next(
                    (str(a.payload.get("note")) for a, _ in chunk if a.payload.get("note")), None
                )
                body: dict[str, Any] = {
                    "ids": sources,
                    "target_comment_is_public": False,
                    "source_comment_is_public": False,
                }
                if note:
                    body["target_comment"] = note
                    body["source_comment"] = f"Merged into #{target} by crmbot. {note}"
                try:
                    data = self.api.http.post(f"/api/v2/tickets/{target}/merge.json", json=body)
                    self._wait_for_job((data or {}).get("job_status") or {})
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


def _server_time(date_header: str | None, clock: Clock) -> float:
    """The server's clock from its Date header, else ours."""
    if date_header:
        try:
            return email.utils.parsedate_to_datetime(date_header).timestamp()
        except (TypeError, ValueError, IndexError):
            pass
    return clock.time()


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


def _tag_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list | tuple):
        return []
    return [str(t).strip().lower().replace(" ", "_") for t in value if str(t).strip()]


def _newer(current: Any, expected: str) -> bool:
    try:
        return parse_timestamp(current) > parse_timestamp(expected)
    except Exception:
        return True


def _max_version(a: str | None, b: str) -> str:
    if a is None:
        return b
    return b if _newer(b, a) else a


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
