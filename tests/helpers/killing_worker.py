"""`crmbot` whose parser kills its own process (SIGKILL) on a message holding a marker.

Test-only: it stands for a mail that gets the worker OOM-killed or crashes the interpreter.
Run: python3 -m tests.helpers.killing_worker run --once --settings FILE
(the marker comes from CRMBOT_TEST_KILL_MARKER).
"""

from __future__ import annotations

import importlib
import os
import signal
from typing import Any

from bot.cli import main

normalise = importlib.import_module("bot.stages.normalise")  # not the function of that name
_MARKER = os.environ["CRMBOT_TEST_KILL_MARKER"].encode()
_parse = normalise.parse_email


def _parse_or_die(raw: bytes, **kwargs: Any) -> Any:
    if _MARKER in raw:
        os.kill(os.getpid(), signal.SIGKILL)
    return _parse(raw, **kwargs)


normalise.parse_email = _parse_or_die  # type: ignore[assignment]

if __name__ == "__main__":
    main()
