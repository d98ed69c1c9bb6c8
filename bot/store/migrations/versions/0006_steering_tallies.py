"""steering tallies: counts kept by triggers, and each case's first response on the case

/metrics and the status page read counts of every case, request and outbox row; counting
1M rows at each scrape took seconds. The database now keeps those counts itself, in the
same transaction as the rows they count, whatever code path writes them:

- `case_tallies`: cases by (category, priority, status, merged), with their follow-ups and
  duplicates summed; `request_tallies`: requests by source; `outbox_tallies`: outbox rows
  by (sink, action, state). An absent category or priority is stored as ''.
- `cases.first_response_at`: when the case's first `send_reply` was done (was recomputed
  from the outbox for every case read).
- `ix_cases_open_due`: the open cases' category, priority and due dates (a partial index
  that covers the open backlog's summary); `ix_cases_closed`: closed cases by closing time
  (partial index), for the page's closings and the forecast's measured capacity;
  `ix_cases_contact_opened`: the cases of known contacts by opening time (most chased).

On PostgreSQL each transaction adds its own rows (`tx` = its transaction id), so replicas
writing at the same time never wait on a shared counter row; readers sum the rows, and
`bot/store/tallies.compact` folds them into `tx` = 0. On SQLite (one writer) `tx` is 0.
Existing rows are counted by the upgrade (backfill).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# What each tally counts: table -> (tally table, key expressions, summed expressions).
# Expressions use the counted table's columns; ROW is replaced by NEW/OLD (or a row alias).
TALLIES: dict[str, tuple[str, dict[str, str], dict[str, str]]] = {
    "cases": (
        "case_tallies",
        {
            "category": "coalesce(ROW.category, '')",
            "priority": "coalesce(ROW.priority, '')",
            "status": "ROW.status",
            "merged": "ROW.merged_into IS NOT NULL",
        },
        {
            "cases": "1",
            "follow_ups": "ROW.follow_up_count",
            "duplicates": "ROW.duplicate_count",
        },
    ),
    "requests": ("request_tallies", {"source": "ROW.source"}, {"requests": "1"}),
    "outbox": (
        "outbox_tallies",
        {"sink": "ROW.sink", "action": "ROW.action", "state": "ROW.state"},
        {"actions": "1"},
    ),
}
# the columns whose change moves a row between tallies (SQLite's UPDATE OF list)
WATCHED = {
    "cases": (
        "category",
        "priority",
        "status",
        "merged_into",
        "follow_up_count",
        "duplicate_count",
    ),
    "requests": ("source",),
    "outbox": ("sink", "action", "state"),
}
# bot/store/schema's texts and index columns when this revision was written
OPEN_CASES_SQL = "status NOT IN ('resolved', 'closed') AND merged_into IS NULL"
OPEN_DUE_COLUMNS = (
    "category",
    "priority",
    "first_response_due",
    "resolution_due",
    "first_response_at",
    "reference",
    "status",
    "merged_into",
)
CLOSED_CASES_SQL = "status IN ('resolved', 'closed') AND merged_into IS NULL"
CONTACT_CASES_SQL = "contact_id IS NOT NULL AND merged_into IS NULL"
CONTACT_CASES_COLUMNS = ("opened_at", "contact_id", "follow_up_count", "merged_into")
REPLY_ACTIONS = "('send_reply')"  # bot/store/kpi.REPLY_ACTIONS when this revision was written


def _tables() -> None:
    op.create_table(
        "case_tallies",
        sa.Column("category", sa.String(length=80), nullable=False),
        sa.Column("priority", sa.String(length=4), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("merged", sa.Boolean(), nullable=False),
        sa.Column("tx", sa.BigInteger(), nullable=False),
        sa.Column("cases", sa.BigInteger(), nullable=False),
        sa.Column("follow_ups", sa.BigInteger(), nullable=False),
        sa.Column("duplicates", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "category", "priority", "status", "merged", "tx", name=op.f("pk_case_tallies")
        ),
    )
    op.create_table(
        "request_tallies",
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("tx", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", "tx", name=op.f("pk_request_tallies")),
    )
    op.create_table(
        "outbox_tallies",
        sa.Column("sink", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("tx", sa.BigInteger(), nullable=False),
        sa.Column("actions", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sink", "action", "state", "tx", name=op.f("pk_outbox_tallies")),
    )


def _upsert_set(sums: dict[str, str]) -> str:
    return ", ".join(f"{c} = {c} + excluded.{c}" for c in sums)


def _sqlite_triggers(table: str) -> list[str]:
    tally, keys, sums = TALLIES[table]
    columns = ", ".join([*keys, "tx", *sums])
    conflict = ", ".join([*keys, "tx"])

    def upsert(row: str, sign: str) -> str:
        values = [e.replace("ROW", row) for e in keys.values()]
        values += ["0", *(f"{sign}({e.replace('ROW', row)})" for e in sums.values())]
        return (
            f"INSERT INTO {tally} ({columns}) VALUES ({', '.join(values)}) "
            f"ON CONFLICT ({conflict}) DO UPDATE SET {_upsert_set(sums)};"
        )

    watched = ", ".join(WATCHED[table])
    return [
        f"CREATE TRIGGER {tally}_insert AFTER INSERT ON {table} BEGIN {upsert('NEW', '+')} END",
        f"CREATE TRIGGER {tally}_delete AFTER DELETE ON {table} BEGIN {upsert('OLD', '-')} END",
        f"CREATE TRIGGER {tally}_update AFTER UPDATE OF {watched} ON {table} "
        f"BEGIN {upsert('OLD', '-')} {upsert('NEW', '+')} END",
    ]


def _postgres_triggers(table: str) -> list[str]:
    """Statement-level triggers over transition tables: one grouped upsert per statement,
    into rows of this transaction only."""
    tally, keys, sums = TALLIES[table]
    columns = ", ".join([*keys, "tx", *sums])
    conflict = ", ".join([*keys, "tx"])
    positions = ", ".join(str(i + 1) for i in range(len(keys)))

    def part(rows: str, sign: str) -> str:
        exprs = [f"{e.replace('ROW', 'r')} AS {k}" for k, e in keys.items()]
        exprs += [f"{sign}({e.replace('ROW', 'r')}) AS {k}" for k, e in sums.items()]
        return f"SELECT {', '.join(exprs)} FROM {rows} r"

    def body(parts: list[str]) -> str:
        totals = ", ".join(f"sum(d.{c})" for c in sums)
        nonzero = " OR ".join(f"sum(d.{c}) <> 0" for c in sums)
        return (
            f"INSERT INTO {tally} AS t ({columns}) "
            f"SELECT {', '.join(f'd.{k}' for k in keys)}, txid_current(), {totals} "
            f"FROM ({' UNION ALL '.join(parts)}) d GROUP BY {positions} HAVING {nonzero} "
            f"ORDER BY {positions} "
            f"ON CONFLICT ({conflict}) DO UPDATE SET "
            + ", ".join(f"{c} = t.{c} + excluded.{c}" for c in sums)
        )

    statements = []
    for op_name, parts, referencing in (
        ("insert", [part("new_rows", "+")], "NEW TABLE AS new_rows"),
        ("delete", [part("old_rows", "-")], "OLD TABLE AS old_rows"),
        (
            "update",
            [part("old_rows", "-"), part("new_rows", "+")],
            "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        ),
    ):
        function = f"crmbot_{tally}_{op_name}"
        statements.append(
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {body(parts)}; RETURN NULL; END $$"
        )
        statements.append(
            f"CREATE TRIGGER {tally}_{op_name} AFTER {op_name.upper()} ON {table} "
            f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    return statements


# The first response: the earliest `updated_at` of a reply the outbox performed.
_SET_FIRST_RESPONSE = (
    "UPDATE cases SET first_response_at = NEW.updated_at WHERE id = NEW.case_id "
    "AND (first_response_at IS NULL OR first_response_at > NEW.updated_at)"
)
_IS_REPLY_DONE = f"NEW.state = 'done' AND NEW.action IN {REPLY_ACTIONS} AND NEW.case_id IS NOT NULL"


def _first_response_triggers(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [
            "CREATE FUNCTION crmbot_first_response() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {_SET_FIRST_RESPONSE}; RETURN NULL; END $$",
            "CREATE TRIGGER outbox_first_response_insert AFTER INSERT ON outbox FOR EACH ROW "
            f"WHEN ({_IS_REPLY_DONE}) EXECUTE FUNCTION crmbot_first_response()",
            "CREATE TRIGGER outbox_first_response_update AFTER UPDATE OF state, updated_at "
            f"ON outbox FOR EACH ROW WHEN ({_IS_REPLY_DONE}) "
            "EXECUTE FUNCTION crmbot_first_response()",
        ]
    return [
        "CREATE TRIGGER outbox_first_response_insert AFTER INSERT ON outbox "
        f"WHEN {_IS_REPLY_DONE} BEGIN {_SET_FIRST_RESPONSE}; END",
        "CREATE TRIGGER outbox_first_response_update AFTER UPDATE OF state, updated_at "
        f"ON outbox WHEN {_IS_REPLY_DONE} BEGIN {_SET_FIRST_RESPONSE}; END",
    ]


def _backfill() -> None:
    for table, (tally, keys, sums) in TALLIES.items():
        exprs = [e.replace("ROW.", "") for e in keys.values()]
        totals = [f"sum({e.replace('ROW.', '')})" for e in sums.values()]
        op.execute(
            f"INSERT INTO {tally} ({', '.join([*keys, 'tx', *sums])}) "
            f"SELECT {', '.join(exprs)}, 0, {', '.join(totals)} FROM {table} "
            f"GROUP BY {', '.join(exprs)}"
        )
    op.execute(
        "UPDATE cases SET first_response_at = (SELECT min(o.updated_at) FROM outbox o "
        f"WHERE o.case_id = cases.id AND o.state = 'done' AND o.action IN {REPLY_ACTIONS}) "
        "WHERE id IN (SELECT case_id FROM outbox "
        f"WHERE state = 'done' AND action IN {REPLY_ACTIONS})"
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True))
    _tables()
    _backfill()
    op.create_index(
        "ix_cases_open_due",
        "cases",
        list(OPEN_DUE_COLUMNS),
        unique=False,
        sqlite_where=sa.text(OPEN_CASES_SQL),
        postgresql_where=sa.text(OPEN_CASES_SQL),
    )
    op.create_index(
        "ix_cases_contact_opened",
        "cases",
        list(CONTACT_CASES_COLUMNS),
        unique=False,
        sqlite_where=sa.text(CONTACT_CASES_SQL),
        postgresql_where=sa.text(CONTACT_CASES_SQL),
    )
    op.create_index(
        "ix_cases_closed",
        "cases",
        ["last_request_at"],
        unique=False,
        sqlite_where=sa.text(CLOSED_CASES_SQL),
        postgresql_where=sa.text(CLOSED_CASES_SQL),
    )
    for table in TALLIES:
        for statement in (
            _postgres_triggers(table) if dialect == "postgresql" else _sqlite_triggers(table)
        ):
            op.execute(statement)
    for statement in _first_response_triggers(dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for trigger, table in (
        ("outbox_first_response_insert", "outbox"),
        ("outbox_first_response_update", "outbox"),
        *((f"{TALLIES[t][0]}_{o}", t) for t in TALLIES for o in ("insert", "delete", "update")),
    ):
        on = f" ON {table}" if dialect == "postgresql" else ""
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}{on}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS crmbot_first_response()")
        for tally, _, _ in TALLIES.values():
            for o in ("insert", "delete", "update"):
                op.execute(f"DROP FUNCTION IF EXISTS crmbot_{tally}_{o}()")
    op.drop_index("ix_cases_closed", table_name="cases")
    op.drop_index("ix_cases_open_due", table_name="cases")
    op.drop_index("ix_cases_contact_opened", table_name="cases")
    op.drop_table("outbox_tallies")
    op.drop_table("request_tallies")
    op.drop_table("case_tallies")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("first_response_at")
