"""The SQL contact index on the store tables (SQLite, and PostgreSQL when marked)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.identity import (
    ContactMatcher,
    ContactRecord,
    IdentitySettings,
    MemoryContactIndex,
    SqlContactIndex,
)
from bot.identity.keys import blocking_keys
from bot.store.schema import contact_keys, contacts, metadata

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

PEOPLE = [
    ContactRecord(name="Jean Dupont", email="jean.dupont@acme.fr", phone="06 12 34 56 78"),
    ContactRecord(name="Hélène Müller", email="helene@gmail.com", postcode="75011"),
    ContactRecord(name="Robert Smith", phone="+44 7700 900123", company="globex.co.uk"),
    ContactRecord(name="Paul Martin", email="contact@boulangerie-martin.fr"),
    ContactRecord(name="Marie Curie", birth_date="18671107", postcode="75005"),
]
QUERIES = [
    ContactRecord(email="Jean.Dupont@ACME.fr"),
    ContactRecord(email="jean.dupont@acme.fr", name="DUPONT Jean"),
    ContactRecord(name="MULLER Helene", email="helene+shop@gmail.com"),
    ContactRecord(name="Bob Smith", phone="+44 (0)7700 900123", company="globex.co.uk"),
    ContactRecord(name="Sophie Leroy", email="contact@boulangerie-martin.fr"),
    ContactRecord(name="Marie Curie", birth_date="18671107"),
    ContactRecord(name="Nobody Known", email="nobody@nowhere.org"),
]


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine() -> Iterator[sa.Engine]:
    schema = f"identity_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    engine = sa.create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _results(matcher: ContactMatcher) -> list[tuple[int | None, str, float]]:
    out = []
    for q in QUERIES:
        r = matcher.match(q)
        out.append((r.contact_id, r.relation, round(r.score, 9)))
    return out


def _check_same_decisions_as_memory(engine: sa.Engine) -> None:
    memory = ContactMatcher(MemoryContactIndex())
    for i, person in enumerate(PEOPLE, start=1):
        memory.add(i, person)
    with engine.begin() as conn:
        sql = ContactMatcher(SqlContactIndex(conn))
        for i, person in enumerate(PEOPLE, start=1):
            sql.add(i, person)
    with engine.connect() as conn:
        sql = ContactMatcher(SqlContactIndex(conn))
        assert _results(sql) == _results(memory)
        assert [r[:2] for r in _results(sql)] == [
            (1, "same"),
            (1, "same"),
            (2, "same"),
            (3, "same"),
            (None, "new"),
            (5, "same"),
            (None, "new"),
        ]


def _check_re_add_updates_row_and_keys(engine: sa.Engine) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            contacts.insert(),
            [
                {
                    "id": 10,
                    "email": "old@acme.fr",
                    "name": "Jean Dupont",
                    "external_ids": {"zendesk": "9"},
                    "attributes": {"vip": True},
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
        matcher = ContactMatcher(SqlContactIndex(conn))
        matcher.add(10, ContactRecord(email="old@acme.fr", name="Jean Dupont"))
        matcher.add(10, ContactRecord(email="new@acme.fr", external_ids={"hubspot": "5"}))
    with engine.connect() as conn:
        row = conn.execute(sa.select(contacts).where(contacts.c.id == 10)).one()
        assert row.attributes["vip"] is True
        assert row.attributes["identity"]["email"] == "new@acme.fr"
        assert row.external_ids == {"zendesk": "9", "hubspot": "5"}
        keys = set(
            conn.execute(sa.select(contact_keys.c.key).where(contact_keys.c.contact_id == 10))
            .scalars()
            .all()
        )
        profile = ContactMatcher(MemoryContactIndex()).profile(  # the name is kept
            ContactRecord(email="new@acme.fr", name="Jean Dupont", external_ids={"hubspot": "5"})
        )
        assert keys == set(blocking_keys(profile))
        matcher = ContactMatcher(SqlContactIndex(conn))
        assert matcher.match(ContactRecord(external_ids={"hubspot": "5"})).contact_id == 10
        assert matcher.match(ContactRecord(email="old@acme.fr")).relation == "new"


def _check_merged_contact_reports_survivor(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        matcher = ContactMatcher(SqlContactIndex(conn))
        matcher.add(1, ContactRecord(name="Jean Dupont", email="jd@acme.fr"))
        matcher.add(2, ContactRecord(name="Jean Dupont", email="jean.dupont@gmail.com"))
        conn.execute(contacts.update().where(contacts.c.id == 2).values(merged_into=1))
        result = matcher.match(ContactRecord(email="jeandupont@gmail.com"))
    assert (result.contact_id, result.relation) == (1, "same")


def _check_common_key_is_capped(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        index = SqlContactIndex(conn)
        matcher = ContactMatcher(index, IdentitySettings(key_cap=3))
        items = []
        for i in range(1, 5):
            record = ContactRecord(email="info@acme.fr", name=f"Person {i}")
            profile = matcher.profile(record)
            items.append((i, record, profile, blocking_keys(profile)))
        index.add_many(items)
        matcher.add(9, ContactRecord(email="info@small.fr"))
        assert matcher.match(ContactRecord(email="info@acme.fr")).candidates == []
        assert matcher.match(ContactRecord(email="info@small.fr")).candidates[0][0] == 9


def _check_driver_errors_surface_as_sqlalchemy_errors(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE contact_keys"))
    with engine.connect() as conn:
        matcher = ContactMatcher(SqlContactIndex(conn))
        with pytest.raises(sa.exc.DBAPIError) as info:
            matcher.match(ContactRecord(email="jean@acme.fr"))
    assert "contact_keys" in str(info.value)
    assert isinstance(info.value, sa.exc.ProgrammingError | sa.exc.OperationalError)


CHECKS = [
    _check_same_decisions_as_memory,
    _check_re_add_updates_row_and_keys,
    _check_merged_contact_reports_survivor,
    _check_common_key_is_capped,
    _check_driver_errors_surface_as_sqlalchemy_errors,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("_check_"))
def test_sqlite_index(sqlite_engine: sa.Engine, check) -> None:  # type: ignore[no-untyped-def]
    check(sqlite_engine)


@pytest.mark.postgres
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("_check_"))
def test_postgres_index(pg_engine: sa.Engine, check) -> None:  # type: ignore[no-untyped-def]
    check(pg_engine)
