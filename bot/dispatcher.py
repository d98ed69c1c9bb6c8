"""Perform what the outbox holds, exactly once per idempotency key, with retries."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import Connection

from bot.actions import InvalidAction, parse_action
from bot.errors import FatalError, RetriableError, SkippableError
from bot.store import Store
from bot.store import outbox as outbox_store
from connectors.base import Sink, SinkAction

log = structlog.get_logger(__name__)


def _backoff(attempts: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return max(retry_after, 1.0)
    return min(3600.0, 5.0 * 2 ** min(attempts, 10)) * random.uniform(0.8, 1.2)


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
    )


class Dispatcher:
    """Claims outbox rows and hands them to their sinks, grouped by sink."""

    def __init__(self, store: Store, sinks: dict[str, Sink], owner: str) -> None:
        self.store = store
        self.sinks = sinks
        self.owner = owner
        self._down: set[str] = set()

    def run_once(self, limit: int = 200) -> int:
        """Claim and perform one round of due actions; returns how many were finished."""
        with self.store.begin() as conn:
            rows = outbox_store.claim(conn, self.owner, limit=limit)
        if not rows:
            return 0
        by_sink: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            by_sink[row["sink"]].append(row)
        done = 0
        for sink_name, sink_rows in by_sink.items():
            done += self._perform(sink_name, sink_rows)
        return done

    def _perform(self, sink_name: str, rows: list[dict[str, Any]]) -> int:
        sink = self.sinks.get(sink_name)
        if sink is None:
            self._put_back(rows, f"sink {sink_name!r} is not configured", lambda _row: 600.0)
            log.error("sink_missing", sink=sink_name, actions=len(rows))
            return 0
        actions: list[SinkAction] = []
        performable: list[dict[str, Any]] = []
        refused: list[tuple[dict[str, Any], str]] = []
        for row in rows:
            try:
                actions.append(sink_action(row, getattr(sink, "performs", None)))
                performable.append(row)
            except InvalidAction as exc:
                refused.append((row, str(exc)))
        if refused:
            with self.store.begin() as conn:
                for row, why in refused:
                    outbox_store.finish(conn, row, "refused", {"reason": why})
                    log.warning("action_refused", sink=sink_name, action=row["action"], why=why)
        rows = performable
        if not rows:
            return len(refused)
        try:
            results = sink.perform(actions)
        except SkippableError as exc:
            with self.store.begin() as conn:
                for row in rows:
                    outbox_store.finish(conn, row, "skipped", {"why": str(exc)})
            return len(rows)
        except Exception as exc:  # an outage, bad credentials, or a bug in the sink
            fatal = isinstance(exc, FatalError)
            retry_after = getattr(exc, "retry_after", None)
            self._put_back(
                rows,
                f"{type(exc).__name__}: {exc}",
                lambda row: 900.0 if fatal else _backoff(row["attempts"], retry_after),
            )
            if sink_name not in self._down:
                self._down.add(sink_name)
                log.error(
                    "sink_outage",
                    sink=sink_name,
                    error=str(exc),
                    fatal=fatal,
                    exc_info=not isinstance(exc, RetriableError | FatalError),
                )
            return 0
        if sink_name in self._down:
            self._down.discard(sink_name)
            log.info("sink_recovered", sink=sink_name)
        by_id = {r.outbox_id: r for r in results}
        finished = 0
        with self.store.begin() as conn:
            for row in rows:
                result = by_id.get(row["id"])
                if result is None:
                    self._retry(conn, row, "sink returned no result", 60.0)
                elif result.status == "retry":  # deferred (rate limit, greylisting): no attempt
                    why = str(result.detail.get("why", "sink asked to retry"))
                    wait = result.detail.get("retry_after")
                    delay = float(wait) if wait else _backoff(row["attempts"], None)
                    self._retry(conn, row, why, delay, attempted=False)
                elif outbox_store.finish(conn, row, result.status, result.detail):
                    finished += 1
                    log.info(
                        "action_performed",
                        sink=sink_name,
                        action=row["action"],
                        status=result.status,
                        key=row["idempotency_key"],
                    )
                else:
                    log.warning("action_claim_lost", key=row["idempotency_key"])
        return finished

    def _put_back(
        self, rows: list[dict[str, Any]], error: str, delay: Callable[[dict[str, Any]], float]
    ) -> None:
        with self.store.begin() as conn:
            for row in rows:
                self._retry(conn, row, error, delay(row))

    def _retry(
        self,
        conn: Connection,
        row: dict[str, Any],
        error: str,
        delay: float,
        *,
        attempted: bool = True,
    ) -> None:
        state = outbox_store.retry_later(conn, row, error, delay, attempted=attempted)
        if state == "dead":
            log.error(
                "action_dead",
                key=row["idempotency_key"],
                sink=row["sink"],
                attempts=row["attempts"],
                error=error,
            )
