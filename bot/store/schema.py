"""The store's tables, in SQLAlchemy Core; Alembic migrations create them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)

# An open case: not resolved, closed nor merged (the partial index ix_cases_open and the
# queries of bot/store/kpi.py use this exact text so that both databases pick the index).
OPEN_CASES_SQL = "status NOT IN ('resolved', 'closed') AND merged_into IS NULL"
# What the open backlog's summary and next due dates read (the covering ix_cases_open_due).
OPEN_DUE_COLUMNS = (
    "category",
    "priority",
    "first_response_due",
    "resolution_due",
    "first_response_at",
    "reference",
    "status",  # SQLite (3.40) covers a read with a partial index only when the index
    "merged_into",  # holds the columns of its own WHERE too
)
# A closed case (the partial index ix_cases_closed, same rule: the exact text in queries).
CLOSED_CASES_SQL = "status IN ('resolved', 'closed') AND merged_into IS NULL"
# The cases of a known contact (ix_cases_contact_opened: the page's most chased customers).
CONTACT_CASES_SQL = "contact_id IS NOT NULL AND merged_into IS NULL"
CONTACT_CASES_COLUMNS = ("opened_at", "contact_id", "follow_up_count", "merged_into")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: crmbot stores aware UTC timestamps only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


source_cursors = Table(
    "source_cursors",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("cursor", JSON, nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("lease_owner", String(200), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("failing_since", UTCDateTime(), nullable=True),
    Column("polled_at", UTCDateTime(), nullable=True),  # last successful poll (readiness)
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=True, index=True),
    Column("name", String(300), nullable=True),
    Column("phone", String(40), nullable=True, index=True),
    Column("company", String(300), nullable=True),
    Column("external_ids", JSON, nullable=False, default=dict),
    Column("attributes", JSON, nullable=False, default=dict),
    Column("merged_into", Integer, ForeignKey("contacts.id"), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # A delivery failure for this address (migration 0004): no automatic mail goes to it.
    Column("bouncing_email", String(320), nullable=True, index=True),
    Column("bouncing_since", UTCDateTime(), nullable=True),
    Column("bounce_reason", String(300), nullable=True),
)

cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reference", String(40), nullable=True, unique=True),
    Column("contact_id", Integer, ForeignKey("contacts.id"), nullable=True, index=True),
    Column("subject", Text, nullable=False),
    Column("status", String(40), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("language", String(8), nullable=True),
    Column("category", String(80), nullable=True),
    Column("category_confidence", Float, nullable=True),
    Column("priority", String(4), nullable=True),
    Column("impact_score", Float, nullable=True),
    Column("reasons", JSON, nullable=False, default=list),
    Column("tags", JSON, nullable=False, default=list),
    Column("sla", JSON, nullable=True),
    Column("pauses", JSON, nullable=False, default=list),  # [[start, end|null], …] SLA clock
    Column("first_response_due", UTCDateTime(), nullable=True),
    Column("resolution_due", UTCDateTime(), nullable=True),
    Column("request_count", Integer, nullable=False, default=1),
    Column("follow_up_count", Integer, nullable=False, default=0),
    Column("duplicate_count", Integer, nullable=False, default=0),
    Column("merged_into", Integer, ForeignKey("cases.id"), nullable=True),
    Column("opened_at", UTCDateTime(), nullable=False),
    Column("last_request_at", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # when its first reply was done: kept by a trigger on the outbox (migration 0006)
    Column("first_response_at", UTCDateTime(), nullable=True),
    # steering indicators: cases by opening time and the open backlog (migration 0003)
    Index("ix_cases_opened_at", "opened_at"),
    Index("ix_cases_status_resolution_due", "status", "resolution_due"),
    Index("ix_cases_last_request_at", "last_request_at"),
    # the open backlog (status page, forecast, metrics): a partial index, same text as the query
    Index(
        "ix_cases_open",
        "opened_at",
        sqlite_where=text(OPEN_CASES_SQL),
        postgresql_where=text(OPEN_CASES_SQL),
    ),
    # the open backlog summed and its next due dates (page, /metrics): covers those reads
    Index(
        "ix_cases_open_due",
        *OPEN_DUE_COLUMNS,
        sqlite_where=text(OPEN_CASES_SQL),
        postgresql_where=text(OPEN_CASES_SQL),
    ),
    Index(
        "ix_cases_contact_opened",
        *CONTACT_CASES_COLUMNS,
        sqlite_where=text(CONTACT_CASES_SQL),
        postgresql_where=text(CONTACT_CASES_SQL),
    ),
    # closings by time (the page's chart and breaches today, the forecast's capacity)
    Index(
        "ix_cases_closed",
        "last_request_at",
        sqlite_where=text(CLOSED_CASES_SQL),
        postgresql_where=text(CLOSED_CASES_SQL),
    ),
)

requests = Table(
    "requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(200), nullable=False),
    Column("source_id", String(300), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("message_id", String(998), nullable=False, index=True),
    Column("in_reply_to", String(998), nullable=True),
    Column("references", JSON, nullable=False, default=list),
    Column("thread_key", String(300), nullable=True, index=True),
    Column("sender_email", String(320), nullable=True, index=True),
    Column("sender_name", String(300), nullable=True),
    Column("subject", Text, nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_clean", Text, nullable=False),
    Column("body_hash", String(64), nullable=False, index=True),
    Column("language", String(8), nullable=True),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("attachments", JSON, nullable=False, default=list),
    Column("auto_reply", String(60), nullable=True),
    Column("headers", JSON, nullable=False, default=dict),
    Column("defects", JSON, nullable=False, default=list),
    Column("raw", LargeBinary, nullable=True),
    Column("raw_size", Integer, nullable=False, default=0),
    Column("raw_truncated", Boolean, nullable=False, default=False),
    Column("contact_id", Integer, ForeignKey("contacts.id"), nullable=True, index=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=True, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("source", "source_id", name="uq_requests_source_source_id"),
    Index("ix_requests_received_at", "received_at"),
)

case_requests = Table(
    "case_requests",
    metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("request_id", Integer, ForeignKey("requests.id"), primary_key=True),
    Column("relation", String(20), nullable=False),  # origin | reply | follow_up | duplicate
    Column("reason", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(200), nullable=False),
    Column("source_id", String(300), nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw", LargeBinary, nullable=True),
    Column("raw_size", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("released_at", UTCDateTime(), nullable=True),
    UniqueConstraint("source", "source_id", name="uq_quarantine_source_source_id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(300), nullable=False, unique=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=True, index=True),
    Column("sink", String(200), nullable=False),
    Column("action", String(60), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("rule_id", String(200), nullable=True),
    Column("state", String(20), nullable=False),  # pending | claimed | done | failed | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("available_at", UTCDateTime(), nullable=False),
    Column("claimed_by", String(200), nullable=True),
    Column("claimed_until", UTCDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("result", JSON, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_outbox_state_available_at", "state", "available_at"),
    Index("ix_outbox_state_updated_at", "state", "updated_at"),  # steering (migration 0003)
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=True, index=True),
    Column("request_id", Integer, ForeignKey("requests.id"), nullable=True, index=True),
    Column("event", String(80), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("detail", JSON, nullable=False, default=dict),
    Column("created_at", UTCDateTime(), nullable=False),
)

timers = Table(
    "timers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("event", String(60), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False, index=True),
    Column("rule_id", String(200), nullable=True),
    Column("fired_at", UTCDateTime(), nullable=True),
    UniqueConstraint("case_id", "event", "due_at", name="uq_timers_case_event_due"),
)

contact_keys = Table(
    "contact_keys",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("contact_id", Integer, ForeignKey("contacts.id"), primary_key=True),
)

contact_links = Table(
    "contact_links",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("contact_id", Integer, ForeignKey("contacts.id"), nullable=False, index=True),
    Column("other_id", Integer, ForeignKey("contacts.id"), nullable=False, index=True),
    Column("relation", String(20), nullable=False),  # same | possible
    Column("score", Float, nullable=False),
    Column("reasons", JSON, nullable=False, default=list),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("contact_id", "other_id", name="uq_contact_links_pair"),
)

# An item's handling attempts, committed before it is handled and deleted once it is: a row
# that outlives a run means the process died while handling it (OOM kill, crash, kill -9).
item_attempts = Table(
    "item_attempts",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("source_id", String(300), primary_key=True),
    Column("attempts", Integer, nullable=False),
    Column("first_attempt_at", UTCDateTime(), nullable=False),
    Column("last_attempt_at", UTCDateTime(), nullable=False),
    Column("last_owner", String(200), nullable=True),
    Column("quarantined_at", UTCDateTime(), nullable=True),
)

# One API rate-limit budget per (connector, key), shared by every replica: a token bucket whose
# `tokens` were last refilled at `updated_at` (epoch seconds); nothing is granted before
# `paused_until` (a vendor's 429 Retry-After, seen by any replica).
connector_budgets = Table(
    "connector_budgets",
    metadata,
    Column("connector", String(200), primary_key=True),
    Column("key", String(100), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("paused_until", Float, nullable=False),
)

# OAuth2 tokens shared by every replica. `key` is a digest of the token endpoint, the client
# id and the configured refresh token (so an admin who configures a new refresh token starts a
# new row); the vendor may rotate the refresh token at each refresh: the newest one lives here.
# Secrets: the store must be protected like the settings file (docs/operations.md).
connector_tokens = Table(
    "connector_tokens",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("connector", String(200), nullable=False),
    Column("access_token", Text, nullable=True),
    Column("refresh_token", Text, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("version", Integer, nullable=False),
    Column("refreshed_at", UTCDateTime(), nullable=True),
)

# Counts kept by triggers in the same transaction as the rows they count (migration 0006),
# so that /metrics and the status page never count a million rows. On PostgreSQL each
# transaction writes its own rows (`tx`: its id) and `bot/store/tallies.compact` folds them
# into tx = 0; on SQLite tx is always 0. An absent category or priority is ''.
case_tallies = Table(
    "case_tallies",
    metadata,
    Column("category", String(80), primary_key=True),
    Column("priority", String(4), primary_key=True),
    Column("status", String(40), primary_key=True),
    Column("merged", Boolean, primary_key=True),
    Column("tx", BigInteger, primary_key=True),
    Column("cases", BigInteger, nullable=False),
    Column("follow_ups", BigInteger, nullable=False),
    Column("duplicates", BigInteger, nullable=False),
)

request_tallies = Table(
    "request_tallies",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("tx", BigInteger, primary_key=True),
    Column("requests", BigInteger, nullable=False),
)

outbox_tallies = Table(
    "outbox_tallies",
    metadata,
    Column("sink", String(200), primary_key=True),
    Column("action", String(60), primary_key=True),
    Column("state", String(20), primary_key=True),
    Column("tx", BigInteger, primary_key=True),
    Column("actions", BigInteger, nullable=False),
)
