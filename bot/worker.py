"""The worker: polls each source on its own schedule, runs the pipeline, dispatches the outbox.

One unit of work is one batch from one source: it is stored, and the source's cursor moved,
in one transaction. A stop signal ends the loop after the current unit.

`run_forever` runs each source, the dispatcher and the SLA timers on a thread of their own
(bot/supervisor.py), so that a slow CRM delays nobody else and acknowledgements leave while
a backlog is still being read. `run_once` stays sequential: poll every source until it has
nothing new, then fire timers and dispatch.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import Connection, NestedTransaction
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from bot.backoff import BackoffPolicy
from bot.budget import run_item
from bot.dispatcher import Dispatcher
from bot.errors import CrmbotError, FatalError, RetriableError
from bot.health import OutageLog, SourceHealth
from bot.latency import observe_stored
from bot.lease import LeaseHeartbeat
from bot.models import SourceRecord
from bot.pipeline import Pipeline, StageContext, Work
from bot.poison import PoisonGuard
from bot.routing import write_back_settings
from bot.settings import Settings
from bot.store import Store, retention, tallies
from bot.store import cursors as cursor_store
from bot.store.batch import BatchWrites, batch_writes, pending
from bot.store.requests import quarantine_record
from bot.store.sql import lost_a_lock_race
from bot.timers import fire_due_timers
from connectors.base import (
    AcknowledgingSource,
    Batch,
    ConnectorSettings,
    Sink,
    Source,
    WaitingSource,
)
from connectors.kit.writeback import WriteBackSettings

if TYPE_CHECKING:
    from bot.supervisor import Supervisor

log = structlog.get_logger(__name__)
DEADLOCK_RETRIES = 5

TALLY_FOLD_SECONDS = 60.0  # PostgreSQL's per-transaction tally rows folded this often
# Old requests' raw bytes are let go this often, a few short transactions at a time.
RETENTION_SECONDS = 3600.0
RETENTION_BATCHES_PER_RUN = 20
# Reconnecting a source's wait (e.g. its IMAP IDLE connection) after it was lost.
WAIT_RECONNECT_POLICY = BackoffPolicy(base_seconds=1.0, max_seconds=60.0)


class _DryRunRollback(Exception):
    """Raised at the end of a dry-run batch so that its transaction is rolled back."""

    def __init__(self, stored: int) -> None:
        super().__init__(stored)
        self.stored = stored


class _RecordFailed(Exception):
    """A record failed on the fast path: the batch is redone with a savepoint per record."""


@dataclass(slots=True)
class ConfiguredSource:
    """A source, its validated settings, and its health."""

    source: Source
    settings: ConnectorSettings
    health: SourceHealth


class Worker:
    """Drives sources through the pipeline and the outbox through the sinks."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        sources: dict[str, tuple[Source, ConnectorSettings]],
        pipeline: Pipeline,
        *,
        sinks: dict[str, Sink] | None = None,
        rules: Callable[[], Any] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.store = store
        self.pipeline = pipeline
        self.sources = {
            name: ConfiguredSource(src, conf, SourceHealth(name))
            for name, (src, conf) in sources.items()
        }
        self.sinks = sinks or {}
        self.rules = rules or (lambda: None)
        self.clock = clock
        self.dry_run = settings.dry_run
        self.owner = settings.worker.instance_id
        self.dispatcher = Dispatcher(store, self.sinks, self.owner, settings.dispatch)
        self.stop_event = threading.Event()
        self._dry_run_cursors: dict[str, Any] = {}
        self._health_file_failing = False
        self.outages = OutageLog()
        self.housekeeping_policy = BackoffPolicy(base_seconds=1.0, max_seconds=60.0)
        self.on_batch_stored: Callable[[str], None] = lambda _name: None
        self._part_failures: dict[str, int] = {}
        self._failures_lock = threading.Lock()
        self._tallies_folded_at = float("-inf")
        self._raw_forgotten_at: datetime | None = None  # on the worker's clock
        self.poison = PoisonGuard(store, settings, self.owner)
        self.supervisor: Supervisor | None = None  # while run_forever runs
        self._routes: WriteBackSettings | None = None

    # -- one unit of work -------------------------------------------------------------
    def _context(self, conn: Connection) -> StageContext:
        return StageContext(
            conn=conn,
            settings=self.settings,
            now=self.clock(),
            log=log,
            rules=self.rules(),
            sinks=self.sinks,
            sources=self._source_settings(),
            routes=self._write_back(),
        )

    def _source_settings(self) -> dict[str, ConnectorSettings]:
        return {name: conf.settings for name, conf in self.sources.items()}

    def _write_back(self) -> WriteBackSettings:
        """The typed write-back routing reads, built once from the validated settings."""
        if self._routes is None:
            self._routes = write_back_settings(self.settings, self._source_settings())
        return self._routes

    def process_batch(self, name: str, batch: Batch) -> int:
        """Run the pipeline on a batch and move the cursor, in one transaction.

        The fast path runs the whole batch without savepoints, its appends and case changes
        held back and sent as one statement per table (bot/store/batch.py). If one record
        fails (or the batch's rows conflict with what another replica stored meanwhile), the
        transaction is rolled back and the batch runs again with a savepoint per record, each
        record's rows written in it, so that the bad record is quarantined with its reason
        and the others are stored.

        Replicas attaching mail to the same cases may deadlock on PostgreSQL: the batch that
        the database rolled back is redone after a short random pause, a few times, before
        the source backs off.
        """
        for attempt in range(1, DEADLOCK_RETRIES + 2):
            try:
                stored = self.poison.handle(
                    name, batch, self._store_fast_then_guarded, self._context, self._run_guarded
                )
                break
            except _DryRunRollback as rolled_back:
                log.info("dry_run_batch_rolled_back", source=name, records=len(batch.records))
                return rolled_back.stored
            except DBAPIError as exc:  # the store, not the record: retry the batch later
                if attempt <= DEADLOCK_RETRIES and lost_a_lock_race(exc):
                    log.warning("batch_deadlock_redone", source=name, attempt=attempt)
                    # a random pause, so that the two sides do not meet again at once
                    self.stop_event.wait(random.uniform(0.05, 0.25) * attempt)
                    continue
                raise RetriableError(f"store error while saving {name}: {exc.orig}") from exc
        source = self.sources[name].source
        if isinstance(source, AcknowledgingSource) and batch.records:
            source.acknowledge(batch.records)
        return stored

    def _store_fast_then_guarded(self, name: str, batch: Batch) -> int:
        try:
            return self._store_batch(name, batch, guarded=False)
        except _RecordFailed:
            return self._store_batch(name, batch, guarded=True)

    def _store_batch(self, name: str, batch: Batch, *, guarded: bool) -> int:
        stored = 0
        arrivals: list[datetime] = []
        with self.store.begin() as conn:
            if self.store.is_postgres and not cursor_store.acquire_lease(
                conn, name, self.owner, self.settings.worker.lease_seconds
            ):
                raise RetriableError(f"source {name}: lease taken by another replica")
            ctx = self._context(conn)
            with batch_writes(conn) as writes:
                if not guarded:  # the batch read at once; record by record, as each runs
                    self._prepare(ctx, batch)
                for record in batch.records:
                    work = self._run_record(conn, ctx, name, record, guarded=guarded)
                    if work is None:
                        continue
                    if work.dropped is None:
                        stored += 1
                        if record.received_at is not None:
                            arrivals.append(record.received_at)
                    if self.dry_run:
                        self._log_dry_run(work)
                try:
                    writes.flush(conn)
                except (DataError, IntegrityError) as exc:  # a conflict: redo row by row
                    raise _RecordFailed from exc
            cursor_store.save_cursor(conn, name, batch.cursor)
            if self.dry_run:
                raise _DryRunRollback(stored)
        observe_stored(name, arrivals, datetime.now(UTC))  # committed
        return stored

    def _prepare(self, ctx: StageContext, batch: Batch) -> None:
        """The stages' batch-wide reads (Pipeline.prepare); a failure redoes the batch
        record by record, where nothing is prepared."""
        try:
            self.pipeline.prepare(ctx, batch.records)
        except DBAPIError as exc:
            if not isinstance(exc, DataError | IntegrityError):
                raise
            raise _RecordFailed from exc
        except Exception as exc:
            raise _RecordFailed from exc

    def _run_record(
        self, conn: Connection, ctx: StageContext, name: str, record: SourceRecord, *, guarded: bool
    ) -> Work | None:
        """Run one record on the fast path (a failure redoes the batch) or guarded."""
        if guarded:
            return self._run_guarded(conn, ctx, name, record)
        try:
            return run_item(self.pipeline.run, ctx, record, self.settings.budget)
        except (DataError, IntegrityError) as exc:  # this record's data: isolate it
            raise _RecordFailed from exc
        except DBAPIError:
            raise
        except Exception as exc:
            raise _RecordFailed from exc

    @staticmethod
    def _log_dry_run(work: Work) -> None:
        for action in work.actions:
            log.info(
                "dry_run_action",
                case=work.case.reference if work.case else None,
                action=action.type,
                rule_id=action.rule_id,
                payload=action.params,
            )

    def _run_guarded(
        self, conn: Connection, ctx: StageContext, name: str, record: SourceRecord
    ) -> Work | None:
        """Run one record in a savepoint, its held-back rows written in it; a failure
        quarantines it with the reason."""
        savepoint = conn.begin_nested()
        writes = pending(conn)
        try:
            work = run_item(self.pipeline.run, ctx, record, self.settings.budget)
            if writes is not None:
                writes.flush(conn)
            savepoint.commit()
            return work
        except DBAPIError as exc:
            self._roll_back(savepoint, writes)
            if not isinstance(exc, DataError | IntegrityError):
                raise  # the store itself (connection, lock): retry the batch later
            self._quarantine(conn, name, record, exc)
            return None
        except Exception as exc:  # contained: one bad item never stops the batch
            self._roll_back(savepoint, writes)
            self._quarantine(conn, name, record, exc)
            return None

    @staticmethod
    def _roll_back(savepoint: NestedTransaction, writes: BatchWrites | None) -> None:
        if writes is not None:
            writes.discard()  # the record's held-back rows go with its savepoint
        savepoint.rollback()

    def _quarantine(
        self, conn: Connection, name: str, record: SourceRecord, exc: Exception
    ) -> None:
        reason = f"processing failed: {type(exc).__name__}: {exc}"
        log.error(
            "request_failed",
            source=name,
            source_id=record.source_id,
            error=reason,
            exc_info=not isinstance(exc, CrmbotError | DBAPIError),
        )
        quarantine_record(conn, record, reason, raw_max_bytes=self.settings.store.raw_max_bytes)

    def poll_source(self, name: str) -> int:
        """Poll one source until it has nothing new (or a stop is asked); returns records stored."""
        configured = self.sources[name]
        now = self.clock()
        if not configured.health.may_poll(now):
            return 0
        total = 0
        leased = False
        try:
            with self.store.begin() as conn:
                if self.store.is_postgres:  # take the lease first, then read the cursor
                    if not cursor_store.acquire_lease(
                        conn, name, self.owner, self.settings.worker.lease_seconds
                    ):
                        log.info("source_leased_elsewhere", source=name)
                        return 0
                    leased = True
                cursor = cursor_store.load_cursor(conn, name)
            if self.dry_run and name in self._dry_run_cursors:
                cursor = self._dry_run_cursors[name]  # what this dry run has read already
            heartbeat = self._heartbeat(name) if leased else None
            try:
                batches = configured.source.poll(cursor, self.settings.worker.batch_size)
                for batch in batches:
                    if heartbeat is not None and heartbeat.lost:
                        raise RetriableError(f"source {name}: lease lost to another replica")
                    if batch.reset:
                        log.warning("source_cursor_reset", source=name, cursor=batch.cursor)
                    total += self.process_batch(name, batch)
                    if self.dry_run:  # stored nowhere: remembered so the next poll goes on
                        self._dry_run_cursors[name] = batch.cursor
                    self.on_batch_stored(name)
                    self._touch_health_file()  # a long backlog is progress, not a hang
                    if self.stop_event.is_set():
                        break
            finally:
                if heartbeat is not None:
                    heartbeat.stop()
        except (FatalError, RetriableError) as exc:
            self._failed(configured, exc, fatal=isinstance(exc, FatalError))
            return total
        except DBAPIError as exc:  # the store is unreachable: retry later
            self._failed(configured, RetriableError(f"store error: {exc.orig}"), fatal=False)
            return total
        except Exception as exc:  # an unexpected bug in one source must not stop the others
            log.exception("source_crashed", source=name)
            self._failed(configured, exc, fatal=False)
            return total
        finally:
            if leased:
                self._release_lease(name)
        configured.health.succeeded(self.clock(), total)
        self._record_health(name, None)
        if total:
            log.info("source_polled", source=name, stored=total)
        return total

    def wait_for_change(self, name: str, wake: threading.Event) -> bool | None:
        """Block on the source's own signal (IMAP IDLE) until new data (True) or `wake` (False).

        None when the source cannot wait (no hook, no IDLE, a wait that failed unexpectedly,
        or a source backing off after a failed poll): the caller sleeps until its next wake.
        A lost connection is retried here with a growing delay, as long as `wake` is clear.
        """
        configured = self.sources[name]
        source = configured.source
        if not isinstance(source, WaitingSource) or configured.health.failing_since is not None:
            return None
        failures = 0
        while not wake.is_set() and not self.stop_event.is_set():
            try:
                return source.wait_for_change(wake)
            except RetriableError as exc:
                failures += 1
                delay = WAIT_RECONNECT_POLICY.delay(failures, exc)
                (log.warning if failures == 1 else log.debug)(
                    "source_wait_interrupted",
                    source=name,
                    error=str(exc),
                    failures=failures,
                    retry_in_seconds=round(delay, 1),
                )
                if wake.wait(delay):
                    return False
            except Exception as exc:  # a bug or a fatal error: the next poll reports it
                log.warning(
                    "source_wait_failed",
                    source=name,
                    error=f"{type(exc).__name__}: {exc}",
                    exc_info=not isinstance(exc, CrmbotError),
                )
                return None
        return False

    def _heartbeat(self, name: str) -> LeaseHeartbeat:
        """Renew the source's lease in the background while a long poll runs."""
        return LeaseHeartbeat(
            self.store, name, self.owner, self.settings.worker.lease_seconds
        ).start()

    def _release_lease(self, name: str) -> None:
        try:
            with self.store.begin() as conn:
                cursor_store.release_lease(conn, name, self.owner)
        except Exception:  # it expires by itself after lease_seconds
            log.warning("lease_not_released", source=name)

    def _failed(self, configured: ConfiguredSource, exc: Exception, *, fatal: bool) -> None:
        """Close the source (the next poll reopens it) and back off, honouring retry_after."""
        try:
            configured.source.close()
        except Exception:  # closing a broken connection may fail too; nothing to do
            log.debug("source_close_failed", source=configured.health.name)
        configured.health.failed(
            self.clock(), exc, fatal=fatal, interval=configured.settings.interval_seconds
        )
        self._record_health(configured.health.name, str(exc) or type(exc).__name__)

    def _record_health(self, name: str, error: str | None) -> None:
        if self.dry_run:
            return
        try:
            with self.store.begin() as conn:
                cursor_store.record_health(conn, name, error)
        except Exception:  # the store itself may be what is down
            log.warning("health_not_recorded", source=name)

    # -- the loop ---------------------------------------------------------------------
    def housekeeping(self) -> None:
        """Fire due SLA timers and dispatch the outbox (skipped in dry-run)."""
        if self.dry_run:
            return
        self.fire_timers()
        self.dispatch()
        self._touch_health_file()

    def fire_timers(self) -> float | None:
        """Fire every due SLA timer; returns a backoff delay after a failure, else None."""
        if self.dry_run:
            return None

        def job() -> None:
            while not self.stop_event.is_set():
                if (
                    fire_due_timers(
                        self.store,
                        self.settings,
                        self.rules,
                        self.clock(),
                        sources=self._source_settings(),
                        routes=self._write_back(),
                    )
                    < 100
                ):
                    break
            self._fold_tallies()
            self._forget_old_raw()

        return self._run_part("timers", job)

    def _fold_tallies(self) -> None:
        """Every TALLY_FOLD_SECONDS, fold the per-transaction count rows (PostgreSQL) into one,
        so that they stay few even when nobody scrapes /metrics."""
        now = time.monotonic()
        if now - self._tallies_folded_at < TALLY_FOLD_SECONDS:
            return
        self._tallies_folded_at = now
        with self.store.begin() as conn:
            folded = tallies.compact(conn)
        if folded:
            log.debug("tallies_folded", rows=folded)

    def _forget_old_raw(self) -> None:
        """Every RETENTION_SECONDS, drop the raw bytes of requests older than
        `store.raw_retention_days` (bot/store/retention.py), in short transactions."""
        days = self.settings.store.raw_retention_days
        now = self.clock()
        last = self._raw_forgotten_at
        if not days or (last is not None and 0 <= (now - last).total_seconds() < RETENTION_SECONDS):
            return
        self._raw_forgotten_at = now
        before = now - timedelta(days=days)
        forgotten = 0
        for _ in range(RETENTION_BATCHES_PER_RUN):
            if self.stop_event.is_set():
                break
            with self.store.begin() as conn:
                done = retention.forget_old_raw(conn, before)
            forgotten += done
            if done < retention.BATCH_ROWS:
                break
        if forgotten:
            log.info("raw_mail_forgotten", requests=forgotten, received_before=before.isoformat())

    def dispatch(self) -> float | None:
        """Perform due outbox actions until none is left; a backoff delay after a failure."""
        if self.dry_run:
            return None

        def job() -> None:
            while not self.stop_event.is_set() and self.dispatcher.run_once() > 0:
                pass

        return self._run_part("dispatch", job)

    def _run_part(self, part: str, job: Callable[[], None]) -> float | None:
        """Run one part of housekeeping; an outage (of it, or of the store) is logged once."""
        try:
            job()
        except Exception as exc:  # the loop must go on; the part retries after a backoff
            key = "store" if isinstance(exc, DBAPIError) else part
            error = f"{type(exc).__name__}: {exc}"
            self.outages.failed(
                key,
                self.clock(),
                error,
                part=part,
                exc_info=not isinstance(exc, RetriableError | FatalError | DBAPIError),
            )
            with self._failures_lock:
                self._part_failures[part] = self._part_failures.get(part, 0) + 1
                attempt = self._part_failures[part]
            return self.housekeeping_policy.delay(attempt, exc)
        now = self.clock()
        self.outages.succeeded("store", now)
        self.outages.succeeded(part, now)
        with self._failures_lock:
            self._part_failures.pop(part, None)
        return None

    def _touch_health_file(self) -> None:
        path: Path | None = self.settings.worker.health_file
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.clock().isoformat(), encoding="utf-8")
        except OSError as exc:  # a full or read-only volume shows as unhealthy, not a crash
            if not self._health_file_failing:  # logged once, and its recovery once
                self._health_file_failing = True
                log.error("health_file_not_written", path=str(path), error=exc.strerror)
            return
        if self._health_file_failing:
            self._health_file_failing = False
            log.info("health_file_written_again", path=str(path))

    def run_once(self) -> int:
        """Poll every enabled source once (until each has nothing new), then housekeeping."""
        total = 0
        for name, configured in self.sources.items():
            if self.stop_event.is_set():
                break
            if configured.settings.enabled:
                total += self.poll_source(name)
        self.housekeeping()
        return total

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT ask every thread to stop after its current unit of work."""

        def _stop(signum: int, _frame: Any) -> None:
            log.info("worker_stopping", signal=signal.Signals(signum).name)
            self.stop_event.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)

    def run_forever(self) -> None:
        """Each source, the dispatcher and the timers on their own thread, until a stop."""
        from bot.supervisor import Supervisor

        log.info(
            "worker_started",
            sources=sorted(self.sources),
            instance=self.owner,
            dry_run=self.dry_run,
        )
        self.supervisor = Supervisor(self)
        try:
            self.supervisor.run()
        finally:
            self.supervisor = None
        self.close()
        log.info("worker_stopped")

    def wake_source(self, name: str) -> bool:
        """Poll source `name` now, ending its wait; False when `run_forever` is not running it.

        Thread-safe: a webhook handler calls this when the CRM says something changed.
        """
        supervisor = self.supervisor
        return supervisor is not None and supervisor.wake_source(name)

    def close(self) -> None:
        """Close every source and sink."""
        for configured in self.sources.values():
            try:
                configured.source.close()
            except Exception:
                log.debug("source_close_failed", source=configured.health.name)
        for sink in self.sinks.values():
            try:
                sink.close()
            except Exception:
                log.debug("sink_close_failed")
