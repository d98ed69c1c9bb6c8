"""The Maildir source: delivery order, a cursor with grace, and nothing lost to a mail client."""

from __future__ import annotations

import os
import time
from pathlib import Path

from structlog.testing import capture_logs

from connectors.maildir.settings import MaildirSettings
from connectors.maildir.source import MaildirSource
from tests.helpers.mail import deliver, make_maildir, make_message


def _source(root: Path, **extra: object) -> MaildirSource:
    return MaildirSource("box", MaildirSettings(type="maildir", path=root, **extra))


def _ids(batches: list) -> list[str]:
    return [r.source_id for b in batches for r in b.records]


def test_messages_come_once_in_delivery_order_and_the_cursor_resumes(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "box")
    keys = [deliver(root, make_message(subject=f"m{i}"), mtime=1_795_000_000 + i) for i in range(5)]
    source = _source(root)
    batches = list(source.poll(None, 2))
    assert _ids(batches) == keys and len(batches) == 3
    assert _ids(list(source.poll(batches[-1].cursor, 2))) == []
    late = deliver(root, make_message(subject="late"), mtime=1_795_000_002.5)  # older mtime
    assert _ids(list(source.poll(batches[-1].cursor, 2))) == [late]


def test_a_message_moved_to_cur_by_a_mail_client_mid_poll_is_still_read(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "box")
    keys = [deliver(root, make_message(subject=f"m{i}"), mtime=1_795_000_000 + i) for i in range(3)]
    source = _source(root)
    original_scan = source._scan

    def scan_then_move() -> list:
        entries = original_scan()
        os.rename(root / "new" / keys[1], root / "cur" / f"{keys[1]}:2,S")
        return entries

    source._scan = scan_then_move  # type: ignore[method-assign]
    batches = list(source.poll(None, 10))
    assert _ids(batches) == keys
    assert all(r.raw for b in batches for r in b.records)


def test_files_starting_with_a_dot_are_not_messages(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "box")
    (root / "cur" / ".gitkeep").write_text("")
    key = deliver(root, make_message())
    assert _ids(list(_source(root).poll(None, 10))) == [key]


def test_mark_seen_moves_processed_mail_to_cur(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "box")
    key = deliver(root, make_message())
    source = _source(root, after_processing="mark_seen")
    (batch,) = list(source.poll(None, 10))
    source.acknowledge(batch.records)
    assert not (root / "new" / key).exists() and (root / "cur" / f"{key}:2,S").exists()
    assert _ids(list(source.poll(batch.cursor, 10))) == []


def test_a_message_delivered_with_a_ten_minute_old_mtime_is_read(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "box")
    first = deliver(root, make_message(subject="first"))
    source = _source(root)  # grace: 300 s
    (batch,) = list(source.poll(None, 10))
    assert _ids([batch]) == [first]
    late = deliver(root, make_message(subject="late"), mtime=time.time() - 600)
    with capture_logs() as logs:
        assert _ids(list(source.poll(batch.cursor, 10))) == [late]
    assert [e["key"] for e in logs if e["event"] == "maildir_message_old_mtime"] == [late]


def test_a_message_moved_back_from_an_archive_folder_is_read(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "box")
    archive = make_maildir(tmp_path / "archive")
    old = deliver(archive, make_message(subject="archived"), mtime=time.time() - 30 * 86400)
    os.rename(archive / "new" / old, archive / "cur" / f"{old}:2,S")
    keys = [deliver(root, make_message(subject=f"m{i}")) for i in range(3)]
    source = _source(root)
    batches = list(source.poll(None, 2))
    assert _ids(batches) == keys
    os.rename(archive / "cur" / f"{old}:2,S", root / "cur" / f"{old}:2,S")  # a client moves it back
    assert _ids(list(source.poll(batches[-1].cursor, 2))) == [old]
    assert _ids(list(source.poll(None, 10))) == [old, *keys]  # delivery (mtime) order


def test_a_cursor_written_with_mtimes_still_reads_what_came_after_it(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "box")
    read = deliver(root, make_message(subject="read"), mtime=time.time() - 3600)
    old_cursor = {"mtime_ns": int((time.time() - 3600) * 1e9), "seen": [read]}
    late = deliver(root, make_message(subject="late"), mtime=time.time() - 7200)
    assert _ids(list(_source(root).poll(old_cursor, 10))) == [late]


def test_a_cursor_saved_mid_poll_never_passes_a_message_not_read_yet(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "box")
    now = time.time()
    # arrival order a, b, c; delivery (mtime) order c, b, a
    a, b, c = (deliver(root, make_message(), mtime=now - age) for age in (100, 200, 300))
    source = _source(root, grace_seconds=0)
    first = next(iter(source.poll(None, 1)))
    assert _ids([first]) == [c]
    # the process dies here: the next run starts from the cursor of the first batch
    assert _ids(list(source.poll(first.cursor, 1))) == [b, a]
