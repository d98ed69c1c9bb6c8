"""The IMAP source against a real Dovecot: read once, resume, batches, resets, caps, outages."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from imapclient import IMAPClient
from pydantic import ValidationError
from structlog.testing import capture_logs

from bot.errors import AuthError, ConfigError, SourceUnavailable
from bot.models import SourceRecord
from connectors.base import Batch, Cursor, Source
from connectors.imap import CONNECTOR, ImapSettings, ImapSource
from tests.servers.dovecot import DovecotServer

MakeSource = Callable[..., ImapSource]


def message(n: int, *, body: bytes = b"Hello, my order is late.\r\n") -> bytes:
    """A small RFC 5322 message with CRLF line ends, as the server stores and returns it."""
    return (
        f"From: Customer {n} <customer{n}@example.test>\r\n"
        f"To: support@example.test\r\n"
        f"Subject: Request number {n}\r\n"
        f"Message-ID: <request-{n}@example.test>\r\n"
        f"Date: Mon, 04 Mar 2024 10:00:00 +0100\r\n"
        f"\r\n"
    ).encode() + body


def header_of(raw: bytes) -> bytes:
    """The header block of `raw`, blank line included (what BODY[HEADER] returns)."""
    return raw[: raw.index(b"\r\n\r\n") + 4]


def drain(source: ImapSource, cursor: Cursor | None, batch_size: int = 100) -> list[Batch]:
    """Every batch one poll yields."""
    return list(source.poll(cursor, batch_size))


def records_of(batches: list[Batch]) -> list[SourceRecord]:
    """All records of `batches`, in order."""
    return [record for batch in batches for record in batch.records]


def uid_of(record: SourceRecord) -> int:
    """The UID part of an IMAP record's source_id."""
    return int(record.source_id.split(":")[1])


def settings(**overrides: Any) -> ImapSettings:
    """Valid settings for a remote TLS mailbox, with `overrides` applied."""
    values: dict[str, Any] = {
        "type": "imap",
        "host": "imap.example.test",
        "username": "support@example.test",
        "password": "hunter2-secret",
    }
    return ImapSettings(**(values | overrides))


@pytest.fixture
def make_source(dovecot: DovecotServer) -> Iterator[MakeSource]:
    """Build ImapSources pointed at the test Dovecot; they are closed after the test."""
    made: list[ImapSource] = []

    def make(**overrides: Any) -> ImapSource:
        values: dict[str, Any] = {
            "type": "imap",
            "host": "127.0.0.1",
            "port": dovecot.port,
            "security": "plain",
            "username": dovecot.username,
            "password": dovecot.password,
            "timeout_seconds": 5,
        }
        source = ImapSource("support-mailbox", ImapSettings(**(values | overrides)))
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()


# -- settings -------------------------------------------------------------------------------


def test_connector_spec_builds_a_source_from_settings() -> None:
    source = CONNECTOR.make_source("mailbox", settings())  # type: ignore[misc]
    assert CONNECTOR.name == "imap"
    assert CONNECTOR.settings_model is ImapSettings
    assert "source" in CONNECTOR.capabilities
    assert isinstance(source, Source)
    assert source.name == "mailbox"


def test_settings_refuse_plain_on_a_non_loopback_host() -> None:
    with pytest.raises(ValidationError) as caught:
        settings(security="plain")
    (error,) = caught.value.errors()
    assert error["loc"] == ("security",)
    assert "plain" in error["msg"] and "imap.example.test" in error["msg"]
    assert "hunter2-secret" not in str(caught.value)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.0.0.53", "::1", "[::1]"])
def test_settings_allow_plain_on_a_loopback_host(host: str) -> None:
    assert settings(host=host, security="plain").resolved_port == 143


def test_settings_require_move_to_when_moving() -> None:
    with pytest.raises(ValidationError, match="move_to is required"):
        settings(after_processing="move")
    with pytest.raises(ValidationError, match="move_to must differ from folder"):
        settings(after_processing="move", move_to="INBOX")
    assert settings(after_processing="move", move_to="Done").move_to == "Done"


def test_settings_default_port_follows_security() -> None:
    assert settings().resolved_port == 993
    assert settings(security="starttls").resolved_port == 143
    assert settings(port=1993).resolved_port == 1993


@pytest.mark.parametrize("flag", ["two words", "(paren", "star*", 'quo"te', ""])
def test_settings_refuse_a_processed_flag_that_is_not_an_imap_flag(flag: str) -> None:
    with pytest.raises(ValidationError, match="processed_flag"):
        settings(processed_flag=flag)


def test_settings_refuse_unknown_keys_and_hide_the_password() -> None:
    with pytest.raises(ValidationError, match="extra"):
        settings(pasword="typo")
    assert "hunter2-secret" not in repr(settings())


# -- against Dovecot ------------------------------------------------------------------------


@pytest.mark.dovecot
def test_check_describes_the_folder(dovecot: DovecotServer, make_source: MakeSource) -> None:
    dovecot.append_many("INBOX", [message(1), message(2)])
    description = make_source().check()
    assert description == f"INBOX: 2 messages, UIDVALIDITY {dovecot.uidvalidity('INBOX')}"


@pytest.mark.dovecot
def test_new_mail_is_read_once_with_its_raw_bytes(
    dovecot: DovecotServer, make_source: MakeSource
) -> None:
    sent = [message(n) for n in range(5)]
    uids = dovecot.append_many("INBOX", sent)
    source = make_source()

    batches = drain(source, None)
    records = records_of(batches)
    uidvalidity = dovecot.uidvalidity("INBOX")
    assert [r.raw for r in records] == sent
    assert [r.source_id for r in records] == [f"{uidvalidity}:{uid}" for uid in uids]
    assert all(r.kind == "email" and r.source == "support-mailbox" for r in records)
    assert [r.size for r in records] == [len(raw) for raw in sent]
    assert all(r.quarantine_reason is None for r in records)
    assert batches[-1].cursor == {"uidvalidity": uidvalidity, "last_uid": uids[-1]}
    assert not any(batch.reset for batch in batches)

    # `UID n:*` matches the newest message even when n is past it: it must not come again.
    assert drain(source, batches[-1].cursor) == []


@pytest.mark.dovecot
def test_received_at_is_the_internal_date_in_utc(
    dovecot: DovecotServer, make_source: MakeSource
) -> None:
    paris_summer = timezone(timedelta(hours=2))
    with dovecot.client() as client:
        client.append(
            "INBOX", message(1), msg_time=datetime(2024, 7, 1, 10, 30, tzinfo=paris_summer)
        )
    (record,) = records_of(drain(make_source(), None))
    assert record.received_at == datetime(2024, 7, 1, 8, 30, tzinfo=UTC)
    assert record.received_at.utcoffset() == timedelta(0)


@pytest.mark.dovecot
def test_a_new_source_resumes_from_the_saved_cursor(
    dovecot: DovecotServer, make_source: MakeSource
) -> None:
    dovecot.append_many("INBOX", [message(1), message(2)])
    first = make_source()
    cursor = drain(first, None)[-1].cursor
    first.close()

    new_uids = dovecot.append_many("INBOX", [message(3), message(4)])
    records = records_of(drain(make_source(), cursor))
    assert [uid_of(r) for r in records] == new_uids
    assert [r.raw for r in records] == [message(3), message(4)]


@pytest.mark.dovecot
def test_reading_does_not_mark_mail_seen(dovecot: DovecotServer, make_source: MakeSource) -> None:
    dovecot.append_many("INBOX", [message(1), message(2)])
    source = make_source()
    batches = drain(source, None)
    source.acknowledge(records_of(batches))  # "none": acknowledging changes nothing either
    flags = dovecot.flags("INBOX")
    assert len(flags) == 2
    assert all(b"\\Seen" not in f and b"$CrmbotProcessed" not in f for f in flags.values())


@pytest.mark.dovecot
def test_flag_mode_flags_acknowledged_mail_only(
    dovecot: DovecotServer, make_source: MakeSource
) -> None:
    uids = dovecot.append_many("INBOX", [message(1), message(2), message(3)])
    source = make_source(after_processing="flag")
    batches = drain(source, None, batch_size=2)
    assert all(b"$CrmbotProcessed" not in f for f in dovecot.flags("INBOX").values())

    source.acknowledge(batches[0].records)
    # A record from an older UIDVALIDITY must not touch the message that now has its UID.
    stale = SourceRecord(
        source="support-mailbox",
        source_id=f"{dovecot.uidvalidity('INBOX') - 1}:{uids[2]}",
        kind="email",
    )
    source.acknowledge([stale])

    flags = dovecot.flags("INBOX")
    assert [b"$CrmbotProcessed" in flags[uid] for uid in uids] == [True, True, False]
    assert all(b"\\Seen" not in f for f in flags.values())


@pytest.mark.dovecot
def test_move_mode_moves_acknowledged_mail_to_the_target_folder(
    dovecot: DovecotServer, make_source: MakeSource
) -> None:
    dovecot.create_folder("Processed")
    dovecot.append_many("INBOX", [message(1), message(2), message(3)])
    source = make_source(after_processing="move", move_to="Processed")
    batches = source.poll(None, 2)

    # As the runtime does: acknowledge each batch once stored, while the poll goes on.
    source.acknowledge(next(batches).records)
    assert len(dovecot.flags("INBOX")) == 1
    source.acknowledge(next(batches).records)
    assert next(batches, None) is None
    assert dovecot.flags("INBOX") == {}
    with dovecot.client() as client:
        client.select_folder("Processed", readonly=True)
        moved = client.fetch(client.search(["ALL"]), ["BODY.PEEK[]"])
    assert sorted(data[b"BODY[]"] for data in moved.values()) == [message(n) for n in (1, 2, 3)]


@pytest.mark.dovecot
def test_move_without_the_move_capability_copies_deletes_and_expunges(
    dovecot: DovecotServer, make_source: MakeSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = IMAPClient.has_capability
    monkeypatch.setattr(
        IMAPClient, "has_capability", lambda self, cap: cap.upper() != "MOVE" and real(self, cap)
    )
    monkeypatch.setattr(IMAPClient, "move", lambda *a: pytest.fail("MOVE used without capability"))
    dovecot.create_folder("Processed")
    dovecot.append_many("INBOX", [message(1), message(2)])
    source = make_source(after_processing="move", move_to="Processed")
    source.acknowledge(records_of(drain(source, None)))
    assert dovecot.flags("INBOX") == {}
    assert len(dovecot.flags("Processed")) == 2


@pytest.mark.dovecot
def test_move_to_a_missing_folder_is_a_config_error(
    dovecot: DovecotServer, make_source: MakeSource
) -> None:
    dovecot.append("INBOX", message(1))
    source = make_source(after_processing="move", move_to="Nowhere")
    with pytest.raises(ConfigError, match="'Nowhere' \\(setting move_to\\) does not exist"):
        source.check()
    with pytest.raises(ConfigError, match="move_to"):
        source.acknowledge(records_of(drain(source, None)))
    assert len(dovecot.flags("INBOX")) == 1


@pytest.mark.dovecot
def test_batches_hold_at_most_batch_size_with_increasing_cursors(
    dovecot: DovecotServer, make_source: MakeSource
) -> None:
    uids = dovecot.append_many("INBOX", [message(n) for n in range(25)])
    source = make_source()
    batches = drain(source, None, batch_size=10)
    assert [len(b.records) for b in batches] == [10, 10, 5]
    assert [b.cursor["last_uid"] for b in batches] == [uids[9], uids[19], uids[24]]
    assert [uid_of(r) for r in records_of(batches)] == uids
    assert drain(source, batches[-1].cursor, batch_size=10) == []


@pytest.mark.dovecot
def test_a_new_uidvalidity_rereads_the_folder_and_flags_the_reset(
    dovecot: DovecotServer, make_source: MakeSource
) -> None:
    dovecot.create_folder("Support")
    old = [message(n) for n in range(3)]
    dovecot.append_many("Support", old)
    source = make_source(folder="Support")
    cursor = drain(source, None)[-1].cursor

    dovecot.delete_folder("Support")
    dovecot.create_folder("Support")
    dovecot.append_many("Support", [*old, message(3)])
    new_validity = dovecot.uidvalidity("Support")
    assert new_validity != cursor["uidvalidity"]

    with capture_logs() as logs:
        batches = drain(source, cursor, batch_size=2)
    assert [b.reset for b in batches] == [True, False]
    assert [r.raw for r in records_of(batches)] == [*old, message(3)]
    assert all(r.source_id.startswith(f"{new_validity}:") for r in records_of(batches))
    assert batches[-1].cursor["uidvalidity"] == new_validity
    assert any(entry["event"] == "imap_uidvalidity_changed" for entry in logs)


@pytest.mark.dovecot
def test_a_new_uidvalidity_on_an_empty_folder_still_moves_the_cursor(
    dovecot: DovecotServer, make_source: MakeSource
) -> None:
    dovecot.create_folder("Support")
    source = make_source(folder="Support")
    (batch,) = drain(source, {"uidvalidity": 1, "last_uid": 40})
    assert batch.reset and batch.records == []
    assert batch.cursor == {"uidvalidity": dovecot.uidvalidity("Support"), "last_uid": 0}


@pytest.mark.dovecot
def test_a_message_over_the_cap_is_quarantined_with_its_header_only(
    dovecot: DovecotServer, make_source: MakeSource
) -> None:
    head = message(2, body=b"")
    line = b"x" * 98 + b"\r\n"
    filler = line * ((5000 - len(head)) // len(line))
    big = head + filler + b"y" * (5000 - len(head) - len(filler) - 2) + b"\r\n"
    assert len(big) == 5000
    dovecot.append_many("INBOX", [message(1), big, message(3)])

    records = records_of(drain(make_source(max_message_bytes=2000), None))
    assert [r.quarantine_reason for r in records] == [
        None,
        "message is 5000 bytes, over the 2000-byte cap",
        None,
    ]
    assert records[1].raw == header_of(big)
    assert records[1].size == 5000
    assert [records[0].raw, records[2].raw] == [message(1), message(3)]


@pytest.mark.dovecot
def test_an_outage_raises_source_unavailable_and_polling_resumes_from_the_cursor(
    dovecot: DovecotServer, make_source: MakeSource
) -> None:
    uids = dovecot.append_many("INBOX", [message(n) for n in range(5)])
    source = make_source()
    batches = source.poll(None, 2)
    first = next(batches)

    dovecot.stop()
    with pytest.raises(SourceUnavailable) as mid_poll:
        next(batches)
    with pytest.raises(SourceUnavailable) as next_poll:
        drain(source, first.cursor)
    for caught in (mid_poll, next_poll):
        assert f"127.0.0.1:{dovecot.port}" in str(caught.value)
        assert dovecot.password not in str(caught.value)

    dovecot.start()
    uids.append(dovecot.append("INBOX", message(5)))
    records = records_of(drain(source, first.cursor))
    assert [uid_of(r) for r in records] == uids[2:]


@pytest.mark.dovecot
def test_a_wrong_password_is_an_auth_error_that_does_not_reveal_it(
    dovecot: DovecotServer, make_source: MakeSource
) -> None:
    wrong = "not-the-Password-42"
    source = make_source(password=wrong)
    with capture_logs() as logs, pytest.raises(AuthError) as caught:
        drain(source, None)
    assert dovecot.username in str(caught.value)
    assert wrong not in str(caught.value)
    assert wrong not in repr(logs)
    with pytest.raises(AuthError):
        source.check()


@pytest.mark.dovecot
def test_a_missing_folder_is_a_config_error(make_source: MakeSource) -> None:
    with pytest.raises(ConfigError, match="'Archive/2023' \\(setting folder\\) does not exist"):
        drain(make_source(folder="Archive/2023"), None)


def test_a_server_that_never_answers_times_out_as_source_unavailable() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        source = ImapSource(
            "mailbox",
            settings(host="127.0.0.1", port=port, security="plain", timeout_seconds=0.3),
        )
        with pytest.raises(SourceUnavailable, match=f"127.0.0.1:{port}.*timed out"):
            source.check()


@pytest.mark.dovecot
def test_starttls_on_a_server_without_it_is_a_config_error(make_source: MakeSource) -> None:
    with pytest.raises(ConfigError, match="does not offer STARTTLS"):
        make_source(security="starttls").check()
