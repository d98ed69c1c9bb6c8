"""What the CRM fakes share to call a webhook as their vendor does: signed POSTs, sent from a
background thread, each maybe delayed, lost or duplicated on demand (test control).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

# (url, body) -> the signature headers, computed at sending time as the vendor does
Signer = Callable[[str, bytes], dict[str, str]]


@dataclass
class WebhookSender:
    """POSTs each emitted body to `url`, signed by `sign`, after `delay` seconds."""

    url: str
    sign: Signer
    delay: float = 0.0
    # Joins deliveries due together into one request (HubSpot sends up to 100 events in one
    # array); None: one request per delivery.
    merge: Callable[[list[bytes]], bytes] | None = None
    lose_next: int = 0  # the next n deliveries are lost (never sent)
    duplicate_next: int = 0  # the next n deliveries are sent twice, byte for byte
    statuses: list[int] = field(default_factory=list)  # the receiver's answers, in order
    lost: int = 0
    _queue: queue.Queue[tuple[float, bytes] | None] = field(default_factory=queue.Queue)
    _pending: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _idle: threading.Condition = field(init=False)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._idle = threading.Condition(self._lock)
        self._client = httpx.Client(timeout=10.0)
        self._thread = threading.Thread(target=self._run, name="fake-webhooks", daemon=True)
        self._thread.start()

    def emit(self, body: bytes) -> None:
        """Queue one delivery (lost or duplicated if asked)."""
        with self._lock:
            if self.lose_next > 0:
                self.lose_next -= 1
                self.lost += 1
                return
            copies = 2 if self.duplicate_next > 0 else 1
            self.duplicate_next = max(0, self.duplicate_next - 1)
            self._pending += 1
        self._queue.put((time.monotonic() + self.delay, body))
        if copies == 2:
            with self._lock:
                self._pending += 1
            self._queue.put((-1.0, body))  # marker: resend the previous request as is

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued delivery was answered."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Stop sending."""
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._client.close()

    def _due_now(self, most: int) -> list[bytes]:
        """Queued deliveries already due (not duplicates, not the stop marker), in order."""
        taken: list[bytes] = []
        while len(taken) < most:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None or item[0] < 0 or item[0] > time.monotonic():
                self._requeue_front(item)
                break
            taken.append(item[1])
        return taken

    def _requeue_front(self, item: tuple[float, bytes] | None) -> None:
        with self._queue.mutex:
            self._queue.queue.appendleft(item)
            self._queue.unfinished_tasks += 1
            self._queue.not_empty.notify()

    def _run(self) -> None:
        last: tuple[bytes, dict[str, str]] | None = None
        while True:
            item = self._queue.get()
            if item is None:
                return
            due, body = item
            joined = 1
            if due < 0 and last is not None:
                body, headers = last
            else:
                time.sleep(max(0.0, due - time.monotonic()))
                if self.merge is not None:
                    bodies = [body, *self._due_now(99)]
                    joined = len(bodies)
                    body = self.merge(bodies) if joined > 1 else body
                headers = self.sign(self.url, body)
            last = (body, headers)
            try:
                status = self._client.post(
                    self.url,
                    content=body,
                    headers={"Content-Type": "application/json", **headers},
                ).status_code
            except httpx.HTTPError:
                status = 0
            with self._idle:
                self.statuses.append(status)
                self._pending -= joined
                self._idle.notify_all()
