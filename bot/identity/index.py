"""Where contacts' blocking keys and normalised profiles live: in memory or in the store."""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa

from bot.entities import Contact
from bot.identity.keys import blocking_keys, key_weight
from bot.identity.normalise import ContactRecord, Profile
from bot.store import contact_index as stored
from bot.store.schema import contacts
from bot.store.sql import fit_to_columns

IDENTITY_ATTRIBUTE = "identity"


class ContactIndex(Protocol):
    """Blocking-key index of contacts: find candidates for a set of keys, add a contact."""

    def candidates(
        self, keys: Sequence[tuple[str, int]], *, limit: int
    ) -> list[tuple[int, Profile, int]]:
        """Up to `limit` (contact id, profile, shared-key weight) sharing a key, best first.

        `keys` are (key, cap) pairs: a key held by more than its cap contacts is too common to
        block on and is skipped.
        """
        ...

    def add(
        self, contact_id: int, record: ContactRecord, profile: Profile, keys: Sequence[str]
    ) -> None:
        """Index (or re-index) one contact under its keys with its profile."""
        ...

    def get(self, contact_id: int) -> Profile | None:
        """The indexed profile of a contact, None when it is not indexed."""
        ...

    def create(self, record: ContactRecord, profile: Profile, keys: Sequence[str]) -> int:
        """Store a new contact, indexed under its keys; returns its id."""
        ...


def _rank(hits: dict[int, int], limit: int) -> list[tuple[int, int]]:
    """Candidate ids by shared-key weight (then oldest first), at most `limit`."""
    if len(hits) <= limit:
        return sorted(hits.items(), key=lambda kv: (-kv[1], kv[0]))
    return heapq.nsmallest(limit, hits.items(), key=lambda kv: (-kv[1], kv[0]))


class MemoryContactIndex:
    """In-memory `ContactIndex` (tests, benchmarks, single-process runs)."""

    def __init__(self) -> None:
        """Start empty."""
        self._by_key: dict[str, list[int]] = {}
        self._profiles: dict[int, Profile] = {}
        self._keys: dict[int, tuple[str, ...]] = {}

    def create(self, record: ContactRecord, profile: Profile, keys: Sequence[str]) -> int:
        """See `ContactIndex.create`: ids are allocated in order from 1."""
        contact_id = max(self._profiles, default=0) + 1
        self.add(contact_id, record, profile, keys)
        return contact_id

    def __len__(self) -> int:
        """Number of indexed contacts."""
        return len(self._profiles)

    def candidates(
        self, keys: Sequence[tuple[str, int]], *, limit: int
    ) -> list[tuple[int, Profile, int]]:
        """See `ContactIndex.candidates`."""
        hits: dict[int, int] = {}
        get = hits.get
        by_key = self._by_key
        for key, cap in keys:
            ids = by_key.get(key)
            if ids and len(ids) <= cap:
                w = key_weight(key)
                for cid in ids:
                    hits[cid] = get(cid, 0) + w
        profiles = self._profiles
        return [(cid, profiles[cid], n) for cid, n in _rank(hits, limit)]

    def add(
        self, contact_id: int, record: ContactRecord, profile: Profile, keys: Sequence[str]
    ) -> None:
        """See `ContactIndex.add`."""
        old = self._keys.get(contact_id, ())
        unique = tuple(dict.fromkeys(keys))
        for key in old:
            if key not in unique:
                ids = self._by_key.get(key)
                if ids and contact_id in ids:
                    ids.remove(contact_id)
        old_set = set(old)
        for key in unique:
            if key not in old_set:
                self._by_key.setdefault(key, []).append(contact_id)
        self._keys[contact_id] = unique
        self._profiles[contact_id] = profile

    def get(self, contact_id: int) -> Profile | None:
        """See `ContactIndex.get`."""
        return self._profiles.get(contact_id)


def _now() -> datetime:
    """Current UTC time."""
    return datetime.now(UTC)


def _load_json(value: Any) -> dict[str, Any]:
    """A JSON column's value as a dict, whichever way the driver returned it."""
    if value is None:
        return {}
    if isinstance(value, str | bytes):
        return json.loads(value)
    return dict(value)


class SqlContactIndex:
    """`ContactIndex` on the store: keys in `contact_keys`, profiles in `contacts.attributes`.

    The normalised profile is kept under `attributes["identity"]`. A merged contact
    (`merged_into` set) is reported as the contact it was merged into. Candidate fetch is two
    queries: keys (each capped with its own LIMIT), then the best candidates' rows. The SQL
    is in bot/store/contact_index.py.
    """

    def __init__(self, conn: sa.Connection) -> None:
        """Work inside the caller's connection (and transaction)."""
        self.conn = conn
        self.created: dict[int, Contact] = {}  # contacts created here, as stored

    def candidates(
        self, keys: Sequence[tuple[str, int]], *, limit: int
    ) -> list[tuple[int, Profile, int]]:
        """See `ContactIndex.candidates` (two queries: keys, then the best candidates' rows)."""
        caps = dict(keys)
        if not caps:
            return []
        per_key: dict[str, list[int]] = {}
        for key, cid in stored.contacts_under_keys(self.conn, caps):
            per_key.setdefault(key, []).append(cid)
        hits: dict[int, int] = {}
        for key, ids in per_key.items():
            if len(ids) <= caps[key]:
                w = key_weight(key)
                for cid in ids:
                    hits[cid] = hits.get(cid, 0) + w
        if not hits:
            return []
        ranked = _rank(hits, limit)
        found: dict[int, tuple[int | None, Profile]] = {}
        for cid, merged_into, attributes in stored.identity_rows(
            self.conn, [cid for cid, _ in ranked]
        ):
            identity = _load_json(attributes).get(IDENTITY_ATTRIBUTE)
            if identity is not None:
                found[cid] = (merged_into, Profile.from_json(identity))
        out: list[tuple[int, Profile, int]] = []
        for cid, n in ranked:
            if cid in found:
                merged_into, profile = found[cid]
                out.append((merged_into or cid, profile, n))
        return out

    def create(self, record: ContactRecord, profile: Profile, keys: Sequence[str]) -> int:
        """See `ContactIndex.create`: one insert for the row, one for its keys."""
        row = stored.insert_indexed_contact(
            self.conn, _contact_row(0, record, profile, _now()), keys
        )
        self.created[row["id"]] = Contact.from_row(row)
        return int(row["id"])

    def add(
        self, contact_id: int, record: ContactRecord, profile: Profile, keys: Sequence[str]
    ) -> None:
        """See `ContactIndex.add`; inserts the `contacts` row when it does not exist yet."""
        self.created.pop(contact_id, None)
        row = stored.identity_and_ids(self.conn, contact_id)
        now = _now()
        new_keys = set(keys)
        have: set[str] = set()
        if row is None:
            stored.insert_contacts(
                self.conn,
                [fit_to_columns(contacts, _contact_row(contact_id, record, profile, now))],
                [],
            )
        else:
            attributes = _load_json(row.attributes)
            old = attributes.get(IDENTITY_ATTRIBUTE)
            attributes[IDENTITY_ATTRIBUTE] = profile.to_json()
            external = {**_load_json(row.external_ids), **record.external_ids}
            stored.update_identity(self.conn, contact_id, attributes, external, now)
            # The old keys are those of the old profile: found and dropped through the primary
            # key (key, contact_id), with no scan of contact_keys by contact_id.
            old_keys = set(blocking_keys(Profile.from_json(old))) if old is not None else set()
            have = stored.keys_held(self.conn, contact_id, sorted(old_keys | new_keys))
            stored.drop_keys(self.conn, contact_id, sorted(have - new_keys))
        stored.add_keys(self.conn, contact_id, [k for k in dict.fromkeys(keys) if k not in have])

    def get(self, contact_id: int) -> Profile | None:
        """See `ContactIndex.get`."""
        attributes = stored.contact_attributes(self.conn, contact_id)
        identity = _load_json(attributes).get(IDENTITY_ATTRIBUTE)
        return None if identity is None else Profile.from_json(identity)

    def add_many(self, items: Iterable[tuple[int, ContactRecord, Profile, Sequence[str]]]) -> None:
        """Bulk-insert new contacts (ids not yet in the table) with their keys."""
        now = _now()
        rows: list[dict[str, Any]] = []
        key_rows: list[dict[str, Any]] = []
        for contact_id, record, profile, keys in items:
            rows.append(_contact_row(contact_id, record, profile, now))
            key_rows.extend({"key": k, "contact_id": contact_id} for k in dict.fromkeys(keys))
        stored.insert_contacts(self.conn, rows, key_rows)


def _contact_row(
    contact_id: int, record: ContactRecord, profile: Profile, now: datetime
) -> dict[str, Any]:
    """A new `contacts` row for a record."""
    name = record.name or " ".join(p for p in (record.given_name, record.surname) if p) or None
    return {
        "id": contact_id,
        "email": profile.email or record.email,
        "name": name[:300] if name else None,
        "phone": profile.phone or record.phone,
        "company": record.company,
        "external_ids": dict(record.external_ids),
        "attributes": {IDENTITY_ATTRIBUTE: profile.to_json()},
        "merged_into": None,
        "created_at": now,
        "updated_at": now,
    }
