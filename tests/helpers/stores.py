"""Fresh stores for tests: a SQLite file, or a private schema on the local PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

PG_DSN = os.environ.get("CRMBOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def in_ci() -> bool:
    """True when the suite runs in CI (where every real server must be there)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@contextmanager
def postgres_schema_url() -> Iterator[str]:
    """A SQLAlchemy URL whose search_path is a new, private schema, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if in_ci():
            pytest.fail(f"PostgreSQL is not reachable at {PG_DSN}: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            base = PG_DSN.replace("postgresql://", "postgresql+psycopg://", 1)
            yield f"{base}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def store_url(kind: str, tmp_path: Path) -> Iterator[str]:
    """A store URL of the given kind ('sqlite' or 'postgres')."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'crmbot.db'}"
    else:
        with postgres_schema_url() as url:
            yield url
