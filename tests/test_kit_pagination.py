"""Pagination helpers: they walk every page and stop with a clear error on a loop."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import RetriableError
from connectors.kit import PaginationLoop, paginate_cursor, paginate_links, paginate_offset


@given(st.lists(st.integers(), max_size=60), st.integers(min_value=1, max_value=10))
def test_cursor_pagination_yields_every_item_once(items: list[int], size: int) -> None:
    def fetch(token: str | None) -> tuple[list[int], str | None]:
        start = int(token or 0)
        nxt = start + size
        return items[start:nxt], (str(nxt) if nxt < len(items) else None)

    pages = list(paginate_cursor(fetch, connector="acme"))
    assert [x for p in pages for x in p] == items


def test_repeated_cursor_is_a_pagination_loop() -> None:
    pages = iter([([1], "a"), ([2], "b"), ([3], "a")])
    with pytest.raises(PaginationLoop) as caught:
        list(paginate_cursor(lambda _token: next(pages), connector="acme"))
    assert "acme" in str(caught.value)
    assert isinstance(caught.value, RetriableError)


def test_repeated_offset_page_is_a_pagination_loop() -> None:
    with pytest.raises(PaginationLoop):
        list(
            paginate_offset(
                lambda _o, _l: [{"id": 1}, {"id": 2}],
                connector="acme",
                page_size=2,
                key=lambda r: r["id"],
            )
        )


def test_offset_pagination_stops_on_a_short_page() -> None:
    data = list(range(7))
    pages = list(
        paginate_offset(lambda o, n: data[o : o + n], connector="a", page_size=3, key=lambda x: x)
    )
    assert [x for p in pages for x in p] == data


def test_repeated_next_link_is_a_pagination_loop() -> None:
    links = {"/p1": ([1], "/p2"), "/p2": ([2], "/p1")}
    with pytest.raises(PaginationLoop):
        list(paginate_links(lambda url: links[url], "/p1", connector="acme"))
