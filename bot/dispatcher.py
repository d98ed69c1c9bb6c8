"""Perform what the outbox holds, exactly once per idempotency key, as far as the sink allows.

- Rows are claimed a few at a time per sink (`dispatch.batch_size`) under a short lease that
  a heartbeat renews while they are worked on, so a dead holder's rows come back quickly.
- Each row is marked done as soon as its sink reports it performed, before the sink is asked
  for anything more, so a crash repeats at most the effects in flight. Results a sink
  reports together (one batch call's answers, marked `more_ready` but for the last) are
  written in one transaction, not one per row.
- A store outage after an effect does not repeat it: the mark-done is retried, then kept in
  memory and written when the store is back, before anything else is claimed.
- A claim is not an attempt. A sink outage (refused, timeout, 5xx/429, bad credentials) puts
  the rows back with a backoff and no attempt used; only real failed attempts kill a row.
- A sink outage is logged once (`sink_outage`), again when the kind of error changes, and
  its end once (`sink_recovered`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError

from bot.actions import InvalidAction, parse_action
from bot.backoff import BackoffPolicy
from bot.errors import FatalError, RetriableError, SkippableError
from bot.latency import observe_written
from bot.settings import DispatchSettings
from bot.store import Store
from bot.store import outbox as outbox_store
from connectors.base import Sink, SinkAction, SinkResult

log = structlog.get_logger(__name__)

PERFORMED = frozenset({"done", "skipped", "conflict", "refused"})
STORE_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)  # seconds between tries of one store write
_OUTAGE_ERRORS = (RetriableError, FatalError, OSError)


def backoff(failures: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Seconds to wait after `failures` consecutive failures, or what the remote side asked.

    The runtime's one policy (bot/backoff.py), with the dispatch settings' base and cap.
    """
    advice = None if retry_after is None else RetriableError("", retry_after=float(retry_after))
    return BackoffPolicy(base_seconds=base, max_seconds=cap).delay(failures, advice)


def _kind(exc: BaseException) -> str:
    return type(exc).__name__


@dataclass(slots=True)
class _Outage:
    """A sink that is down: since when, with what kind of error, how many tries."""

    kind: str
    failures: int = 1


@dataclass(slots=True)
class _Unsaved:
    """What the store could not take yet: performed results, and claims to give back."""

    performed: list[tuple[dict[str, Any], SinkResult]] = field(default_factory=list)
    claimed: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.performed or self.claimed)


class _StoreDown(Exception):
    """The store refused a write after retries; the dispatch round stops."""


def sink_action(row: dict[str, Any], performs: frozenset[str] | None = None) -> SinkAction:
    """The SinkAction an outbox row describes, its payload validated against the contract.

    Raises InvalidAction when the payload breaks the contract, or when the sink's declared
    action types (`performs`, if known) do not include the row's action.
    """
    if performs is not None and row["action"] not in performs:
        raise InvalidAction(
            f"sink {row['sink']!r} does not perform {row['action']} "
            f"(it performs: {', '.join(sorted(performs)) or 'nothing'})"
        )
    payload = dict(row["payload"] or {})
    spec = parse_action(row["action"], payload)
    return SinkAction(
        outbox_id=row["id"],
        idempotency_key=row["idempotency_key"],
        action=row["action"],
        target=dict(payload.get("target") or {}),
        payload=payload,
        case_reference=payload.get("case_reference"),
        spec=spec,
        first_of_case=bool(row.get("first_of_case")),
        case_ticket=row.get("case_ticket"),
    )


class Dispatcher:
    """Claims outbox rows per sink and hands them to their sink, recording each result."""

    def __init__(
        self,
        store: Store,
        sinks: dict[str, Sink],
        owner: str,
        settings: DispatchSettings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.sinks = sinks
        self.owner = owner
        self.settings = settings or DispatchSettings()
        self._sleep = sleep
        self._down: dict[str, _Outage] = {}
        self._unsaved = _Unsaved()

    # -- one round --------------------------------------------------------------------------

    def run_once(self, limit: int | None = None) -> int:
        """Perform due actions, sink by sink, for up to `round_seconds`; returns how many."""
        if not self._flush():
            return 0
        batch = limit or self.settings.batch_size
        deadline = time.monotonic() + self.settings.round_seconds
        finished = 0
        try:
            self._put_back_unconfigured()
            active = list(self.sinks)
            while active and time.monotonic() < deadline:
                for name in list(active):
                    claimed, done, go_on = self._run_batch(name, batch)
                    finished += done
                    if claimed < batch or not go_on:
                        active.remove(name)
        except _StoreDown:
            log.warning(
                "dispatch_store_unavailable",
                unsaved=len(self._unsaved.performed),
                claimed=len(self._unsaved.claimed),
            )
        return finished

    def _run_batch(self, name: str, limit: int) -> tuple[int, int, bool]:
        """Claim and perform one batch of a sink: (claimed, finished, worth another batch)."""
        s = self.settings
        with self.store.begin() as conn:
            rows = outbox_store.claim(
                conn,
                self.owner,
                sink=name,
                limit=limit,
                lease_seconds=s.lease_seconds,
                max_attempts=s.max_attempts,
            )
        if not rows:
            return 0, 0, False
        with self._heartbeat([r["id"] for r in rows]):
            done, healthy = self._perform(name, self.sinks[name], rows)
        return len(rows), done, healthy

    def _put_back_unconfigured(self) -> None:
        """Rows for a sink that is not configured: logged, and back in ten minutes."""
        with self.store.begin() as conn:
            rows = outbox_store.claim(
                conn, self.owner, not_sinks=list(self.sinks), limit=200, lease_seconds=60
            )
            for row in rows:
                why = f"sink {row['sink']!r} is not configured"
                outbox_store.retry_later(conn, row, why, 600.0, attempted=False)
        for sink_name in sorted({r["sink"] for r in rows}):
            log.error(
                "sink_missing", sink=sink_name, actions=sum(r["sink"] == sink_name for r in rows)
            )

    # -- performing -------------------------------------------------------------------------

    def _perform(self, name: str, sink: Sink, rows: list[dict[str, Any]]) -> tuple[int, bool]:
        """Hand the rows to the sink and record each result as it comes: (finished, healthy)."""
        finished = 0
        actions: list[SinkAction] = []
        performable: list[dict[str, Any]] = []
        for row in rows:  # a row outside the contract, or for a sink that does not perform it
            try:
                actions.append(sink_action(row, getattr(sink, "performs", None)))
                performable.append(row)
            except InvalidAction as exc:
                log.warning("action_refused", sink=name, action=row["action"], why=str(exc))
                refused = SinkResult(row["id"], "refused", {"reason": str(exc)})
                finished += self._record(name, [(row, refused)])
        if not performable:
            return finished, True
        waiting = {row["id"]: row for row in performable}
        group: list[tuple[dict[str, Any], SinkResult]] = []  # reported together, not written
        results: Iterable[SinkResult] | None = None
        try:
            try:
                results = sink.perform(actions)
                for result in results:
                    answered = waiting.pop(result.outbox_id, None)
                    if answered is None:
                        log.warning("sink_result_unexpected", sink=name, outbox=result.outbox_id)
                    else:
                        group.append((answered, result))
                    if group and not result.more_ready:
                        self._recovered(name)
                        written, group = group, []
                        finished += self._record(name, written)
            finally:  # what the sink reported before it stopped or failed did happen
                if group:
                    written, group = group, []
                    finished += self._record(name, written)
        except _StoreDown:
            self._unsaved.claimed.extend(waiting.values())
            raise
        except SkippableError as exc:
            self._recovered(name)
            skipped = [
                (row, SinkResult(row["id"], "skipped", {"why": str(exc)}))
                for row in waiting.values()
            ]
            finished += self._record(name, skipped)
            return finished, True
        except _OUTAGE_ERRORS as exc:
            self._outage(name, exc, list(waiting.values()))
            return finished, False
        except Exception as exc:  # a bug in the sink: a real failed attempt for what is left
            log.error("sink_failed", sink=name, error=f"{_kind(exc)}: {exc}", exc_info=True)
            self._give_back(list(waiting.values()), f"{_kind(exc)}: {exc}", attempted=True)
            return finished, False
        finally:
            close = getattr(results, "close", None)
            if callable(close):
                with suppress(Exception):
                    close()
        self._recovered(name)
        if waiting:
            self._give_back(list(waiting.values()), "sink returned no result", attempted=True)
        return finished, True

    def _record(self, name: str, answered: list[tuple[dict[str, Any], SinkResult]]) -> int:
        """Write a group of results: the performed ones in one transaction (retried; kept in
        memory if the store stays down), the others put back; returns how many finished."""
        performed = [(row, r) for row, r in answered if r.status in PERFORMED]
        others = [(row, r) for row, r in answered if r.status not in PERFORMED]
        if performed:

            def mark(conn: Any) -> None:
                for row, result in performed:
                    outbox_store.mark_performed(conn, row, result.status, result.detail)

            try:
                self._store_write(mark)
            except _StoreDown:
                self._unsaved.performed.extend(performed)
                self._unsaved.claimed.extend(row for row, _ in others)
                raise
            now = datetime.now(UTC)
            for row, result in performed:
                if result.status == "done":
                    observe_written(row, now)
                log.info(
                    "action_performed",
                    sink=name,
                    action=row["action"],
                    status=result.status,
                    key=row["idempotency_key"],
                )
        for index, (row, result) in enumerate(others):
            attempted = result.status != "retry"
            why = str(result.detail.get("why") or f"sink answered {result.status!r}")
            wait = result.detail.get("retry_after")
            try:
                self._give_back([row], why, attempted=attempted, retry_after=wait)
            except _StoreDown:
                self._unsaved.claimed.extend(row for row, _ in others[index + 1 :])
                raise
        return len(performed)

    def _outage(self, name: str, exc: BaseException, rows: list[dict[str, Any]]) -> None:
        """The sink is down: put the rows back without an attempt; log a new outage or kind."""
        kind = _kind(exc)
        outage = self._down.get(name)
        if outage is None or outage.kind != kind:
            log.error(
                "sink_outage",
                sink=name,
                error=f"{kind}: {exc}",
                kind=kind,
                fatal=isinstance(exc, FatalError),
                pending=len(rows),
            )
            failures = outage.failures + 1 if outage else 1
            self._down[name] = outage = _Outage(kind, failures)
        else:
            outage.failures += 1
        s = self.settings
        retry_after = getattr(exc, "retry_after", None)
        delay = backoff(outage.failures, s.retry_base_seconds, s.outage_max_seconds, retry_after)
        self._give_back(rows, f"{kind}: {exc}", attempted=False, delay=delay)

    def _recovered(self, name: str) -> None:
        if self._down.pop(name, None) is not None:
            log.info("sink_recovered", sink=name)

    def _give_back(
        self,
        rows: list[dict[str, Any]],
        error: str,
        *,
        attempted: bool,
        retry_after: Any = None,
        delay: float | None = None,
    ) -> None:
        """Put rows back for later; a row with too many real failed attempts ends dead."""
        s = self.settings
        for index, row in enumerate(rows):
            wait = delay
            if wait is None:
                failures = row["attempts"] + 1 if attempted else max(row["attempts"], 1)
                after = float(retry_after) if retry_after else None
                wait = backoff(failures, s.retry_base_seconds, s.retry_max_seconds, after)

            def put_back(conn: Any, row: dict[str, Any] = row, wait: float = wait) -> Any:
                return outbox_store.retry_later(
                    conn, row, error, wait, attempted=attempted, max_attempts=s.max_attempts
                )

            try:
                state = self._store_write(put_back)
            except _StoreDown:
                self._unsaved.claimed.extend(rows[index:])
                raise
            if state == "dead":
                log.error(
                    "action_dead",
                    key=row["idempotency_key"],
                    sink=row["sink"],
                    attempts=row["attempts"] + 1,
                    error=error,
                )

    # -- the store --------------------------------------------------------------------------

    def _store_write(self, write: Callable[[Any], Any]) -> Any:
        """Run one write in its own transaction, retried a few times; _StoreDown if it fails."""
        for delay in (*STORE_RETRY_DELAYS, None):
            try:
                with self.store.begin() as conn:
                    return write(conn)
            except DBAPIError as exc:
                if delay is None:
                    raise _StoreDown(str(exc.orig)) from exc
                log.debug("outbox_write_retried", error=str(exc.orig), delay=delay)
                self._sleep(delay)
        raise AssertionError("unreachable")

    def _flush(self) -> bool:
        """Write what the store could not take before; False while it still cannot."""
        if not self._unsaved:
            return True
        unsaved, self._unsaved = self._unsaved, _Unsaved()
        try:
            with self.store.begin() as conn:
                for row, result in unsaved.performed:
                    outbox_store.mark_performed(conn, row, result.status, result.detail)
                for row in unsaved.claimed:
                    outbox_store.retry_later(conn, row, "store unavailable", 0.0, attempted=False)
        except DBAPIError as exc:
            self._unsaved = unsaved
            log.warning(
                "dispatch_store_unavailable",
                unsaved=len(unsaved.performed),
                claimed=len(unsaved.claimed),
                error=str(exc.orig),
            )
            return False
        log.info(
            "dispatch_store_recovered",
            recorded=len(unsaved.performed),
            put_back=len(unsaved.claimed),
        )
        return True

    @contextmanager
    def _heartbeat(self, ids: list[int]) -> Iterator[None]:
        """Renew the lease on these rows every third of it, until the block ends."""
        stop = threading.Event()
        lease = self.settings.lease_seconds

        def beat() -> None:
            while not stop.wait(lease / 3):
                try:
                    with self.store.begin() as conn:
                        outbox_store.renew(conn, ids, self.owner, lease)
                except Exception as exc:  # the store is down: the claims lapse, rows come back
                    log.warning("outbox_lease_not_renewed", error=f"{_kind(exc)}: {exc}")

        thread = threading.Thread(target=beat, name="outbox-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
