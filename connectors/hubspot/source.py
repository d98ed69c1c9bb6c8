"""HubSpot tickets changed since the cursor, read through CRM search and mapped for crmbot.

Cursor: {"after": "<ISO hs_lastmodifieddate>", "last_id": "<ticket id>", "seen": {id: version}}.
The keyset (`after`, `last_id`) only moves forward. CRM search trails writes by a delay HubSpot
does not bound, so a ticket modified before the cursor can be indexed after the cursor passed
it: a fixed hold-back would drop it. Instead each poll re-reads `search_overlap_seconds`
behind the cursor and drops what it already read: `seen` holds the id and version of every
record read within that window, so a record comes back only when it is new or has a newer
version. (`search_lag_seconds`, 0 by default, can still hold back the newest edits.)

CRM search stops at 10,000 results per query (paging further is a 400): before reaching the
window the source starts a new keyset query (no overlap) from the last record it read; ties at
one millisecond are never skipped (modified after `after`, or at `after` with a larger id).

With `poll: contacts` the same source reads contacts instead (their modified-date property is
`lastmodifieddate`): each becomes a `kind="contact"` record that the runtime uses for identity
and customer tier only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import structlog

from bot.errors import SkippableError
from bot.models import SourceRecord
from connectors.base import Batch, Cursor
from connectors.hubspot.client import HubSpotApi
from connectors.hubspot.settings import HubSpotSettings
from connectors.kit import (
    Clock,
    clean_str,
    epoch_ms,
    iso_utc,
    paginate_cursor,
    parse_timestamp,
    synthetic_message_id,
    truthy,
)
from connectors.kit.clock import SYSTEM_CLOCK

log = structlog.get_logger(__name__)

SEARCH_WINDOW = 10_000
# Versions remembered in the cursor for the overlap: a burst larger than this is read again
# (harmless: the runtime drops what it already stored), instead of bloating the cursor.
SEEN_MAX = 10_000
TICKET_PROPERTIES = [
    "subject",
    "content",
    "hs_pipeline",
    "hs_pipeline_stage",
    "hs_ticket_priority",
    "hs_ticket_category",
    "createdate",
    "hs_lastmodifieddate",
    "hs_object_id",
]
CONTACT_PROPERTIES = ["email", "firstname", "lastname", "phone"]
MODIFIED = {"tickets": "hs_lastmodifieddate", "contacts": "lastmodifieddate"}
COMPANY_PROPERTIES = ["name", "domain"]


class HubSpotSource:
    """A polled source of HubSpot tickets."""

    search_window = SEARCH_WINDOW  # results one search query can page through

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
        self.object_type = settings.poll
        self.modified = MODIFIED[self.object_type]

    def check(self) -> str:
        """Authenticate with one search and report how many records the token can see."""
        data = self.api.search(self.object_type, {"limit": 1, "properties": ["hs_object_id"]})
        return f"{self.name}: HubSpot answered, {data.get('total', 0)} {self.object_type} visible"

    def close(self) -> None:
        """Release connections."""
        self.api.close()

    # -- polling ----------------------------------------------------------------------------

    def poll(self, cursor: Cursor | None, batch_size: int) -> Iterator[Batch]:
        """Yield batches of records modified since `cursor` (minus the overlap), oldest first."""
        state = _ReadState.from_cursor(cursor, self.modified)
        now_ms = epoch_ms(datetime.fromtimestamp(self._clock.time(), UTC))
        lag_ms = round(self.settings.search_lag_seconds * 1000)
        upper_ms = now_ms - lag_ms if lag_ms else None
        overlap_ms = round(self.settings.search_overlap_seconds * 1000)
        page_size = self.settings.page_size
        if state.after_ms is not None and overlap_ms:
            body = self._query_since(state.after_ms - overlap_ms, upper_ms)
        else:
            body = self._query(state.after_ms, state.last_id, upper_ms)
        while True:
            read_in_query = 0
            restart = False
            for page in paginate_cursor(partial(self._search_page, body), connector=self.name):
                read_in_query += len(page)
                fresh = [obj for obj in page if state.is_new(obj)]
                skipped = len(page) - len(fresh)
                if skipped:
                    log.info("hubspot_overlap_already_read", source=self.name, count=skipped)
                records = self._map_page(fresh) if fresh else []
                for start in range(0, len(records), batch_size):
                    chunk = records[start : start + batch_size]
                    state.advance(chunk)
                    yield Batch(chunk, state.cursor(overlap_ms))
                if page and read_in_query + page_size > self.search_window:
                    restart = True
                    break
            if not restart or state.after_ms is None:
                return
            log.info("hubspot_search_window_restart", source=self.name, read=read_in_query)
            body = self._query(state.after_ms, state.last_id, upper_ms)

    def _query_since(self, lower_ms: int, upper_ms: int | None) -> dict[str, Any]:
        """Everything modified at or after `lower_ms` (the overlap read)."""
        filters = [{"propertyName": self.modified, "operator": "GTE", "value": str(lower_ms)}]
        filters += self._bounds(upper_ms)
        return {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": self.modified, "direction": "ASCENDING"}],
            "properties": self._properties(),
            "limit": self.settings.page_size,
        }

    def _bounds(self, upper_ms: int | None) -> list[dict[str, str]]:
        base = []
        if upper_ms is not None:
            base.append({"propertyName": self.modified, "operator": "LTE", "value": str(upper_ms)})
        if self.settings.pipeline and self.object_type == "tickets":
            base.append(
                {"propertyName": "hs_pipeline", "operator": "EQ", "value": self.settings.pipeline}
            )
        return base

    def _query(self, after_ms: int | None, last_id: int, upper_ms: int | None) -> dict[str, Any]:
        modified = self.modified
        base = self._bounds(upper_ms)
        if after_ms is None:
            groups = [{"filters": base}] if base else []
        else:
            newer = {"propertyName": modified, "operator": "GT", "value": str(after_ms)}
            same = {"propertyName": modified, "operator": "EQ", "value": str(after_ms)}
            later_id = {"propertyName": "hs_object_id", "operator": "GT", "value": str(last_id)}
            groups = [{"filters": [newer, *base]}, {"filters": [same, later_id, *base]}]
        body: dict[str, Any] = {
            "sorts": [{"propertyName": modified, "direction": "ASCENDING"}],
            "properties": self._properties(),
            "limit": self.settings.page_size,
        }
        if groups:
            body["filterGroups"] = groups
        return body

    def _properties(self) -> list[str]:
        if self.object_type == "tickets":
            return TICKET_PROPERTIES
        extra = (self.settings.contact_tier_property, self.settings.contact_vip_property)
        return [*CONTACT_PROPERTIES, "lastmodifieddate", "hs_object_id", *filter(None, extra)]

    def _search_page(
        self, body: dict[str, Any], token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        request = dict(body)
        if token:
            request["after"] = token
        data = self.api.search(self.object_type, request)
        results = data.get("results") or []
        next_token = ((data.get("paging") or {}).get("next") or {}).get("after")
        log.info("hubspot_search_page_read", source=self.name, count=len(results))
        return results, (str(next_token) if next_token else None)

    # -- mapping ----------------------------------------------------------------------------

    def _map_page(self, page: Sequence[dict[str, Any]]) -> list[SourceRecord]:
        if self.object_type == "contacts":
            return self._map_contacts(page)
        tickets = sorted(page, key=lambda t: _order_key(t, self.modified))
        ids = [str(t.get("id")) for t in tickets]
        contacts, companies = self._identities(ids)
        received = datetime.fromtimestamp(self._clock.time(), UTC)
        out: list[SourceRecord] = []
        for ticket in tickets:
            tid = str(ticket.get("id"))
            try:
                record = self._map_ticket(ticket, contacts.get(tid), companies.get(tid), received)
            except (SkippableError, KeyError, TypeError, ValueError) as exc:
                log.warning("hubspot_ticket_quarantined", source=self.name, ticket_id=tid)
                record = SourceRecord(
                    source=self.name,
                    source_id=f"ticket:{tid}",
                    kind="ticket",
                    fields={"ticket_id": tid, "properties": ticket.get("properties")},
                    received_at=received,
                    quarantine_reason=f"unmappable HubSpot ticket: {exc}",
                )
            out.append(record)
        return out

    def _map_contacts(self, page: Sequence[dict[str, Any]]) -> list[SourceRecord]:
        contacts = sorted(page, key=lambda c: _order_key(c, self.modified))
        received = datetime.fromtimestamp(self._clock.time(), UTC)
        out = []
        for contact in contacts:
            cid = str(contact.get("id"))
            props = contact.get("properties") or {}
            try:
                modified = iso_utc(parse_timestamp(props.get(self.modified)))
            except SkippableError as exc:
                out.append(
                    SourceRecord(
                        source=self.name,
                        source_id=f"contact:{cid}",
                        kind="contact",
                        fields={"object_id": cid, "properties": props},
                        received_at=received,
                        quarantine_reason=f"unmappable HubSpot contact: {exc}",
                    )
                )
                continue
            name = " ".join(
                p
                for p in (clean_str(props.get("firstname")), clean_str(props.get("lastname")))
                if p
            )
            fields = {
                "object_id": cid,
                "email": clean_str(props.get("email")),
                "name": name or None,
                "phone": clean_str(props.get("phone")),
                "external_ids": {"hubspot": cid},
                "contact": self._contact_info(contact),
                "version": modified,
            }
            out.append(
                SourceRecord(
                    source=self.name,
                    source_id=f"contact:{cid}",
                    kind="contact",
                    fields=fields,
                    received_at=received,
                )
            )
        return out

    def _map_ticket(
        self,
        ticket: dict[str, Any],
        contact: dict[str, Any] | None,
        company: dict[str, Any] | None,
        received: datetime,
    ) -> SourceRecord:
        tid = str(ticket["id"])
        props = ticket.get("properties") or {}
        if not isinstance(props, dict):
            raise TypeError("properties is not an object")
        modified = parse_timestamp(props.get("hs_lastmodifieddate") or ticket.get("updatedAt"))
        created = parse_timestamp(props.get("createdate") or ticket.get("createdAt"))
        fields: dict[str, Any] = {
            "ticket_id": tid,
            "subject": clean_str(props.get("subject")) or "",
            "body": props.get("content") or "",
            "status": clean_str(props.get("hs_pipeline_stage")),
            "pipeline": clean_str(props.get("hs_pipeline")),
            "priority": clean_str(props.get("hs_ticket_priority")),
            "category": clean_str(props.get("hs_ticket_category")),  # training label (model)
            "created_at": iso_utc(created),
            "updated_at": iso_utc(modified),
            "version": iso_utc(modified),
            "message_id": synthetic_message_id("hubspot", "ticket", tid),
            "external_ids": {},
            "sender_email": None,
            "sender_name": None,
            "sender_phone": None,
        }
        if contact:
            cprops = contact.get("properties") or {}
            name = " ".join(
                p
                for p in (clean_str(cprops.get("firstname")), clean_str(cprops.get("lastname")))
                if p
            )
            fields.update(
                sender_email=clean_str(cprops.get("email")),
                sender_name=name or None,
                sender_phone=clean_str(cprops.get("phone")),
                external_ids={"hubspot": str(contact["id"])},
                contact=self._contact_info(contact),
            )
        if company:
            fields["company"] = self._company_info(company)
        return SourceRecord(
            source=self.name,
            source_id=f"ticket:{tid}",
            kind="ticket",
            fields=fields,
            size=len(fields["body"]),
            received_at=created,
        )

    def _contact_info(self, contact: dict[str, Any]) -> dict[str, Any]:
        props = contact.get("properties") or {}
        info: dict[str, Any] = {"id": str(contact["id"])}
        if self.settings.contact_tier_property:
            info["tier"] = clean_str(props.get(self.settings.contact_tier_property))
        if self.settings.contact_vip_property:
            info["vip"] = truthy(props.get(self.settings.contact_vip_property))
        return info

    def _company_info(self, company: dict[str, Any]) -> dict[str, Any]:
        props = company.get("properties") or {}
        info: dict[str, Any] = {
            "id": str(company["id"]),
            "name": clean_str(props.get("name")),
            "domain": clean_str(props.get("domain")),
        }
        if self.settings.company_tier_property:
            info["tier"] = clean_str(props.get(self.settings.company_tier_property))
        if self.settings.company_strategic_property:
            info["strategic"] = truthy(props.get(self.settings.company_strategic_property))
        return info

    def _identities(
        self, ticket_ids: list[str]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """The first associated contact and company of each ticket, in batched reads."""
        contacts: dict[str, dict[str, Any]] = {}
        companies: dict[str, dict[str, Any]] = {}
        if not ticket_ids:
            return contacts, companies
        contact_of: dict[str, str] = {}
        if self.settings.read_contacts:
            linked = self.api.associations("tickets", "contacts", ticket_ids)
            contact_of = {t: ids[0] for t, ids in linked.items() if ids}
            props = list(CONTACT_PROPERTIES)
            props += [
                p
                for p in (self.settings.contact_tier_property, self.settings.contact_vip_property)
                if p
            ]
            found = self.api.batch_read("contacts", sorted(set(contact_of.values())), props)
            contacts = {t: found[c] for t, c in contact_of.items() if c in found}
        if self.settings.read_companies:
            linked = self.api.associations("tickets", "companies", ticket_ids)
            company_of = {t: ids[0] for t, ids in linked.items() if ids}
            orphans = [c for t, c in contact_of.items() if t not in company_of]
            if orphans:
                via = self.api.associations("contacts", "companies", orphans)
                for t, c in contact_of.items():
                    if t not in company_of and via.get(c):
                        company_of[t] = via[c][0]
            props = list(COMPANY_PROPERTIES)
            props += [
                p
                for p in (
                    self.settings.company_tier_property,
                    self.settings.company_strategic_property,
                )
                if p
            ]
            if company_of:
                found = self.api.batch_read("companies", sorted(set(company_of.values())), props)
                companies = {t: found[c] for t, c in company_of.items() if c in found}
        return contacts, companies


def _order_key(obj: dict[str, Any], modified: str) -> tuple[float, int]:
    props = obj.get("properties") or {}
    try:
        when = parse_timestamp(props.get(modified)).timestamp()
    except SkippableError:
        when = float("inf")
    oid = str(obj.get("id", ""))
    return (when, int(oid) if oid.isdigit() else 0)


class _ReadState:
    """Where a poll stands: the keyset it has passed, and what it read in the overlap."""

    def __init__(
        self, after_ms: int | None, last_id: int, seen: dict[str, int], modified: str
    ) -> None:
        self.after_ms = after_ms
        self.last_id = last_id
        self.seen = seen  # object id -> epoch ms of the version read
        self.modified = modified

    @classmethod
    def from_cursor(cls, cursor: Cursor | None, modified: str) -> _ReadState:
        """The state a saved cursor describes (older cursors have no `seen`)."""
        if not cursor or not cursor.get("after"):
            return cls(None, 0, {}, modified)
        after = epoch_ms(parse_timestamp(cursor["after"]))
        last = str(cursor.get("last_id") or "0")
        seen: dict[str, int] = {}
        for oid, version in (cursor.get("seen") or {}).items():
            try:
                seen[str(oid)] = epoch_ms(parse_timestamp(version))
            except SkippableError:
                continue
        return cls(after, int(last) if last.isdigit() else 0, seen, modified)

    def _version(self, obj: dict[str, Any]) -> int | None:
        try:
            return epoch_ms(parse_timestamp((obj.get("properties") or {}).get(self.modified)))
        except SkippableError:
            return None

    def is_new(self, obj: dict[str, Any]) -> bool:
        """Not read before at this version (an unreadable version always counts as new)."""
        version = self._version(obj)
        known = self.seen.get(str(obj.get("id")))
        return version is None or known is None or version > known

    def advance(self, records: Sequence[SourceRecord]) -> None:
        """Remember what these records were, and move the keyset past them."""
        for record in records:
            oid = str(record.fields.get("ticket_id") or record.fields.get("object_id") or "")
            when = _record_version_ms(record, self.modified)
            if not oid.isdigit() or when is None:
                continue
            self.seen[oid] = max(when, self.seen.get(oid, when))
            if self.after_ms is None or (when, int(oid)) > (self.after_ms, self.last_id):
                self.after_ms, self.last_id = when, int(oid)

    def cursor(self, overlap_ms: int) -> Cursor:
        """The cursor to commit with the records read so far."""
        if self.after_ms is None:
            return {}
        floor = self.after_ms - overlap_ms
        kept = sorted(((v, k) for k, v in self.seen.items() if v >= floor), reverse=True)
        self.seen = {k: v for v, k in kept[:SEEN_MAX]}
        out: Cursor = {
            "after": _ms_iso(self.after_ms),
            "last_id": str(self.last_id),
        }
        if overlap_ms:
            out["seen"] = {k: _ms_iso(v) for k, v in sorted(self.seen.items())}
        return out


def _ms_iso(ms: int) -> str:
    """Epoch milliseconds as ISO 8601, exact to the millisecond (no float rounding)."""
    return iso_utc(datetime.fromtimestamp(ms // 1000, UTC) + timedelta(milliseconds=ms % 1000))


def _record_version_ms(record: SourceRecord, modified: str) -> int | None:
    version = record.fields.get("version")
    if not version:
        version = (record.fields.get("properties") or {}).get(modified)
    try:
        return epoch_ms(parse_timestamp(version))
    except SkippableError:
        return None
