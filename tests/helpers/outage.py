"""Make a real store unavailable for a while, from outside the code under test.

SQLite: another connection holds the write lock (BEGIN EXCLUSIVE) and the store's busy
timeout is made short, so each write fails with "database is locked".
PostgreSQL: the test's private schema is renamed away and the pooled connections dropped,
so every statement fails with "relation does not exist" until it is renamed back.
"""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import unquote

import psycopg
from sqlalchemy import event

from bot.store import Store
from tests.helpers.stores import PG_DSN


class StoreOutage:
    """`start()` takes the store away, `stop()` gives it back."""

    def __init__(self, store: Store, url: str) -> None:
        self.store = store
        self.url = url
        self._lock: sqlite3.Connection | None = None
        self.active = False
        if store.is_postgres:
            self.schema = unquote(url).split("search_path=", 1)[1].split("&", 1)[0]
        else:
            event.listen(store.engine, "connect", _short_busy_timeout)

    def start(self) -> None:
        """The store refuses every write (and on PostgreSQL every read) from now on."""
        self.active = True
        if self.store.is_postgres:
            with psycopg.connect(PG_DSN, autocommit=True) as admin:
                admin.execute(f'ALTER SCHEMA "{self.schema}" RENAME TO "{self.schema}_away"')
            self.store.engine.dispose()
            return
        self._lock = sqlite3.connect(self.url.split(":///", 1)[1], isolation_level=None)
        self._lock.execute("BEGIN EXCLUSIVE")

    def stop(self) -> None:
        """The store works again (nothing to do if it was not taken away)."""
        if not self.active:
            return
        self.active = False
        if self.store.is_postgres:
            with psycopg.connect(PG_DSN, autocommit=True) as admin:
                admin.execute(f'ALTER SCHEMA "{self.schema}_away" RENAME TO "{self.schema}"')
            return
        assert self._lock is not None
        self._lock.execute("ROLLBACK")
        self._lock.close()
        self._lock = None


def _short_busy_timeout(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=50")
    cur.close()


def store_outage(store: Store, url: str) -> StoreOutage:
    """A switch that takes this store away and gives it back."""
    return StoreOutage(store, url)
