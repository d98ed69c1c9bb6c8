"""The IMAP source: reads new mail from one folder by UID, never marking it read."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeGuard

import structlog
from imapclient import IMAPClient
from imapclient.exceptions import (
    CapabilityError,
    IMAPClientAbortError,
    IMAPClientError,
    LoginError,
)

from bot.errors import AuthError, ConfigError, CrmbotError, SourceUnavailable
from bot.models import SourceRecord
from connectors.base import Batch, Cursor
from connectors.imap.idle import wait_on_idle
from connectors.imap.settings import ImapSettings

log = structlog.get_logger(__name__)

# What a dead, unreachable or misbehaving server raises (socket errors, timeouts, TLS, BYE).
_TRANSPORT_ERRORS = (OSError, IMAPClientAbortError)


class ImapSource:
    """Polls one IMAP folder for mail newer than a (UIDVALIDITY, last UID) cursor."""

    def __init__(self, name: str, settings: ImapSettings | dict[str, Any]) -> None:
        self.name = name
        self.settings = (
            settings
            if isinstance(settings, ImapSettings)
            else ImapSettings.model_validate(settings)
        )
        self._client: IMAPClient | None = None
        # (UIDVALIDITY, UIDNEXT) when the last poll looked: mail that came after it, while
        # no IDLE was listening (between polls, or while reconnecting), is seen by the wait.
        self._polled_at: tuple[int, int] | None = None
        self._idle_lost = False  # the IDLE connection died: log the reconnection once
        self._idle_unsupported_logged = False

    # -- the Source interface ---------------------------------------------------------------

    def check(self) -> str:
        """Connect, log in, examine the folder (and `move_to`); describe what was found."""
        s = self.settings
        with self._guard("checking the folder"):
            client = self._connected()
            info = self._select(client, readonly=True)
            if s.after_processing == "move" and s.move_to and not client.folder_exists(s.move_to):
                raise self._missing_folder(s.move_to, "move_to")
        return f"{s.folder}: {info.get(b'EXISTS', 0)} messages, UIDVALIDITY {info[b'UIDVALIDITY']}"

    def poll(self, cursor: Cursor | None, batch_size: int) -> Iterator[Batch]:
        """Yield batches of messages newer than `cursor`, oldest first, `batch_size` at most."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        readonly = self.settings.after_processing == "none"
        with self._guard("selecting the folder"):
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
            with self._guard("fetching messages"):
                if self._client is not client:
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
        with self._guard("acknowledging messages"):
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
            with self._guard("waiting for new mail (IDLE)"):
                client = self._connected()
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
                info = self._select(client, readonly=s.after_processing == "none")
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
                    self._drop()  # still in IDLE, or dead: no other command can follow
                    raise
        except SourceUnavailable:
            self._idle_lost = True
            raise

    def close(self) -> None:
        """Log out quietly; the next call connects again."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:
            _shutdown(client)
        log.debug("imap_closed", source=self.name)

    # -- connection -------------------------------------------------------------------------

    def _connected(self) -> IMAPClient:
        """Return a live, logged-in client, reconnecting when the last one died."""
        if self._client is not None:
            try:
                self._client.noop()
                return self._client
            except (*_TRANSPORT_ERRORS, IMAPClientError) as exc:
                log.info("imap_connection_lost", source=self.name, error=self._describe(exc))
                self._drop()
        s = self.settings
        tls_context = ssl.create_default_context() if s.security != "plain" else None
        client = IMAPClient(
            s.host,
            port=s.resolved_port,
            ssl=s.security == "tls",
            ssl_context=tls_context if s.security == "tls" else None,
            timeout=s.timeout_seconds,
        )
        client.normalise_times = False  # keep INTERNALDATE's zone: we convert to UTC ourselves
        try:
            if s.security == "starttls":
                client.starttls(tls_context)
            client.login(s.username, s.password.get_secret_value())
        except CapabilityError:
            _shutdown(client)
            raise ConfigError(
                f"IMAP server {self._where} does not offer STARTTLS but security is 'starttls'; "
                "use security 'tls' (port 993)"
            ) from None
        except LoginError as exc:
            _shutdown(client)
            raise AuthError(
                f"IMAP server {self._where} refused the login of user {s.username!r}: "
                f"{self._describe(exc)}"
            ) from None
        except BaseException:
            _shutdown(client)
            raise
        self._client = client
        log.info(
            "imap_connected",
            source=self.name,
            host=s.host,
            port=s.resolved_port,
            security=s.security,
            username=s.username,
        )
        return client

    def _drop(self) -> None:
        """Forget the connection without talking to the server (it may be dead)."""
        client, self._client = self._client, None
        if client is not None:
            _shutdown(client)

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn transport and protocol failures into SourceUnavailable; drop the connection."""
        try:
            yield
        except CrmbotError:
            raise
        except (*_TRANSPORT_ERRORS, IMAPClientError) as exc:
            self._drop()
            raise SourceUnavailable(
                f"IMAP server {self._where} failed while {action}: {self._describe(exc)}"
            ) from exc

    @property
    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.resolved_port}"

    def _describe(self, exc: BaseException) -> str:
        """`exc` as text for a message or a log line, with the password masked just in case."""
        text = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and not isinstance(exc, TimeoutError):
            text = f"{type(exc).__name__}: {text}"
        secret = self.settings.password.get_secret_value()
        return text.replace(secret, "***") if secret else text

    # -- folder -----------------------------------------------------------------------------

    def _open_folder(self, *, readonly: bool) -> tuple[IMAPClient, int]:
        """Connect if needed, select the folder, and return the client and UIDVALIDITY."""
        client, info = self._open_folder_info(readonly=readonly)
        return client, int(info[b"UIDVALIDITY"])

    def _open_folder_info(self, *, readonly: bool) -> tuple[IMAPClient, dict[bytes, Any]]:
        """Connect if needed, select the folder, and return the client and SELECT's answer."""
        client = self._connected()
        return client, self._select(client, readonly=readonly)

    def _select(self, client: IMAPClient, *, readonly: bool) -> dict[bytes, Any]:
        folder = self.settings.folder
        try:
            return client.select_folder(folder, readonly=readonly)
        except IMAPClientAbortError:
            raise
        except IMAPClientError:
            if not client.folder_exists(folder):
                raise self._missing_folder(folder, "folder") from None
            raise

    def _missing_folder(self, folder: str, setting: str) -> ConfigError:
        return ConfigError(
            f"IMAP folder {folder!r} (setting {setting}) does not exist for user "
            f"{self.settings.username!r} on {self._where}"
        )

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
                raise self._missing_folder(target, "move_to") from None
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


def _shutdown(client: IMAPClient) -> None:
    """Close a client's socket, ignoring whatever state it is in."""
    try:
        client.shutdown()
    except Exception:
        log.debug("imap_shutdown_failed")
