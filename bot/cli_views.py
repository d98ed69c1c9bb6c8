"""How `crmbot cases` and `crmbot show` lay out cases for a person at a terminal (80+ columns)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.status import CaseStatus

WIDE = 140  # from this width on, every column has its own
STATUSES = tuple(str(s) for s in CaseStatus)
PRIORITIES = ("P1", "P2", "P3", "P4")


def console() -> Console:
    """stdout as a console: the terminal's width (or COLUMNS), 160 when piped; no markup."""
    sized = sys.stdout.isatty() or "COLUMNS" in os.environ
    # Customer text such as "[#CB-3]" must print as is: no rich markup on stdout.
    return Console(width=None if sized else 160, markup=False, highlight=False)


def calendar_zone(ruleset: Any) -> tzinfo:
    """The time zone of the rules' default business calendar (UTC when there is none)."""
    try:
        return ruleset._pack.calendars[ruleset.default_calendar].zone
    except (AttributeError, KeyError):
        return ZoneInfo("UTC")


def zone_name(zone: tzinfo) -> str:
    """A zone's IANA name (Europe/Paris), or its abbreviation."""
    return str(getattr(zone, "key", None) or zone.tzname(None) or "UTC")


def when(value: datetime | None, zone: tzinfo, *, seconds: bool = False) -> str:
    """A date-time in the business calendar's zone, '-' for none."""
    if value is None:
        return "-"
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""))


def review_flags(tags: Iterable[str], contacts: dict[int, str] | None = None) -> list[str]:
    """The tags an agent should review, in words with case references.

    possible_repeat:CB-9 -> 'repeat of CB-9?', foreign_reference:CB-3 -> 'quotes CB-3',
    possible_same_contact:3 -> 'same person as <email of contact 3>?'.
    """
    contacts = contacts or {}
    flags = []
    for tag in tags:
        kind, _, value = tag.partition(":")
        if kind == "possible_repeat" and value:
            flags.append(f"repeat of {value}?")
        elif kind == "foreign_reference" and value:
            flags.append(f"quotes {value} (not its contact)")
        elif kind == "possible_same_contact" and value:
            who = contacts.get(int(value)) if value.isdigit() else None
            flags.append(f"same person as {who or 'contact ' + value}?")
        elif kind in {"legal_risk", "blocking", "triage"}:
            flags.append(tag.replace("_", " "))
    return flags


def flagged_contact_ids(rows: Iterable[dict[str, Any]]) -> set[int]:
    """Contact ids named by possible_same_contact:N tags, to show them by e-mail."""
    ids = set()
    for row in rows:
        for tag in row.get("tags") or []:
            kind, _, value = tag.partition(":")
            if kind == "possible_same_contact" and value.isdigit():
                ids.add(int(value))
    return ids


def requests_cell(row: dict[str, Any]) -> str:
    """'3 (+2 f/u)': requests and follow-ups."""
    follow = f" (+{row['follow_up_count']} f/u)" if row.get("follow_up_count") else ""
    return f"{row['request_count']}{follow}"


def cases_table(
    rows: list[dict[str, Any]], zone: tzinfo, width: int, contacts: dict[int, str]
) -> Table:
    """The cases table: one column per field when wide, stacked cells under 140 columns."""
    due = f"SLA due ({zone_name(zone)})"
    if width >= WIDE:
        table = Table("case", "contact", "subject", "category", "prio", due, "req", "status")
        table.add_column("review", min_width=14)
        table.columns[0].no_wrap = True
        table.columns[1].overflow = "fold"
        table.columns[2].overflow = "ellipsis"
        table.columns[2].max_width = 40
        table.columns[2].no_wrap = True
        table.columns[5].no_wrap = True
        for r in rows:
            table.add_row(
                r["reference"],
                r["contact_email"] or "-",
                r["subject"] or "",
                r["category"] or "-",
                r["priority"] or "-",
                when(r["first_response_due"], zone),
                requests_cell(r),
                r["status"],
                "\n".join(review_flags(r["tags"] or [], contacts)) or "-",
            )
        return table
    # Narrow: case + priority, due + status, and subject/contact/flags wrapped in one cell.
    table = Table("case", due, "subject · contact · review", expand=True)
    table.columns[0].no_wrap = True
    table.columns[1].no_wrap = True
    table.columns[2].overflow = "fold"
    for r in rows:
        head = Text(f"{r['reference']}\n{r['priority'] or '-'}")
        timing = Text(f"{when(r['first_response_due'], zone)}\n{r['status']}")
        body = Text(r["subject"] or "", style="bold", overflow="ellipsis")
        body.append(f"\n{r['contact_email'] or '-'} · {r['category'] or '-'} · ")
        body.append(f"{requests_cell(r)} req")
        for flag in review_flags(r["tags"] or [], contacts):
            body.append(f"\n! {flag}")
        table.add_row(head, timing, body)
    return table


def audit_detail(detail: Any) -> str:
    """An audit entry's detail as 'key: value' lines instead of raw JSON."""
    if not isinstance(detail, dict):
        return _plain(detail)
    return "\n".join(f"{key}: {_plain(value)}" for key, value in detail.items())


def _plain(value: Any) -> str:
    """A detail value in words: reasons by their message, lists joined, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(map(str, value)) or "-"
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        texts = [v.get("message") or v.get("message_en") or v.get("code") for v in value]
        if all(texts):
            return "; ".join(map(str, texts))
    if isinstance(value, dict) and all(
        isinstance(v, str | int | float | None) for v in value.values()
    ):
        return ", ".join(f"{k} {v}" for k, v in value.items() if v is not None)
    return json.dumps(value, ensure_ascii=False, default=str)
