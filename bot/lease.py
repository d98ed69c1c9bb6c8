"""A heartbeat that keeps a source's lease while a long poll runs (PostgreSQL replicas).

The lease is taken for `lease_seconds`; the heartbeat renews it every third of that, on its own
connection, so that a poll longer than the lease is not taken over by another replica, and a
replica that dies stops renewing: another one takes the source once the lease runs out.
"""

from __future__ import annotations

import threading
from typing import Self

import structlog

from bot.store import Store
from bot.store import cursors as cursor_store

log = structlog.get_logger(__name__)


class LeaseHeartbeat:
    """Renews `owner`'s lease on `source` until stopped; `lost` when another replica took it."""

    def __init__(self, store: Store, source: str, owner: str, lease_seconds: float) -> None:
        self.store = store
        self.source = source
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.every = max(0.05, lease_seconds / 3)
        self.lost = False
        self.renewals = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease:{source}", daemon=True)

    def start(self) -> Self:
        """Start renewing in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop renewing (the poll is over); the lease itself is released by the caller."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.every + 5)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                with self.store.begin() as conn:
                    renewed = cursor_store.acquire_lease(
                        conn, self.source, self.owner, self.lease_seconds
                    )
            except Exception as exc:  # the store is down: the poll's own writes will tell
                log.warning("lease_renewal_failed", source=self.source, error=str(exc))
                continue
            if not renewed:
                self.lost = True
                log.warning("lease_lost", source=self.source, owner=self.owner)
                return
            self.renewals += 1
