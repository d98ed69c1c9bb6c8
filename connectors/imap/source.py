"""The IMAP source: reads new mail from one folder by UID, never marking it read."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeGuard

import structlog
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from bot.errors import ConfigError, SourceUnavailable
from bot.models import SourceRecord
from connectors.base import Batch, Cursor
from connectors.imap.client import ImapConnection
from connectors.imap.idle import wait_on_idle
from connectors.imap.settings import ImapSettings

log = structlog.get_logger(__name__)


class ImapSource:
    """Polls one IMAP folder for mail newer than a (UIDVALIDITY, last UID) cursor."""

    def __init__(self, name: str, settings: ImapSettings | dict[str, Any]) -> None:
        self.name = name
        self.settings = (
            settings
            if isinstance(settings, ImapSettings)
            else ImapSettings.model_validate(settings)
        )
        self._imap = ImapConnection(name, self.settings)
        # (UIDVALIDITY, UIDNEXT) when the last poll looked: mail that came after it, while
        # no IDLE was listening (between polls, or while reconnecting), is seen by the wait.
        self._polled_at: tuple[int, int] | None = None
        self._idle_lost = False  # the IDLE connection died: log the reconnection once
        self._idle_unsupported_logged = False

    # -- the Source interface ---------------------------------------------------------------

    def check(self) -> str:
        """Connect, log in, examine the folder (and `move_to`); describe what was found."""
        s = self.settings
        with self._imap.guard("checking the folder"):
            client = self._imap.connected()
            info = self._imap.select(client, readonly=True)
            if s.after_processing == "move" and s.move_to and not client.folder_exists(s.move_to):
                raise self._imap.missing_folder(s.move_to, "move_to")
        return f"{s.folder}: {info.get(b'EXISTS', 0)} messages, UIDVALIDITY {info[b'UIDVALIDITY']}"

    def poll(self, cursor: Cursor | None, batch_size: int) -> Iterator[Batch]:
        """Yield batches of messages newer than `cursor`, oldest first, `batch_size` at most."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        readonly = self.settings.after_processing == "none"
        with self._imap.guard("selecting the folder"):
            client, info = self._open_folder_info(readonly=readonly)
            uidvalidity = int(info[b"UIDVALIDITY"])
            self._polled_at = _uid_state(info)
            last_uid, reset = self._resume_point(cursor, uidvalidity)
            # `UID n:*` always matches the newest message, even when n is above every UID.
            found = client.search(["UID", f"{last_uid + 1}:*"])
            uids = sorted(uid for uid in found if uid > last_uid)
        if not uids:
            if reset:
                yield Batch(records=[], cursor=_cursor(uidvalidity, 0), reset=True)
            return
        for start in range(0, len(uids), batch_size):
            chunk = uids[start : start + batch_size]
            with self._imap.guard("fetching messages"):
                if self._imap.client is not client:
                    # Something (an acknowledge, an error) replaced the connection meanwhile.
                    client, current = self._open_folder(readonly=readonly)
                    if current != uidvalidity:
                        self._log_uidvalidity_change(uidvalidity, current)
                        return
                records = self._fetch(client, chunk, uidvalidity)
            log.info(
                "imap_batch_read",
                source=self.name,
                folder=self.settings.folder,
                count=len(records),
                last_uid=chunk[-1],
            )
            yield Batch(records=records, cursor=_cursor(uidvalidity, chunk[-1]), reset=reset)
            reset = False

    def acknowledge(self, records: Iterable[SourceRecord]) -> None:
        """Flag or move messages whose batch the runtime has committed (per `after_processing`)."""
        s = self.settings
        if s.after_processing == "none":
            return
        wanted = _uids_by_validity(self.name, records)
        if not wanted:
            return
        with self._imap.guard("acknowledging messages"):
            client, uidvalidity = self._open_folder(readonly=False)
            uids = sorted(wanted.pop(uidvalidity, set()))
            stale = sum(len(v) for v in wanted.values())
            if stale:
                log.warning(
                    "imap_ack_stale_uidvalidity",
                    source=self.name,
                    folder=s.folder,
                    count=stale,
                    uidvalidity=uidvalidity,
                )
            if not uids:
                return
            if s.after_processing == "flag":
                client.add_flags(uids, [s.processed_flag], silent=True)
            else:
                self._move(client, uids)
        log.info(
            "imap_acknowledged",
            source=self.name,
            folder=s.folder,
            action=s.after_processing,
            count=len(uids),
        )

    def wait_for_change(self, wake: threading.Event) -> bool | None:
        """IDLE until the server signals new mail (True) or `wake` is set (False).

        None when `idle` is off or the server does not announce IDLE (the runtime polls on
        the interval). Mail that came since the last poll (UIDNEXT moved) returns True at
        once. A lost connection raises SourceUnavailable; the next call reconnects.
        """
        s = self.settings
        if not s.idle:
            return None
        try:
            with self._imap.guard("waiting for new mail (IDLE)"):
                client = self._imap.connected()
                if not client.has_capability("IDLE"):
                    if not self._idle_unsupported_logged:
                        self._idle_unsupported_logged = True
                        log.info(
                            "imap_idle_unsupported",
                            source=self.name,
                            host=s.host,
                            interval_seconds=s.interval_seconds,
                        )
                    return None
                if self._idle_lost:
                    self._idle_lost = False
                    log.info("imap_idle_reconnect", source=self.name, folder=s.folder)
                info = self._imap.select(client, readonly=s.after_processing == "none")
                state = _uid_state(info)
                if self._polled_at is not None and state != self._polled_at:
                    # Once per state: if the runtime does not poll (another replica holds
                    # the lease), the next wait idles instead of waking it again at once.
                    self._polled_at = state
                    log.info("imap_idle_woken", source=self.name, reason="uidnext_moved")
                    return True
                try:
                    return wait_on_idle(
                        client,
                        wake,
                        renew_seconds=s.idle_renew_seconds,
                        source=self.name,
                        folder=s.folder,
                    )
                except BaseException:
                    self._imap.drop()  # still in IDLE, or dead: no other command can follow
                    raise
        except SourceUnavailable:
            self._idle_lost = True
            raise

    def close(self) -> None:
        """Log out quietly; the next call connects again."""
        self._imap.close()

    # -- folder -----------------------------------------------------------------------------

    def _open_folder(self, *, readonly: bool) -> tuple[IMAPClient, int]:
        """Connect if needed, select the folder, and return the client and UIDVALIDITY."""
        client, info = self._open_folder_info(readonly=readonly)
        return client, int(info[b"UIDVALIDITY"])

    def _open_folder_info(self, *, readonly: bool) -> tuple[IMAPClient, dict[bytes, Any]]:
        """Connect if needed, select the folder, and return the client and SELECT's answer."""
        client = self._imap.connected()
        return client, self._imap.select(client, readonly=readonly)

    def _resume_point(self, cursor: Cursor | None, uidvalidity: int) -> tuple[int, bool]:
        """Return (last UID already read, whether we must start over) for this UIDVALIDITY."""
        if cursor is None:
            return 0, False
        old_validity, last_uid = cursor.get("uidvalidity"), cursor.get("last_uid")
        if not (_is_int(old_validity) and _is_int(last_uid) and last_uid >= 0):
            log.warning("imap_cursor_invalid", source=self.name, cursor=cursor)
            return 0, True
        if old_validity != uidvalidity:
            self._log_uidvalidity_change(old_validity, uidvalidity)
            return 0, True
        return last_uid, False

    def _log_uidvalidity_change(self, old: int, new: int) -> None:
        log.warning(
            "imap_uidvalidity_changed",
            source=self.name,
            folder=self.settings.folder,
            old_uidvalidity=old,
            new_uidvalidity=new,
        )

    # -- messages ---------------------------------------------------------------------------

    def _fetch(self, client: IMAPClient, uids: list[int], uidvalidity: int) -> list[SourceRecord]:
        """Fetch `uids` without setting \\Seen; over-cap messages come with their header only."""
        cap = self.settings.max_message_bytes
        meta = client.fetch(uids, ["RFC822.SIZE", "INTERNALDATE"])
        sizes = {uid: int(meta[uid][b"RFC822.SIZE"]) for uid in uids if uid in meta}
        small = [uid for uid in uids if uid in sizes and sizes[uid] <= cap]
        large = [uid for uid in uids if uid in sizes and sizes[uid] > cap]
        bodies = client.fetch(small, ["BODY.PEEK[]"]) if small else {}
        headers = client.fetch(large, ["BODY.PEEK[HEADER]"]) if large else {}
        records = []
        for uid in uids:
            if uid not in sizes:
                log.warning("imap_message_vanished", source=self.name, uid=uid)
                continue
            size = sizes[uid]
            reason = None
            if uid in bodies:
                raw = bodies[uid].get(b"BODY[]")
                if raw is None:
                    reason = "the server returned no content for this message"
            elif uid in headers:
                raw = headers[uid].get(b"BODY[HEADER]")
                reason = f"message is {size} bytes, over the {cap}-byte cap"
                log.warning("imap_message_over_cap", source=self.name, uid=uid, size=size, cap=cap)
            else:
                log.warning("imap_message_vanished", source=self.name, uid=uid)
                continue
            records.append(
                SourceRecord(
                    source=self.name,
                    source_id=f"{uidvalidity}:{uid}",
                    kind="email",
                    raw=bytes(raw) if raw is not None else None,
                    size=size,
                    received_at=_as_utc(meta[uid].get(b"INTERNALDATE")),
                    quarantine_reason=reason,
                )
            )
        return records

    def _move(self, client: IMAPClient, uids: list[int]) -> None:
        """Move `uids` to `move_to`: MOVE if offered, else COPY + \\Deleted + EXPUNGE."""
        target = self.settings.move_to
        if not target:  # ImapSettings refuses this; kept for settings built without validation
            raise ConfigError("move_to is required when after_processing is 'move'")
        try:
            if client.has_capability("MOVE"):
                client.move(uids, target)
                return
            client.copy(uids, target)
        except IMAPClientAbortError:
            raise
        except IMAPClientError:
            if not client.folder_exists(target):
                raise self._imap.missing_folder(target, "move_to") from None
            raise
        client.delete_messages(uids, silent=True)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:
            client.expunge()


def _uid_state(info: dict[bytes, Any]) -> tuple[int, int] | None:
    """(UIDVALIDITY, UIDNEXT) from a SELECT answer; None when the server left UIDNEXT out."""
    uidnext = info.get(b"UIDNEXT")
    if uidnext is None:
        return None
    return int(info[b"UIDVALIDITY"]), int(uidnext)


def _cursor(uidvalidity: int, last_uid: int) -> Cursor:
    return {"uidvalidity": uidvalidity, "last_uid": last_uid}


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _as_utc(value: object) -> datetime | None:
    """INTERNALDATE as an aware UTC datetime (naive values are taken as UTC)."""
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _uids_by_validity(source: str, records: Iterable[SourceRecord]) -> dict[int, set[int]]:
    """Group the UIDs of this source's records by the UIDVALIDITY in their source_id."""
    grouped: dict[int, set[int]] = {}
    for record in records:
        if record.source != source:
            continue
        validity, _, uid = record.source_id.partition(":")
        if validity.isdigit() and uid.isdigit():
            grouped.setdefault(int(validity), set()).add(int(uid))
        else:
            log.warning("imap_ack_bad_source_id", source=source, source_id=record.source_id)
    return grouped
