"""The store: SQLite by default, PostgreSQL by URL; one schema, Alembic migrations."""

from __future__ import annotations

from bot.store.engine import Store, open_store

__all__ = ["Store", "open_store"]
