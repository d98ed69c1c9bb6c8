"""Log lines are JSON with a stable event name, and secrets never reach them."""

from __future__ import annotations

import io
import json

import structlog

from bot.logging import configure_logging, redact_text, register_secret


def test_json_lines_carry_the_event_name_and_redact_secrets() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    register_secret("correct-horse-battery")
    structlog.get_logger("t").info(
        "imap_login_failed",
        password="hunter2",
        error="login failed for bob with correct-horse-battery",
        url="postgresql://bob:pgpass@db/crm",
        headers={"Authorization": "Bearer abc.def"},
    )
    line = json.loads(stream.getvalue().strip())
    assert line["event"] == "imap_login_failed" and line["level"] == "info"
    text = json.dumps(line)
    for secret in ("hunter2", "correct-horse-battery", "pgpass", "abc.def"):
        assert secret not in text


def test_key_value_secrets_in_free_text_are_masked() -> None:
    assert "tok123" not in redact_text("request failed: token=tok123 status=401")
    assert "pw9" not in redact_text("IMAP said: password: pw9")
    assert redact_text("nothing secret here") == "nothing secret here"


def test_a_known_secret_that_is_also_a_key_name_does_not_unmask_its_neighbour() -> None:
    from bot import logging as crmbot_logging

    added = "password" not in crmbot_logging._known_secrets
    crmbot_logging.register_secret("password")  # RT's default password, as a test RT registers
    try:
        assert "pw9" not in redact_text("IMAP said: password: pw9")
    finally:
        if added:
            crmbot_logging._known_secrets.discard("password")
