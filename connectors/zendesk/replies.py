"""Zendesk: a ticket's last public agent reply, from its comments.

GET /api/v2/tickets/{id}/comments.json, newest first (`sort_order=desc`), cursor-paginated
(`page[size]`, `page[after]`; `meta.has_more`, `meta.after_cursor`), with the authors
sideloaded (`include=users`). A reply counts when the comment is `public` and its author's
`role` is `agent` or `admin` (an end user's own comment, or a private note, does not).
"""

from __future__ import annotations

from typing import Any

from connectors.kit.mapping import parse_timestamp
from connectors.kit.pagination import LoopGuard
from connectors.kit.replies import MAX_ITEMS, PublicReply

PAGE_SIZE = 100
AGENT_ROLES = frozenset({"agent", "admin"})


def _reply(comment: dict[str, Any], users: dict[Any, dict[str, Any]]) -> PublicReply | None:
    if comment.get("public") is not True:
        return None
    author = users.get(comment.get("author_id")) or {}
    if author.get("role") not in AGENT_ROLES:
        return None
    text = comment.get("plain_body") or comment.get("body") or ""
    if not isinstance(text, str) or not text.strip():
        return None
    return PublicReply(parse_timestamp(comment.get("created_at")), text, author.get("name"))


def last_public_reply(http: Any, ticket_id: str) -> PublicReply | None:
    """The newest public comment by an agent on ticket `ticket_id`, or None."""
    params: dict[str, Any] = {"sort_order": "desc", "page[size]": PAGE_SIZE, "include": "users"}
    guard = LoopGuard(str(getattr(http, "connector", "zendesk")), "comments cursor")
    seen = 0
    while seen < MAX_ITEMS:
        data = http.get(f"/api/v2/tickets/{int(ticket_id)}/comments.json", params=params) or {}
        users = {u.get("id"): u for u in data.get("users") or [] if isinstance(u, dict)}
        comments = [c for c in data.get("comments") or [] if isinstance(c, dict)]
        for comment in comments:
            found = _reply(comment, users)
            if found is not None:
                return found
        seen += len(comments)
        meta = data.get("meta") or {}
        after = meta.get("after_cursor")
        if not meta.get("has_more") or not after or not comments:
            return None
        guard.see(after)
        params = {**params, "page[after]": after}
    return None
