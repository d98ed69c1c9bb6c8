"""Vendor timestamps: what no calendar can hold is malformed input, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.errors import MalformedInput, SkippableError
from connectors.kit.mapping import parse_timestamp


@pytest.mark.parametrize(
    "value", [-9_223_372_036_854_775_809, -67_768_040_609_740_801, 10**30, float("inf")]
)
def test_a_timestamp_beyond_any_calendar_date_is_malformed_input(value: float) -> None:
    with pytest.raises(MalformedInput):
        parse_timestamp(value)
    assert issubclass(MalformedInput, SkippableError)  # the item is quarantined, not retried


@pytest.mark.parametrize("value", ["²", "١٢٣", "12³"])
def test_digits_that_are_not_ascii_are_malformed_input_not_a_crash(value: str) -> None:
    with pytest.raises(MalformedInput):
        parse_timestamp(value)


@given(st.one_of(st.integers(), st.floats(), st.text(max_size=40)))
@example("²")  # isdigit() says yes, int() says no: found by this test
def test_any_value_parses_or_is_malformed_input(value: object) -> None:
    try:
        parsed = parse_timestamp(value)
    except MalformedInput:
        return
    assert parsed.tzinfo is not None
