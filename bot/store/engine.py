"""Open the database, apply migrations, and hand out transactions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import NullPool

from bot.errors import ConfigError, SourceUnavailable

log = structlog.get_logger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
WRITE_OPTION = "crmbot_write"


@dataclass(slots=True)
class Store:
    """A migrated database: `begin()` gives a transaction."""

    engine: Engine

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
            with conn.begin():
                yield conn

    def connect(self) -> Connection:
        """A plain connection, for read-only commands."""
        return self.engine.connect()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


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


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def open_store(url: str, *, echo: bool = False, run_migrations: bool = True) -> Store:
    """Open (and by default migrate) the store; an unreachable database is retriable."""
    engine = make_engine(url, echo=echo)
    try:
        if run_migrations:
            migrate(engine)
        else:
            with engine.connect():
                pass
    except OperationalError as exc:
        engine.dispose()
        raise SourceUnavailable(f"store: cannot reach the database ({exc.orig})") from exc
    log.debug("store_opened", dialect=engine.dialect.name)
    return Store(engine)
