"""IMAP IDLE (RFC 2177) on a selected folder: block until the server signals new mail.

Only the waiting: the source selects the folder first and decides what a signal means for
its cursor. IDLE is left and entered again every `renew_seconds` (servers may end an IDLE
after 30 minutes), and the wait checks `wake` every STOP_SLICE_SECONDS so that a stop or a
wake-up from the runtime ends it at once.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError

log = structlog.get_logger(__name__)

STOP_SLICE_SECONDS = 0.2
# Untagged responses that say the folder has more mail than before.
_NEW_MAIL = frozenset({b"EXISTS", b"RECENT"})


def wait_on_idle(
    client: IMAPClient,
    wake: threading.Event,
    *,
    renew_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    **fields: Any,
) -> bool:
    """IDLE on `client`'s selected folder until new mail is signalled (True) or `wake` (False).

    Leaves the client out of IDLE when it returns. A lost connection raises (OSError or
    IMAPClientAbortError) with the client still in IDLE: the caller must drop it.
    """
    renewals = 0
    while True:
        client.idle()
        if renewals:
            log.debug("imap_idle_renewed", renewals=renewals, **fields)
        else:
            log.debug("imap_idle_started", renew_seconds=renew_seconds, **fields)
        signalled = _watch(client, wake, deadline=clock() + renew_seconds, clock=clock)
        # DONE also answers (and hands back) whatever came since the last check; a dead
        # connection fails here, which is how an EOF seen by `_watch` becomes an error.
        _text, pending = client.idle_done()
        if signalled or signals_new_mail(pending):
            log.info("imap_idle_woken", reason="idle_signal", **fields)
            return True
        if wake.is_set():
            return False
        renewals += 1


def signals_new_mail(responses: list[Any]) -> bool:
    """True when IDLE responses announce new mail (`* n EXISTS`, `* n RECENT`)."""
    for response in responses:
        if isinstance(response, tuple) and len(response) >= 2 and response[1] in _NEW_MAIL:
            return True
    return False


def _watch(
    client: IMAPClient, wake: threading.Event, *, deadline: float, clock: Callable[[], float]
) -> bool:
    """Read IDLE responses until new mail (True), `wake`, the deadline, or a silent socket."""
    sock = client.socket()
    while not wake.is_set():
        left = deadline - clock()
        if left <= 0:
            return False
        if not _readable(sock, min(STOP_SLICE_SECONDS, left)):
            continue
        responses = client.idle_check(timeout=0)
        if not responses:
            # Readable yet nothing parsed: the server closed the connection (EOF) or sent
            # half a line. Either way, end this IDLE: DONE tells which.
            return False
        for response in responses:
            if isinstance(response, tuple) and response[:1] == (b"BYE",):
                raise IMAPClientAbortError(f"the server ended the IDLE: {response!r}")
        if signals_new_mail(responses):
            return True
    return False


def _readable(sock: socket.socket, timeout: float) -> bool:
    """True when `sock` has something to read (data or EOF) within `timeout` seconds."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
        return bool(poller.poll(timeout * 1000))
    return bool(select.select([sock], [], [], timeout)[0])
