"""A loopback TCP fault proxy: put it between the worker and any server (IMAP, SMTP,
PostgreSQL, the CRM fakes) and switch faults on and off while the worker runs.

Modes, switchable at any time (they apply to connections accepted and bytes relayed after
the switch):
- `pass`: forward bytes both ways (plus `latency` seconds per chunk);
- `reset`: close every new and open connection with a TCP RST (SO_LINGER 0);
- `blackhole`: accept connections and never answer (nothing forwarded either way);
- a byte cut per direction (`cut_upstream_after` / `cut_downstream_after`): forward that
  many bytes of a connection in that direction, then reset it.

HTTP-level faults (429 with Retry-After, 5xx) belong to the CRM fakes themselves
(`FakeHubSpot.fail_with_429`); Request Tracker's HTTP fault proxy is `tests.servers.rt.FaultProxy`.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class ProxyCounters:
    """What the proxy saw: connections accepted, reset by it, held in a black hole."""

    accepted: int = 0
    reset: int = 0
    blackholed: int = 0
    cut: int = 0


@dataclass
class _Faults:
    mode: str = "pass"  # pass | reset | blackhole
    latency: float = 0.0
    cut_upstream_after: int | None = None
    cut_downstream_after: int | None = None


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN (the peer sees ECONNRESET)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


@dataclass(eq=False)
class _Pair:
    client: socket.socket
    upstream: socket.socket | None = None
    sent_up: int = 0
    sent_down: int = 0
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def kill(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        _reset(self.client)
        if self.upstream is not None:
            _reset(self.upstream)


class FaultProxy:
    """Listens on 127.0.0.1:`port` and forwards to `upstream_host:upstream_port`."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._faults = _Faults()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._pairs: set[_Pair] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.counters = ProxyCounters()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True, name="fault-proxy")

    # -- switches ---------------------------------------------------------------------------

    def passthrough(self, latency: float = 0.0) -> None:
        """Forward everything again (optionally with `latency` seconds per chunk)."""
        self._faults = _Faults(mode="pass", latency=latency)

    def reset(self) -> None:
        """Reset every open connection and every new one until switched back."""
        self._faults = _Faults(mode="reset")
        self.drop_all()

    def blackhole(self) -> None:
        """Accept new connections and never answer; open ones stop relaying."""
        self._faults = _Faults(mode="blackhole")

    def cut(
        self, *, upstream_after: int | None = None, downstream_after: int | None = None
    ) -> None:
        """Reset each connection after that many bytes relayed in that direction."""
        self._faults = _Faults(
            mode="pass", cut_upstream_after=upstream_after, cut_downstream_after=downstream_after
        )

    def drop_all(self) -> None:
        """Reset every connection open now."""
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            pair.kill()
            self.counters.reset += 1

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Start accepting."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and close everything."""
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()
        self.drop_all()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- relaying ---------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            client.settimeout(None)
            self.counters.accepted += 1
            faults = self._faults
            if faults.mode == "reset":
                self.counters.reset += 1
                _reset(client)
                continue
            pair = _Pair(client)
            with self._lock:
                self._pairs.add(pair)
            threading.Thread(target=self._serve, args=(pair,), daemon=True).start()

    def _serve(self, pair: _Pair) -> None:
        try:
            if self._faults.mode == "blackhole":
                self.counters.blackholed += 1
                while not pair.closed and self._faults.mode == "blackhole":
                    if self._stopping.is_set():
                        return
                    time.sleep(0.05)
                # back from the black hole: the client has probably given up; forward anyway
            try:
                pair.upstream = socket.create_connection(self.upstream, timeout=5)
                pair.upstream.settimeout(None)
            except OSError:
                pair.kill()
                return
            self._relay(pair)
        finally:
            pair.kill()
            with self._lock:
                self._pairs.discard(pair)

    def _relay(self, pair: _Pair) -> None:
        assert pair.upstream is not None
        socks = [pair.client, pair.upstream]
        while not pair.closed and not self._stopping.is_set():
            try:
                readable, _, _ = select.select(socks, [], [], 0.1)
            except (OSError, ValueError):
                return
            faults = self._faults
            if faults.mode == "reset":
                return
            if faults.mode == "blackhole":
                continue  # hold the bytes: the peer waits for an answer that never comes
            for sock in readable:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                upward = sock is pair.client
                target = pair.upstream if upward else pair.client
                limit = faults.cut_upstream_after if upward else faults.cut_downstream_after
                done = pair.sent_up if upward else pair.sent_down
                if limit is not None and done + len(data) > limit:
                    data = data[: max(limit - done, 0)]
                    with contextlib.suppress(OSError):
                        target.sendall(data)
                    self.counters.cut += 1
                    return
                if faults.latency:
                    time.sleep(faults.latency)
                try:
                    target.sendall(data)
                except OSError:
                    return
                if upward:
                    pair.sent_up += len(data)
                else:
                    pair.sent_down += len(data)


@contextlib.contextmanager
def fault_proxy(host: str, port: int) -> Iterator[FaultProxy]:
    """A started proxy in front of host:port, stopped afterwards."""
    proxy = FaultProxy(host, port).start()
    try:
        yield proxy
    finally:
        proxy.stop()
