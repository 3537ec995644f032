"""Stored requests for the front desk and their delivery outbox (SQLAlchemy).

Two tables:

* ``requests``   - one row per confirmed appointment request (or hand-off message): the
  reference the patient was given, the fields, channel, sender id, created time (UTC) and the
  staff status.
* ``deliveries`` - one row per way the request must reach the clinic (e-mail, local outbox file,
  webhook), each with its own status, attempts and next retry time. The delivery worker
  (``actions.outbox``) claims due rows, sends them, and marks them delivered.

SQLite under ``var/`` by default; PostgreSQL (or any SQLAlchemy URL) through ``DATABASE_URL``.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

logger = logging.getLogger(__name__)

metadata = MetaData()

requests_table = Table(
    "requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("reference", String(16), nullable=False, unique=True),
    # One conversation's one confirmed form: the same key never makes a second row.
    Column("idempotency_key", String(128), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # appointment | handoff
    Column("name", String(200), nullable=False),
    Column("phone", String(32)),
    Column("email", String(254)),
    Column("preferred_day", String(10)),  # ISO date, clinic time zone
    Column("preferred_start", String(5)),  # HH:MM, clinic time zone
    Column("preferred_end", String(5)),
    Column("preferred_text", String(200)),
    Column("reason", Text),
    Column("patient_status", String(16)),  # new | returning
    Column("message", Text),  # hand-off message to staff
    Column("channel", String(64), nullable=False),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False, default="new"),  # staff: new|contacted|...
    # calendar mode: the appointment booked in the clinic's calendar (UTC) and its event
    Column("appointment_start", DateTime(timezone=True)),
    Column("appointment_end", DateTime(timezone=True)),
    Column("calendar_uid", String(255)),
)
# Columns added after the first release: added to an existing table when missing (nullable).
LATER_COLUMNS = {"requests": ("appointment_start", "appointment_end", "calendar_uid")}

deliveries_table = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("request_id", Integer, ForeignKey("requests.id", ondelete="CASCADE"), nullable=False),
    # email | file | webhook (the front desk); patient_email | patient_file (the patient)
    Column("target", String(16), nullable=False),
    Column("status", String(16), nullable=False, default="pending"),  # pending | delivered
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("claimed_until", DateTime(timezone=True)),
    Column("last_error", String(500)),
    Column("delivered_at", DateTime(timezone=True)),
    UniqueConstraint("request_id", "target", name="uq_delivery_request_target"),
)

# Crockford-style alphabet: no I, L, O, U, 0 or 1 to misread over the phone.
_REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every stored time is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def new_reference() -> str:
    """A short reference a patient can read out: 'PMR-7KQ4TZ'."""
    return "PMR-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(6))


def new_engine(url: str) -> Engine:
    """An engine for any SQLAlchemy URL; a SQLite file's folder is created, and SQLite waits up
    to 30 s for a lock instead of failing at once."""
    connect_args: dict[str, Any] = {}
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"timeout": 30}
    return create_engine(url, future=True, pool_pre_ping=True, connect_args=connect_args)


@lru_cache(maxsize=4)
def get_engine(url: str) -> Engine:
    """One engine per database URL per process; creates the tables if they are missing."""
    engine = new_engine(url)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    create_tables(metadata, engine)
    add_missing_columns(engine)
    return engine


def add_missing_columns(engine: Engine) -> None:
    """A database made by an earlier version gets the nullable columns added since."""
    for table_name, names in LATER_COLUMNS.items():
        table = metadata.tables[table_name]
        present = {column["name"] for column in inspect(engine).get_columns(table_name)}
        for name in names:
            if name in present:
                continue
            column = table.columns[name]
            kind = column.type.compile(dialect=engine.dialect)
            try:
                with engine.begin() as conn:
                    conn.execute(text(f'ALTER TABLE {table_name} ADD COLUMN {name} {kind}'))
                logger.info("Added column %s.%s", table_name, name)
            except (OperationalError, ProgrammingError):  # another process added it first
                logger.info("Column %s.%s was being added by another process", table_name, name)


def create_tables(tables: MetaData, engine: Engine, attempts: int = 5) -> None:
    """``tables.create_all(engine)``, tolerating another process creating the same tables at the
    same moment: ``make run`` starts the web server, the action server and the delivery worker
    together on a new database, and the loser of that race gets "table already exists" (SQLite)
    or a duplicate-type error (PostgreSQL) from its CREATE TABLE. Checking again finds them."""
    for attempt in range(1, attempts + 1):
        try:
            tables.create_all(engine)
            return
        except (OperationalError, ProgrammingError, IntegrityError) as error:
            if attempt == attempts:
                raise
            logger.info("Tables were being created by another process (%s); checking again",
                        type(error).__name__)
            time.sleep(0.1 * attempt)


@dataclass(frozen=True)
class StoredRequest:
    id: int
    reference: str
    created: bool  # False when the idempotency key already had a row


def store_request(
    engine: Engine, fields: dict[str, Any], idempotency_key: str, targets: list[str],
    reference: str | None = None,
) -> StoredRequest:
    """Store a request and queue its deliveries in one transaction, at most once per key.
    ``reference``: the one already given to the calendar event, if any."""
    existing = _find_by_key(engine, idempotency_key)
    if existing is not None:
        return existing
    now = utcnow()
    for attempt in range(5):  # a new reference on the (very rare) reference collision
        reference = reference if reference and attempt == 0 else new_reference()
        try:
            with engine.begin() as conn:
                request_id = conn.execute(
                    requests_table.insert().values(
                        **fields,
                        reference=reference,
                        idempotency_key=idempotency_key,
                        created_at=now,
                        status="new",
                    )
                ).inserted_primary_key[0]
                for target in targets:
                    conn.execute(
                        deliveries_table.insert().values(
                            request_id=request_id,
                            target=target,
                            status="pending",
                            attempts=0,
                            next_attempt_at=now,
                        )
                    )
            logger.info("Stored %s request %s (deliveries: %s)", fields.get("kind"), reference,
                        ", ".join(targets))
            return StoredRequest(id=int(request_id), reference=reference, created=True)
        except IntegrityError:
            existing = _find_by_key(engine, idempotency_key)
            if existing is not None:  # a concurrent retry of the same submission won
                return existing
    raise RuntimeError("could not allocate a unique request reference")


def _find_by_key(engine: Engine, idempotency_key: str) -> StoredRequest | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(requests_table.c.id, requests_table.c.reference).where(
                requests_table.c.idempotency_key == idempotency_key
            )
        ).first()
    if row is None:
        return None
    return StoredRequest(id=int(row.id), reference=row.reference, created=False)


def find_by_reference(engine: Engine, reference: str) -> dict | None:
    """The stored request with this reference (case-insensitive), or None."""
    with engine.connect() as conn:
        row = conn.execute(select(requests_table).where(
            requests_table.c.reference == reference.upper())).mappings().first()
    return dict(row) if row else None


def set_request_status(engine: Engine, request_id: int, status: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(requests_table).where(requests_table.c.id == request_id)
                     .values(status=status))


def claim_due_deliveries(engine: Engine, lease_seconds: int, limit: int = 20) -> list[dict]:
    """Claim pending deliveries whose retry time has come; each is claimed by one worker only."""
    now = utcnow()
    claimed: list[dict] = []
    with engine.connect() as conn:
        due = conn.execute(
            select(deliveries_table.c.id)
            .where(deliveries_table.c.status == "pending")
            .where(deliveries_table.c.next_attempt_at <= now)
            .order_by(deliveries_table.c.next_attempt_at)
            .limit(limit)
        ).all()
    for (delivery_id,) in due:
        with engine.begin() as conn:
            result = conn.execute(
                update(deliveries_table)
                .where(deliveries_table.c.id == delivery_id)
                .where(deliveries_table.c.status == "pending")
                .where(
                    (deliveries_table.c.claimed_until.is_(None))
                    | (deliveries_table.c.claimed_until < now)
                )
                .values(claimed_until=now + timedelta(seconds=lease_seconds))
            )
            if result.rowcount != 1:
                continue
            row = conn.execute(
                select(deliveries_table, requests_table)
                .join(requests_table, requests_table.c.id == deliveries_table.c.request_id)
                .where(deliveries_table.c.id == delivery_id)
            ).mappings().first()
        if row is not None:
            claimed.append(_delivery_view(row))
    return claimed


def _delivery_view(row: Any) -> dict:
    """A claimed delivery with its request's fields (column names of both tables)."""
    data = {key: row[key] for key in row.keys()}
    data["delivery_id"] = row[deliveries_table.c.id]
    data["request_id"] = row[requests_table.c.id]
    data["delivery_status"] = row[deliveries_table.c.status]
    data["created_at"] = as_utc(row[requests_table.c.created_at])
    return data


def mark_delivered(engine: Engine, delivery_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(deliveries_table)
            .where(deliveries_table.c.id == delivery_id)
            .values(status="delivered", delivered_at=utcnow(), claimed_until=None,
                    attempts=deliveries_table.c.attempts + 1, last_error=None)
        )


def mark_failed(engine: Engine, delivery_id: int, attempts: int, retry_in: float,
                error: str) -> None:
    """Record a failed attempt; the delivery stays pending and is retried after ``retry_in``."""
    with engine.begin() as conn:
        conn.execute(
            update(deliveries_table)
            .where(deliveries_table.c.id == delivery_id)
            .values(
                attempts=attempts,
                next_attempt_at=utcnow() + timedelta(seconds=retry_in),
                claimed_until=None,
                last_error=error[:500],
            )
        )


def backoff_seconds(attempts: int, first: int, maximum: int) -> float:
    """Delay before the next attempt after ``attempts`` failures: first, 2x, 4x, ... capped."""
    return float(min(maximum, first * (2 ** max(0, attempts - 1))))


def list_requests(engine: Engine) -> list[dict]:
    """Every stored request with its deliveries, oldest first (for staff tools and tests)."""
    with engine.connect() as conn:
        rows = conn.execute(select(requests_table).order_by(requests_table.c.id)).mappings().all()
        deliveries = conn.execute(select(deliveries_table)).mappings().all()
    by_request: dict[int, list[dict]] = {}
    for delivery in deliveries:
        by_request.setdefault(delivery["request_id"], []).append(dict(delivery))
    return [{**dict(row), "deliveries": by_request.get(row["id"], [])} for row in rows]
