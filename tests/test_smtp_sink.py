"""The SMTP sink against a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import base64
import shutil
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.errors import AuthError, FatalError, RetriableError
from bot.registry import build_sink
from bot.stages.thread import reference_pattern
from connectors.base import SinkAction
from connectors.kit.clock import FakeClock
from connectors.smtp import CONNECTOR, SmtpSettings, SmtpSink
from connectors.smtp.compose import ReplyRefused, parse_address, subject_with_reference
from tests.servers.dovecot import free_port
from tests.servers.smtp import (
    PASSWORD,
    USERNAME,
    SmtpServer,
    make_certificate,
    running_smtp,
    server_context,
    silent_server,
)

FROM = "support@crmbot.example"
BODY = (
    "Bonjour Chloé,\n\n"
    "Nous avons bien reçu votre demande de résiliation ; elle sera traitée sous 48 h.\n"
    "À très bientôt — l'équipe Service client\n"
)


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    """An SMTP server that requires AUTH on a plain loopback connection."""
    with running_smtp() as started:
        yield started


def make_settings(port: int, **overrides: Any) -> SmtpSettings:
    """Settings for a sink talking plain SMTP to 127.0.0.1:`port`."""
    raw: dict[str, Any] = {
        "type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "security": "plain",
        "username": USERNAME,
        "password": PASSWORD,
        "from_address": FROM,
        "from_name": "Service client Énergie",
        "timeout_seconds": 5,
        **overrides,
    }
    return SmtpSettings.model_validate(raw)


def reply(outbox_id: int, to: str = "chloe@client.example", **payload: Any) -> SinkAction:
    """A send_reply action as the dispatcher builds it."""
    body = {
        "to": to,
        "subject": "Re: Votre demande de résiliation",
        "body": BODY,
        "language": "fr",
        "in_reply_to": "orig-42@client.example",
        "references": ["first-1@client.example"],
        "target": {},
        "request_id": 7,
        **payload,
    }
    return SinkAction(
        outbox_id=outbox_id,
        idempotency_key=f"CB-12:ack-{outbox_id}:k",
        action="send_reply",
        target={},
        payload=body,
        case_reference="CB-12",
    )


def test_reply_arrives_threaded_marked_as_auto_reply_with_reference_and_utf8_body(
    server: SmtpServer,
) -> None:
    sink = SmtpSink("mail", make_settings(server.port))

    [result] = sink.perform([reply(1)])

    assert result.status == "done", result.detail
    [mail] = server.messages
    assert mail.mail_from == FROM
    assert mail.rcpt_tos == ["chloe@client.example"]
    assert mail.login == USERNAME
    msg = mail.message()
    assert msg["From"].addresses[0].display_name == "Service client Énergie"
    assert msg["From"].addresses[0].addr_spec == FROM
    assert msg["To"] == "chloe@client.example"
    assert msg["Subject"] == "Re: [#CB-12] Votre demande de résiliation"
    assert msg["In-Reply-To"] == "<orig-42@client.example>"
    assert msg["References"] == "<first-1@client.example> <orig-42@client.example>"
    assert msg["Message-ID"] == f"<{result.detail['message_id']}>"
    assert result.detail["message_id"].endswith("@crmbot.example")
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Precedence"] is None
    assert msg["Date"] is not None
    assert msg["Content-Language"] == "fr"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg.get_content().replace("\r\n", "\n") == BODY
    assert mail.data.isascii()  # 7-bit clean on the wire: any relay can carry it


def test_two_actions_in_one_call_both_arrive(server: SmtpServer) -> None:
    sink = SmtpSink("mail", make_settings(server.port))

    [*results] = sink.perform([reply(1, to="a@client.example"), reply(2, to="b@client.example")])

    assert [r.status for r in results] == ["done", "done"]
    assert [m.rcpt_tos for m in server.messages] == [["a@client.example"], ["b@client.example"]]
    assert results[0].detail["message_id"] != results[1].detail["message_id"]


def test_refused_recipient_is_skipped_with_the_server_reply_and_the_other_is_delivered(
    server: SmtpServer,
) -> None:
    server.refuse_recipient("ghost@client.example", "550 5.1.1 <ghost@client.example>: unknown")
    sink = SmtpSink("mail", make_settings(server.port))

    gone, ok = sink.perform([reply(1, to="ghost@client.example"), reply(2)])

    assert gone.status == "skipped"
    assert "550 5.1.1" in gone.detail["why"] and "unknown" in gone.detail["why"]
    assert ok.status == "done"
    assert [m.rcpt_tos for m in server.messages] == [["chloe@client.example"]]


def test_temporary_recipient_refusal_is_retried_later_not_skipped(server: SmtpServer) -> None:
    server.refuse_recipient("grey@client.example", "450 4.2.0 Greylisted, come back later")
    sink = SmtpSink("mail", make_settings(server.port))

    later, ok = sink.perform([reply(1, to="grey@client.example"), reply(2)])

    assert later.status == "failed" and "450" in later.detail["why"]
    assert ok.status == "done"


def test_content_refused_for_good_is_skipped(server: SmtpServer) -> None:
    server.refuse_data("554 5.7.1 Message rejected as spam")
    sink = SmtpSink("mail", make_settings(server.port))

    [result] = sink.perform([reply(1)])

    assert result.status == "skipped" and "554 5.7.1" in result.detail["why"]
    assert server.messages == []


def test_connection_lost_after_one_sent_returns_it_done_the_next_failed_the_rest_retry(
    server: SmtpServer,
) -> None:
    server.refuse_data("421 4.3.2 Service shutting down", after=1)
    sink = SmtpSink("mail", make_settings(server.port))

    [*results] = sink.perform([reply(1), reply(2), reply(3)])

    assert [r.status for r in results] == ["done", "failed", "retry"]
    assert len(server.messages) == 1


def test_connection_lost_before_anything_was_sent_raises_retriable(server: SmtpServer) -> None:
    server.refuse_data("421 4.3.2 Service shutting down")
    sink = SmtpSink("mail", make_settings(server.port))

    with pytest.raises(RetriableError, match="421"):
        list(sink.perform([reply(1), reply(2)]))


def test_sender_refused_for_good_is_fatal(server: SmtpServer) -> None:
    server.refuse_mail("553 5.7.1 Sender address not allowed for this login")
    sink = SmtpSink("mail", make_settings(server.port))

    with pytest.raises(FatalError, match="553"):
        list(sink.perform([reply(1)]))


def test_server_down_raises_retriable_error() -> None:
    sink = SmtpSink("mail", make_settings(free_port()))

    with pytest.raises(RetriableError, match="cannot be reached"):
        list(sink.perform([reply(1)]))


def test_server_that_never_answers_times_out_as_retriable() -> None:
    with silent_server() as port:
        sink = SmtpSink("mail", make_settings(port, timeout_seconds=0.5))
        with pytest.raises(RetriableError, match="did not answer"):
            list(sink.perform([reply(1)]))


def test_bad_password_raises_auth_error_and_the_password_appears_nowhere(
    server: SmtpServer,
) -> None:
    wrong = "Wr0ng-Secret-Value"
    sink = SmtpSink("mail", make_settings(server.port, password=wrong))

    with structlog.testing.capture_logs() as logs, pytest.raises(AuthError) as raised:
        list(sink.perform([reply(1)]))

    text = str(raised.value) + repr(raised.value) + repr(logs)
    assert "535" in str(raised.value)
    for form in (wrong, base64.b64encode(f"\0{USERNAME}\0{wrong}".encode()).decode()):
        assert form not in text
    assert server.messages == []


def test_password_never_reaches_logs_or_results(server: SmtpServer) -> None:
    sink = SmtpSink("mail", make_settings(server.port))
    server.refuse_recipient("ghost@client.example")

    with structlog.testing.capture_logs() as logs:
        [*results] = sink.perform([reply(1), reply(2, to="ghost@client.example")])

    assert PASSWORD not in repr(logs) + repr(results) + repr(make_settings(server.port))


@pytest.mark.parametrize(
    "address",
    [
        "MAILER-DAEMON@client.example",
        "postmaster@client.example",
        "no-reply@client.example",
        "noreply+invoices@client.example",
        "ne-pas-repondre@banque.example",
        "Ne.Pas.Repondre@banque.example",
        "do_not_reply@client.example",
        "bounces+12345-chloe=client.example@lists.example",
        "bounce-4471@mailer.example",
        FROM,
        "SUPPORT@CRMBOT.EXAMPLE",
        "help@crmbot.example",  # the configured Reply-To
    ],
)
def test_automated_or_own_recipient_is_refused_without_sending(address: str) -> None:
    # Nothing listens on this port: a send attempt would raise RetriableError.
    sink = SmtpSink("mail", make_settings(free_port(), reply_to="help@crmbot.example"))

    [result] = sink.perform([reply(1, to=address)])

    assert result.status == "skipped"
    assert result.detail["code"] in {"automated_recipient", "own_address"}


@pytest.mark.parametrize(
    "payload",
    [
        {"subject": "Votre demande\r\nBcc: victim@elsewhere.example"},
        {"subject": "Votre demande\nX-Injected: yes"},
        {"to": "chloe@client.example\r\nBcc: victim@elsewhere.example"},
        {"in_reply_to": "orig@client.example>\r\nBcc: victim@elsewhere.example"},
        {"references": ["a@b.example", "c@d.example\nBcc: victim@elsewhere.example"]},
    ],
)
def test_header_injection_is_refused_with_a_clear_reason(payload: dict[str, Any]) -> None:
    sink = SmtpSink("mail", make_settings(free_port()))

    [result] = sink.perform([reply(1, **payload)])

    assert result.status == "skipped"
    assert result.detail["code"] == "header_injection"
    assert "CR/LF" in result.detail["why"]


def test_invalid_or_multiple_recipients_and_missing_body_are_skipped() -> None:
    sink = SmtpSink("mail", make_settings(free_port()))
    actions = [
        reply(1, to="not-an-address"),
        reply(2, to="a@client.example, b@client.example"),
        reply(3, body="  "),
        SinkAction(4, "CB-1:x:y", "add_note", {}, {"text": "note"}, "CB-1"),
    ]

    [*results] = sink.perform(actions)

    assert [r.status for r in results] == ["skipped"] * 4
    assert [r.detail["code"] for r in results] == [
        "invalid_address",
        "invalid_address",
        "invalid_payload",
        "unsupported_action",
    ]


def test_message_id_is_the_same_for_the_same_idempotency_key(server: SmtpServer) -> None:
    sink = SmtpSink("mail", make_settings(server.port))

    [first] = sink.perform([reply(1)])
    [again] = sink.perform([reply(1)])
    [other] = sink.perform([reply(2)])

    ids = [m.message()["Message-ID"] for m in server.messages]
    assert ids[0] == ids[1] == f"<{first.detail['message_id']}>"
    assert again.detail["message_id"] == first.detail["message_id"]
    assert other.detail["message_id"] != first.detail["message_id"]


def test_subject_keeps_an_existing_reference_and_the_prefix_can_be_turned_off(
    server: SmtpServer,
) -> None:
    with_ref = SmtpSink("mail", make_settings(server.port))
    without = SmtpSink("mail", make_settings(server.port, subject_prefix_with_reference=False))

    list(with_ref.perform([reply(1, subject="Re: [#CB-12] Votre demande")]))
    list(without.perform([reply(2, subject="Votre demande")]))

    subjects = [m.message()["Subject"] for m in server.messages]
    assert subjects == ["Re: [#CB-12] Votre demande", "Votre demande"]


def test_rate_limit_waits_within_its_budget_then_defers_the_rest(server: SmtpServer) -> None:
    clock = FakeClock()
    sink = SmtpSink("mail", make_settings(server.port, max_per_minute=2), clock=clock)

    [*results] = sink.perform([reply(1), reply(2), reply(3)])

    assert [r.status for r in results] == ["done", "done", "retry"]
    assert results[2].detail["retry_after"] > 0
    assert len(server.messages) == 2
    assert 0 < sum(clock.sleeps) <= 60


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is missing: apt-get install openssl")
    return make_certificate(tmp_path_factory.mktemp("smtp-tls"))


def _trusting(cert: Path) -> ssl.SSLContext:
    """A client context that trusts the test certificate only."""
    return ssl.create_default_context(cafile=str(cert))


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_modes_deliver_when_the_certificate_is_trusted(
    certificate: tuple[Path, Path], security: str
) -> None:
    cert, key = certificate
    tls = server_context(cert, key)
    with running_smtp(tls_context=tls, implicit_tls=security == "tls") as tls_server:
        settings = make_settings(tls_server.port, security=security)
        sink = SmtpSink("mail", settings, ssl_context=_trusting(cert))

        [result] = sink.perform([reply(1)])

    assert result.status == "done", result.detail
    assert [m.login for m in tls_server.messages] == [USERNAME]


def test_untrusted_certificate_is_fatal(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    with running_smtp(tls_context=server_context(cert, key)) as tls_server:
        sink = SmtpSink("mail", make_settings(tls_server.port, security="starttls"))
        with pytest.raises(FatalError, match="certificate"):
            list(sink.perform([reply(1)]))


def test_starttls_required_but_not_offered_is_fatal(server: SmtpServer) -> None:
    sink = SmtpSink("mail", make_settings(server.port, security="starttls"))

    with pytest.raises(FatalError, match="STARTTLS"):
        list(sink.perform([reply(1)]))


def test_settings_refuse_plain_to_a_remote_host_and_half_credentials() -> None:
    with pytest.raises(ValidationError, match="only allowed for a loopback host"):
        make_settings(25, host="smtp.example.com")
    with pytest.raises(ValidationError, match="both username and password"):
        make_settings(25, password=None)
    with pytest.raises(ValidationError, match="not a valid email address"):
        make_settings(25, from_address="support at example")
    remote = {"type": "smtp", "host": "smtp.example.com", "from_address": FROM}
    assert SmtpSettings.model_validate(remote).effective_port == 587
    assert SmtpSettings.model_validate({**remote, "security": "tls"}).effective_port == 465


def test_registry_builds_the_sink_from_raw_settings(server: SmtpServer) -> None:
    raw = make_settings(server.port).model_dump(mode="json")
    raw["password"] = PASSWORD

    sink, settings = build_sink("replies", raw)

    assert CONNECTOR.make_sink is not None and "sink" in CONNECTOR.capabilities
    assert isinstance(sink, SmtpSink) and isinstance(settings, SmtpSettings)
    assert "logged in as" in sink.check()


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


@given(subject=_TEXT, number=st.integers(min_value=1, max_value=10**6))
def test_reference_prefix_is_added_once_idempotently_and_threading_finds_it(
    subject: str, number: int
) -> None:
    reference = f"CB-{number}"
    once = subject_with_reference(subject, reference)
    assert subject_with_reference(once, reference) == once
    assert reference in reference_pattern("CB").findall(once.upper())
    assert "\r" not in once and "\n" not in once


@given(value=_TEXT)
def test_parse_address_yields_one_ascii_address_or_refuses(value: str) -> None:
    try:
        address = parse_address(value)
    except ReplyRefused:
        return
    local, _, domain = address.rpartition("@")
    assert local and "." in domain
    assert address.isascii()
    assert "\r" not in address and "\n" not in address
    assert parse_address(address) == address


def test_dispatcher_sends_each_outbox_row_once_and_puts_temporary_refusals_back(
    server: SmtpServer, tmp_path: Path
) -> None:
    from bot.dispatcher import Dispatcher
    from bot.store import open_store
    from bot.store import outbox as outbox_store

    server.refuse_recipient("ghost@client.example")
    server.refuse_recipient("grey@client.example", "450 4.2.0 Greylisted")
    store = open_store(f"sqlite:///{tmp_path / 'crmbot.db'}")
    try:
        with store.begin() as conn:
            for name in ("chloe", "ghost", "grey"):
                outbox_store.enqueue(
                    conn,
                    idempotency_key=f"CB-12:ack:{name}",
                    sink="mail",
                    action="send_reply",
                    payload={
                        **reply(0, to=f"{name}@client.example").payload,
                        "case_reference": "CB-12",  # as the outbox stage records it
                    },
                    case_id=None,
                )
        dispatcher = Dispatcher(store, {"mail": SmtpSink("mail", make_settings(server.port))}, "t")

        dispatcher.run_once()
        dispatcher.run_once()  # nothing due again: the greylisted row waits for its backoff

        with store.begin() as conn:
            assert outbox_store.counts(conn) == {"done": 1, "skipped": 1, "pending": 1}
        [mail] = server.messages
        assert mail.message()["Subject"] == "Re: [#CB-12] Votre demande de résiliation"
    finally:
        store.dispose()
