"""Alembic environment: runs migrations on the connection crmbot hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from bot.store.engine import lock_migrations
from bot.store.schema import metadata

config = context.config


def run_migrations_online() -> None:
    """Run the migrations on the connection in config.attributes, or on the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)


def _run(connection: Connection) -> None:
    lock_migrations(connection)  # PostgreSQL: one process migrates at a time (re-entrant)
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("crmbot migrations run online only")
run_migrations_online()
