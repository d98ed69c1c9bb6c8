"""Page iterators (cursor, offset, link) that refuse to go round in circles.

A vendor bug that hands back a cursor, a page or a link already seen would make a poll loop
forever; here it raises PaginationLoop, a RetriableError: nothing past the last committed
cursor is lost, and the runtime logs the outage once and tries again later.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import TypeVar

from bot.errors import RetriableError

T = TypeVar("T")


class PaginationLoop(RetriableError):
    """The API handed back a page token, page or link it had already given."""


class LoopGuard:
    """Remembers page tokens; `see()` raises PaginationLoop on the second sighting of one."""

    def __init__(self, connector: str, what: str = "cursor") -> None:
        self.connector = connector
        self.what = what
        self._seen: set[Hashable] = set()

    def see(self, token: Hashable) -> None:
        """Record `token`, or raise if it was already recorded."""
        if token in self._seen:
            raise PaginationLoop(
                f"{self.connector}: pagination loop, the API returned the same {self.what} "
                f"twice ({str(token)[:80]!r}); stopping this poll"
            )
        self._seen.add(token)


def paginate_cursor(
    fetch: Callable[[str | None], tuple[Sequence[T], str | None]],
    *,
    connector: str,
    start: str | None = None,
) -> Iterator[Sequence[T]]:
    """Yield pages from `fetch(token) -> (items, next_token)` until next_token is empty."""
    guard = LoopGuard(connector, "page cursor")
    token = start
    if token is not None:
        guard.see(token)
    while True:
        items, next_token = fetch(token)
        yield items
        if not next_token:
            return
        guard.see(next_token)
        token = next_token


def paginate_offset(
    fetch: Callable[[int, int], Sequence[T]],
    *,
    connector: str,
    page_size: int,
    key: Callable[[T], Hashable],
    start: int = 0,
) -> Iterator[Sequence[T]]:
    """Yield pages from `fetch(offset, limit)` until a short page; a page seen before is a loop."""
    guard = LoopGuard(connector, "page")
    offset = start
    while True:
        items = fetch(offset, page_size)
        if items:
            guard.see(tuple(key(item) for item in items))
        yield items
        if len(items) < page_size:
            return
        offset += len(items)


def paginate_links(
    fetch: Callable[[str], tuple[Sequence[T], str | None]],
    first_url: str,
    *,
    connector: str,
) -> Iterator[Sequence[T]]:
    """Yield pages from `fetch(url) -> (items, next_url)` following next links until none."""
    guard = LoopGuard(connector, "next link")
    url: str | None = first_url
    while url:
        guard.see(url)
        items, url = fetch(url)
        yield items
