"""Mail parsing: raw bytes to a ParsedEmail (headers, clean text, language, auto-reply flag)."""

from __future__ import annotations

from bot.mail.autoreply import detect_auto_reply
from bot.mail.language import detect_language
from bot.mail.parse import ParsedEmail, parse_email
from bot.mail.text import html_to_text, strip_quotes_and_signature

__all__ = [
    "ParsedEmail",
    "detect_auto_reply",
    "detect_language",
    "html_to_text",
    "parse_email",
    "strip_quotes_and_signature",
]
