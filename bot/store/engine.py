"""Open the database, apply migrations, and hand out transactions."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import NullPool

from bot.errors import ConfigError, SourceUnavailable

log = structlog.get_logger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
WRITE_OPTION = "crmbot_write"
DEFAULT_SCHEMA_WAIT_SECONDS = 300.0


@dataclass(slots=True)
class Store:
    """A migrated database: `begin()` gives a transaction."""

    engine: Engine
    # SQLite: one idle connection held open for the store's life, so that the per-transaction
    # connections (NullPool) are never the last to close: closing the last one checkpoints
    # the WAL, which cost each outbox result's commit ~3 times its own work (bench_latency).
    keeper: Any = None
    # SQLite: this process's writers take turns in arrival order (see `WriteTurns`).
    turns: WriteTurns | None = None

    @property
    def is_postgres(self) -> bool:
        """True when several replicas may share this store (leases, SKIP LOCKED)."""
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back on an exception.

        Safe from any thread: each call checks out its own connection. On SQLite it starts
        with BEGIN IMMEDIATE, so that writers queue on the busy timeout instead of failing
        with "database is locked" when a read would have to turn into a write.
        """
        with self.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with self.turns.turn() if self.turns is not None else nullcontext(), conn.begin():
                yield conn

    def connect(self) -> Connection:
        """A plain connection, for read-only commands."""
        return self.engine.connect()

    def dispose(self) -> None:
        """Close every pooled connection."""
        if self.keeper is not None:
            self.keeper.close()
            self.keeper = None
        self.engine.dispose()


class WriteTurns:
    """SQLite's one writer at a time, given to this process's threads in arrival order.

    Without it, writers race on SQLite's busy timeout: a source storing batch after batch
    takes the lock again straight after each commit, and the dispatcher's claims and results
    wait for seconds (bench_latency, bursts). A thread already writing passes through; one
    that waited `patience` seconds goes on without its turn (SQLite's own busy timeout
    then decides, as before).
    """

    def __init__(self, patience: float = 30.0) -> None:
        self._cond = threading.Condition()
        self._patience = patience
        self._next = 0  # the next ticket handed out
        self._serving = 0  # the ticket whose turn it is
        self._gave_up: set[int] = set()
        self._owner: int | None = None
        self._depth = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait for this thread's turn to write; the next one's comes when the block ends."""
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
            else:
                ticket = self._next
                self._next += 1
                deadline = time.monotonic() + self._patience
                while self._serving != ticket:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self._gave_up.add(ticket)
                        break
                    self._cond.wait(left)
                else:
                    self._owner, self._depth = me, 1
        try:
            yield
        finally:
            with self._cond:
                if self._owner == me:
                    self._depth -= 1
                    if self._depth == 0:
                        self._owner = None
                        self._serving += 1
                        while self._serving in self._gave_up:
                            self._gave_up.discard(self._serving)
                            self._serving += 1
                        self._cond.notify_all()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, emit BEGIN, so that SAVEPOINTs work.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    # One writer at a time: a write transaction takes the lock up front (and waits for it on
    # busy_timeout); reads stay deferred and, in WAL mode, never wait for a writer.
    write = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create the engine for a URL (sqlite:///file.db or postgresql+psycopg://...)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    try:
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[1] if ":///" in url else ""
            if path and path != ":memory:":
                try:
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise ConfigError(
                        f"store.url: cannot create the folder of {path} ({exc.strerror})"
                    ) from exc
            engine = create_engine(url, echo=echo, poolclass=NullPool)
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        # One connection per thread (each source, dispatcher, timers, lease heartbeats).
        return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=15)
    except (ArgumentError, ImportError, ValueError) as exc:
        raise ConfigError(f"store.url: not a usable database URL ({exc})") from exc


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    """The newest migration revision this code knows."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def schema_revision(conn: Connection) -> str | None:
    """The revision the database's schema is at (None when empty)."""
    return MigrationContext.configure(conn).get_current_revision()


def lock_migrations(conn: Connection, *, wait: bool = True) -> bool:
    """Take the migration lock for this transaction (PostgreSQL); True when it is held.

    The lock is an advisory lock keyed on the current schema, so replicas sharing a schema
    take turns and different schemas (tests) do not wait for each other. Elsewhere: True.
    """
    if conn.dialect.name != "postgresql":
        return True
    func = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    row = conn.execute(
        text(f"SELECT {func}(hashtext('crmbot_migrations:' || current_schema()))")
    ).scalar()
    return True if wait else bool(row)


def migrate(engine: Engine, *, wait_seconds: float = DEFAULT_SCHEMA_WAIT_SECONDS) -> bool:
    """Bring the schema to the newest revision (idempotent); True when this process did it.

    On PostgreSQL the migrations run under an advisory lock: of replicas started together,
    one migrates and the others wait until the schema is at head instead of racing.
    """
    config = _alembic_config()
    head = head_revision()
    with engine.begin() as conn:
        if lock_migrations(conn, wait=False):
            before = schema_revision(conn)
            if before == head:
                return False
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            log.info("store_migrated", from_revision=before, to_revision=head)
            return True
    log.info("store_migrations_running_elsewhere")
    wait_for_head(engine, wait_seconds)
    return False


def wait_for_head(
    engine: Engine, timeout: float = DEFAULT_SCHEMA_WAIT_SECONDS, *, every: float = 0.5
) -> None:
    """Wait until another process (or `crmbot db upgrade`) has brought the schema to head."""
    head = head_revision()
    deadline = time.monotonic() + timeout
    logged = False
    while True:
        with engine.connect() as conn:
            current = schema_revision(conn)
        if current == head:
            if logged:
                log.info("store_schema_ready", revision=head)
            return
        if time.monotonic() >= deadline:
            raise SourceUnavailable(
                f"store: the schema is at {current or 'nothing'}, not {head}, after waiting "
                f"{timeout:.0f} s; run `crmbot db upgrade` (or set store.auto_migrate=true)"
            )
        if not logged:
            log.info("store_schema_waiting", current=current, head=head)
            logged = True
        time.sleep(every)


def open_store(
    url: str,
    *,
    echo: bool = False,
    run_migrations: bool = True,
    wait_for_schema: float | None = None,
) -> Store:
    """Open (and by default migrate) the store; an unreachable database is retriable.

    Without migrations, `wait_for_schema` seconds (when given) are spent waiting for the
    schema to reach head: a replica started with store.auto_migrate=false.
    """
    engine = make_engine(url, echo=echo)
    wait = DEFAULT_SCHEMA_WAIT_SECONDS if wait_for_schema is None else wait_for_schema
    try:
        if run_migrations:
            migrate(engine, wait_seconds=wait)
        elif wait_for_schema is not None:
            wait_for_head(engine, wait_for_schema)
        else:
            with engine.connect():
                pass
    except OperationalError as exc:
        engine.dispose()
        raise SourceUnavailable(f"store: cannot reach the database ({exc.orig})") from exc
    except SourceUnavailable:
        engine.dispose()
        raise
    log.debug("store_opened", dialect=engine.dialect.name)
    keeper = None
    database = engine.url.database or ""
    if engine.dialect.name == "sqlite" and database not in ("", ":memory:"):
        keeper = engine.raw_connection()  # idle: no transaction, no lock held
    return Store(engine, keeper, WriteTurns() if keeper is not None else None)
