"""Read a Maildir (new/ and cur/) in delivery order, from a cursor, without touching it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from bot.errors import ConfigError, SourceUnavailable
from bot.models import SourceRecord
from connectors.base import Batch, Cursor
from connectors.maildir.settings import MaildirSettings

log = structlog.get_logger(__name__)
HEADER_PEEK_BYTES = 64 * 1024


@dataclass(slots=True, frozen=True)
class _Entry:
    key: str
    path: Path
    mtime_ns: int
    size: int
    arrived_ns: int  # when the file came into new/ or cur/: max(ctime, mtime)


def _unique_key(filename: str) -> str:
    """The part of a Maildir file name that survives the move from new/ to cur/."""
    return filename.split(":", 1)[0].split("!", 1)[0]


class MaildirSource:
    """Polls a Maildir; the cursor is the newest arrival time seen plus the keys near it.

    A file's arrival time is its inode change time (ctime), which the rename that delivers
    a file into new/, or moves it in from another folder, sets to the present: unlike the
    mtime, a sender or a mail client cannot set it back. A message delivered with an old
    mtime, or moved back from an archive folder, arrives now and is read. What arrived is
    read in delivery (mtime) order, and the cursor saved after a batch never passes the
    arrival of a message not read yet. Keys within `grace_seconds` of the cursor are
    remembered and anything that arrived after (cursor - grace) not in that set is read,
    so that a rename racing the scan is not lost. A message renamed later by a mail client
    (new/ -> cur/, flags) arrives again: it is read again and the store drops it as seen.
    """

    def __init__(self, name: str, settings: MaildirSettings) -> None:
        self.name = name
        self.settings = settings

    def _scan(self) -> list[_Entry]:
        root = self.settings.path
        if not root.is_dir():
            raise SourceUnavailable(f"maildir {self.name}: {root} is not a directory")
        entries: list[_Entry] = []
        for sub in ("new", "cur"):
            folder = root / sub
            try:
                with os.scandir(folder) as it:
                    for item in it:
                        if item.name.startswith(".") or not item.is_file():
                            continue
                        st = item.stat()
                        entries.append(
                            _Entry(
                                _unique_key(item.name),
                                Path(item.path),
                                st.st_mtime_ns,
                                st.st_size,
                                max(st.st_ctime_ns, st.st_mtime_ns),
                            )
                        )
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise SourceUnavailable(
                    f"maildir {self.name}: cannot list {folder}: {exc}"
                ) from exc
        entries.sort(key=lambda e: (e.mtime_ns, e.key))
        return entries

    def check(self) -> str:
        """Describe the folder: how many messages it holds."""
        root = self.settings.path
        if not (root / "new").is_dir() and not (root / "cur").is_dir():
            raise ConfigError(
                f"sources.{self.name}.path: {root} is not a Maildir (no new/ or cur/)"
            )
        return f"{root}: {len(self._scan())} messages"

    def poll(self, cursor: Cursor | None, batch_size: int) -> Iterator[Batch]:
        """Yield batches of messages that arrived after the cursor, in delivery order."""
        grace_ns = int(self.settings.grace_seconds * 1e9)
        cursor = cursor or {}
        # "mtime_ns": cursors written before arrival times; starting from it re-reads at
        # worst a few messages (the store drops them), never skips one.
        arrived: Any = cursor.get("arrived_ns", cursor.get("mtime_ns", -1))
        last = int(arrived)
        seen = set(cursor.get("seen", []))
        pending = [e for e in self._scan() if e.arrived_ns > last - grace_ns and e.key not in seen]
        pending.sort(key=lambda e: (e.mtime_ns, e.key))  # delivery order, for threading
        # The saved cursor never passes a message not read yet: unread_from[i] is the
        # earliest arrival among pending[i:].
        unread_from = [0] * (len(pending) + 1)
        unread_from[-1] = 2**63
        for i in range(len(pending) - 1, -1, -1):
            unread_from[i] = min(unread_from[i + 1], pending[i].arrived_ns)
        read = {k: last for k in seen}
        top = last
        for start in range(0, len(pending), batch_size):
            chunk = pending[start : start + batch_size]
            records = [self._read(e, last - grace_ns) for e in chunk]
            for e in chunk:
                read[e.key] = e.arrived_ns
                top = max(top, e.arrived_ns)
            mark = max(last, min(top, unread_from[start + len(chunk)] - 1))
            read = {k: t for k, t in read.items() if t > mark - grace_ns or t == mark}
            yield Batch(
                records=[r for r in records if r is not None],
                cursor={"arrived_ns": mark, "seen": sorted(read)},
            )

    def _find(self, key: str) -> Path | None:
        """Where a message is now (a mail client may have moved it new/ -> cur/ and renamed it)."""
        for sub in ("cur", "new"):
            folder = self.settings.path / sub
            for candidate in folder.glob(f"{key}*") if folder.is_dir() else []:
                if _unique_key(candidate.name) == key:
                    return candidate
        return None

    def _read(self, entry: _Entry, horizon_ns: int) -> SourceRecord | None:
        if entry.mtime_ns <= horizon_ns:  # skipped for ever when the cursor was an mtime
            log.info(
                "maildir_message_old_mtime",
                source=self.name,
                key=entry.key,
                mtime=datetime.fromtimestamp(entry.mtime_ns / 1e9, UTC).isoformat(),
            )
        try:
            return self._read_at(entry, entry.path)
        except FileNotFoundError:
            moved = self._find(entry.key)
            if moved is not None:
                try:
                    return self._read_at(entry, moved)
                except FileNotFoundError:
                    pass
            # Gone from new/ and cur/: deleted by a mail client, so there is nothing to keep.
            log.warning("maildir_message_deleted", source=self.name, key=entry.key)
            return None

    def _read_at(self, entry: _Entry, path: Path) -> SourceRecord:
        received = datetime.fromtimestamp(entry.mtime_ns / 1e9, UTC)
        base = SourceRecord(
            source=self.name,
            source_id=entry.key,
            kind="email",
            size=entry.size,
            received_at=received,
        )
        try:
            if entry.size > self.settings.max_message_bytes:
                with path.open("rb") as fh:
                    head = fh.read(HEADER_PEEK_BYTES)
                end = head.find(b"\n\n")
                base.raw = head[: end + 1] if end >= 0 else head
                base.quarantine_reason = (
                    f"message is {entry.size} bytes, over the "
                    f"{self.settings.max_message_bytes}-byte cap"
                )
                log.warning("maildir_message_over_cap", source=self.name, key=entry.key)
                return base
            base.raw = path.read_bytes()
        except FileNotFoundError:
            raise
        except OSError as exc:
            base.quarantine_reason = f"cannot read {path}: {exc.strerror}"
        return base

    def acknowledge(self, records: list[SourceRecord]) -> None:
        """With after_processing=mark_seen, move processed mail from new/ to cur/ as seen."""
        if self.settings.after_processing != "mark_seen":
            return
        new = self.settings.path / "new"
        keys = {r.source_id for r in records}
        for item in new.iterdir() if new.is_dir() else []:
            if _unique_key(item.name) in keys:
                item.rename(self.settings.path / "cur" / f"{_unique_key(item.name)}:2,S")

    def close(self) -> None:
        """Nothing to release."""
