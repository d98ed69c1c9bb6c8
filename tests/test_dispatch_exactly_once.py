"""Acknowledgements reach the customer exactly once through kills, store and SMTP outages."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.dispatch_run import run_with_kills
from tests.servers.smtp import running_smtp


@pytest.mark.slow
def test_kill_9_during_dispatch_repeats_at_most_the_message_in_flight(tmp_path: Path) -> None:
    kills = 5
    with running_smtp() as server:
        figures = run_with_kills(tmp_path, server, messages=150, kills=kills, seed=8)
    print(figures.line())
    assert figures.kills >= 3, "most kills must land while the worker runs"
    assert figures.acks == 150
    assert figures.lost == 0 and figures.dead == 0
    assert figures.unique == 150
    assert figures.duplicates <= figures.kills
