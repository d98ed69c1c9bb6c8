"""crmbot's tags on an RT ticket: one free-form custom field, space-separated and sorted.

Request Tracker has no tags; `tags_custom_field` (default "crmbot_tags") names a ticket
custom field that holds them. The sink reads the field, merges crmbot's add_tag/remove_tag
into what is there (an agent's own tags are kept) and writes it back under If-Match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from connectors.rt.settings import RtSettings

TAG_ACTIONS = frozenset({"add_tag", "remove_tag"})
SEPARATORS = re.compile(r"[\s,;]+")
NO_TAGS = "Request Tracker has no tags: set tags_custom_field to a custom field that holds them"


def missing_field(name: str, where: str = "is not on this ticket") -> str:
    """Why tags cannot be kept: the tags custom field is missing, and how to fix it."""
    return (
        f"custom field {name!r} {where}: create a custom field "
        f"{name} applied to the queue, or set tags_custom_field: null"
    )


def bad_tag(tag: str) -> str | None:
    """Why `tag` cannot live in a space-separated field (None when it can)."""
    if SEPARATORS.search(tag.strip()) or not tag.strip():
        return f"tag {tag!r} has a space, comma or semicolon: RT keeps tags in one field"
    return None


def parse_tags(value: Any) -> list[str]:
    """The tags in a field's value: separated by spaces, commas or semicolons."""
    return [t for t in SEPARATORS.split(str(value or "")) if t]


def merge_tags(current: Any, operations: Iterable[tuple[str, str]]) -> str:
    """The field's new value: current tags with each (add_tag|remove_tag, tag) applied in order."""
    tags = set(parse_tags(current))
    for kind, tag in operations:
        if kind == "add_tag":
            tags.add(tag.strip())
        else:
            tags.discard(tag.strip())
    return " ".join(sorted(tags))


def field_value(ticket: dict[str, Any], name: str) -> tuple[bool, str | None]:
    """(whether the ticket has custom field `name`, its value)."""
    for entry in ticket.get("CustomFields") or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            values = entry.get("values") or []
            return True, (str(values[0]) if values else None)
    return False, None


def actions_for(base: frozenset[str], conf: RtSettings) -> frozenset[str]:
    """What an RT sink with these settings performs: tags only with a tags custom field."""
    return base | TAG_ACTIONS if conf.tags_custom_field else base
