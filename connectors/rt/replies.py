"""Request Tracker: a ticket's last public agent reply, from its history.

GET /REST/2.0/ticket/{id}/history newest first (`orderby=id`, `order=DESC`, paged with
`page`/`per_page`, `next_page`), fields Type, Creator, Created. A reply counts when the
transaction is a `Correspond` (a comment is private) and its creator is a privileged user
(GET /user/{name}: `Privileged` = 1; a requestor's own mail is unprivileged). Its text is
the first text/plain attachment of that transaction (GET /transaction/{id}/attachments).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from connectors.kit.mapping import parse_timestamp
from connectors.kit.replies import MAX_ITEMS, PublicReply

PER_PAGE = 50


def _privileged(http: Any, name: str, cache: dict[str, bool]) -> bool:
    if name not in cache:
        user = http.get(f"/user/{quote(name, safe='@')}") or {}
        cache[name] = str(user.get("Privileged")) == "1"
    return cache[name]


def _text(http: Any, transaction_id: str) -> str:
    data = http.get(
        f"/transaction/{int(transaction_id)}/attachments",
        params={"fields": "Content,ContentType", "per_page": "20"},
    )
    for attachment in (data or {}).get("items") or []:
        kind = str(attachment.get("ContentType") or "")
        content = attachment.get("Content")
        if kind.startswith("text/plain") and isinstance(content, str) and content.strip():
            return content
    return ""


def last_public_reply(http: Any, ticket_id: str) -> PublicReply | None:
    """The newest Correspond transaction by a privileged user on ticket `ticket_id`, or None."""
    privileged: dict[str, bool] = {}
    page, seen = 1, 0
    while seen < MAX_ITEMS:
        data = (
            http.get(
                f"/ticket/{int(ticket_id)}/history",
                params={
                    "fields": "Type,Creator,Created",
                    "orderby": "id",
                    "order": "DESC",
                    "per_page": str(PER_PAGE),
                    "page": str(page),
                },
            )
            or {}
        )
        items = [t for t in data.get("items") or [] if isinstance(t, dict)]
        for item in items:
            creator = item.get("Creator") or {}
            name = str(creator.get("id") or "") if isinstance(creator, dict) else str(creator)
            if item.get("Type") != "Correspond" or not name:
                continue
            if not _privileged(http, name, privileged):
                continue
            text = _text(http, str(item.get("id")))
            if text.strip():
                return PublicReply(parse_timestamp(item.get("Created")), text, name)
        seen += len(items)
        if not items or not data.get("next_page") or page >= int(data.get("pages") or page):
            return None
        page += 1
    return None
