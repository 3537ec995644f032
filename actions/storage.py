"""Stored requests for the front desk and their delivery outbox (SQLAlchemy).

Three tables:

* ``requests``   - one row per confirmed appointment request (or hand-off message): the
  reference the patient was given, the fields, channel, sender id, created time (UTC) and the
  staff status.
* ``deliveries`` - one row per way the request must reach the clinic (e-mail, local outbox file,
  webhook), each with its own status, attempts and next retry time. The delivery worker
  (``actions.outbox``) claims due rows, sends them, and marks them delivered.
* ``notices``    - calendar mode: what the patient is told after the booking, when staff confirm,
  decline or move the appointment or the patient moves it (e-mail with an updated ``.ics``, or an
  SMS to the number they booked from). One row per notice and way, with the appointment as it
  was at that moment, delivered by the same worker in the same way.

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
    Column("language", String(8)),  # the language the patient was answered in: en | es
)
# Columns added after the first release: added to an existing table when missing (nullable).
LATER_COLUMNS = {"requests": ("appointment_start", "appointment_end", "calendar_uid",
                              "language")}

def outbox_columns() -> list[Column]:
    """What every row the delivery worker sends carries: its state, attempts, next retry time
    and the lease of the worker that claimed it."""
    return [
        Column("status", String(16), nullable=False, default="pending"),  # pending | delivered
        Column("attempts", Integer, nullable=False, default=0),
        Column("next_attempt_at", DateTime(timezone=True), nullable=False),
        Column("claimed_until", DateTime(timezone=True)),
        Column("last_error", String(500)),
        Column("delivered_at", DateTime(timezone=True)),
    ]


deliveries_table = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("request_id", Integer, ForeignKey("requests.id", ondelete="CASCADE"), nullable=False),
    # email | file | webhook (the front desk); patient_email | patient_file (the patient)
    Column("target", String(16), nullable=False),
    *outbox_columns(),
    UniqueConstraint("request_id", "target", name="uq_delivery_request_target"),
)

notices_table = Table(
    "notices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("request_id", Integer, ForeignKey("requests.id", ondelete="CASCADE"), nullable=False),
    Column("notice", String(16), nullable=False),  # confirmed | declined | moved
    Column("target", String(16), nullable=False),  # patient_email | patient_file | patient_sms
    # the appointment as the notice describes it (UTC), and where it was before a move
    Column("notice_start", DateTime(timezone=True)),
    Column("notice_end", DateTime(timezone=True)),
    Column("previous_start", DateTime(timezone=True)),
    Column("sequence", Integer, nullable=False, default=1),  # iCalendar SEQUENCE of the update
    Column("noticed_at", DateTime(timezone=True), nullable=False),
    *outbox_columns(),
)
OUTBOXES = {table.name: table for table in (deliveries_table, notices_table)}

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


def add_missing_columns(engine: Engine, tables: MetaData | None = None,
                        later: dict[str, tuple[str, ...]] | None = None) -> None:
    """A database made by an earlier version gets the nullable columns added since
    (``later``: table -> column names, of ``tables``; the requests table's by default)."""
    tables = metadata if tables is None else tables
    for table_name, names in (LATER_COLUMNS if later is None else later).items():
        table = tables.tables[table_name]
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


def claim_due_deliveries(engine: Engine, lease_seconds: int, limit: int = 20,
                         table: Table = deliveries_table) -> list[dict]:
    """Claim pending deliveries (or ``notices_table``: notices to patients) whose retry time
    has come; each is claimed by one worker only."""
    now = utcnow()
    claimed: list[dict] = []
    with engine.connect() as conn:
        due = conn.execute(
            select(table.c.id)
            .where(table.c.status == "pending")
            .where(table.c.next_attempt_at <= now)
            .order_by(table.c.next_attempt_at)
            .limit(limit)
        ).all()
    for (delivery_id,) in due:
        with engine.begin() as conn:
            result = conn.execute(
                update(table)
                .where(table.c.id == delivery_id)
                .where(table.c.status == "pending")
                .where((table.c.claimed_until.is_(None)) | (table.c.claimed_until < now))
                .values(claimed_until=now + timedelta(seconds=lease_seconds))
            )
            if result.rowcount != 1:
                continue
            row = conn.execute(
                select(table, requests_table)
                .join(requests_table, requests_table.c.id == table.c.request_id)
                .where(table.c.id == delivery_id)
            ).mappings().first()
        if row is not None:
            claimed.append(_delivery_view(row, table))
    return claimed


def _delivery_view(row: Any, table: Table) -> dict:
    """A claimed delivery with its request's fields (column names of both tables). A notice's
    appointment is the one it describes, not necessarily the request's current one."""
    data = {key: row[key] for key in row.keys()}
    data["outbox"] = table.name
    data["delivery_id"] = row[table.c.id]
    data["request_id"] = row[requests_table.c.id]
    data["delivery_status"] = row[table.c.status]
    data["request_status"] = row[requests_table.c.status]
    data["created_at"] = as_utc(row[requests_table.c.created_at])
    if table is notices_table:
        data.update(appointment_start=as_utc(row[table.c.notice_start]),
                    appointment_end=as_utc(row[table.c.notice_end]),
                    previous_start=as_utc(row[table.c.previous_start]),
                    noticed_at=as_utc(row[table.c.noticed_at]))
    return data


def mark_delivered(engine: Engine, delivery_id: int, outbox: str = "deliveries") -> None:
    table = OUTBOXES[outbox]
    with engine.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c.id == delivery_id)
            .values(status="delivered", delivered_at=utcnow(), claimed_until=None,
                    attempts=table.c.attempts + 1, last_error=None)
        )


def mark_failed(engine: Engine, delivery_id: int, attempts: int, retry_in: float,
                error: str, outbox: str = "deliveries") -> None:
    """Record a failed attempt; the delivery stays pending and is retried after ``retry_in``."""
    table = OUTBOXES[outbox]
    with engine.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c.id == delivery_id)
            .values(
                attempts=attempts,
                next_attempt_at=utcnow() + timedelta(seconds=retry_in),
                claimed_until=None,
                last_error=error[:500],
            )
        )


def queue_notice(conn: Any, request: dict[str, Any], notice: str, targets: list[str],
                 previous_start: datetime | None = None) -> None:
    """Queue a notice to the patient about ``request``'s appointment as it is now (inside the
    caller's transaction, so a decision and its notice are stored together or not at all)."""
    if not targets:
        return
    sequence = conn.execute(
        select(notices_table.c.sequence).where(notices_table.c.request_id == request["id"])
        .order_by(notices_table.c.sequence.desc()).limit(1)).scalar()
    now = utcnow()
    for target in targets:
        conn.execute(notices_table.insert().values(
            request_id=request["id"], notice=notice, target=target,
            notice_start=request.get("appointment_start"),
            notice_end=request.get("appointment_end"), previous_start=previous_start,
            sequence=(sequence or 0) + 1,
            noticed_at=now, status="pending", attempts=0, next_attempt_at=now))
    logger.info("Queued a %s notice for request %s (%s)", notice, request["reference"],
                ", ".join(targets))


def record_move(conn: Any, request_id: int, old_uid: str, new_uid: str, start: datetime,
                end: datetime) -> bool:
    """The request's appointment is now [start, end) with event ``new_uid`` (inside the caller's
    transaction). False when the request no longer has ``old_uid`` (changed at the same
    moment): nothing is written then."""
    result = conn.execute(
        update(requests_table).where(requests_table.c.id == request_id)
        .where(requests_table.c.calendar_uid == old_uid)
        .values(appointment_start=start, appointment_end=end, calendar_uid=new_uid))
    return result.rowcount == 1


def store_move(engine: Engine, request: dict[str, Any], new_uid: str, start: datetime,
               end: datetime, notice_targets: list[str], status: str | None = None) -> bool:
    """A patient moved their appointment: the request's new time and event (and ``status``,
    e.g. back to "new" for staff to confirm again) and the e-mail notice, in one transaction.
    False when the request changed at the same moment."""
    with engine.begin() as conn:
        if not record_move(conn, request["id"], request["calendar_uid"], new_uid, start, end):
            return False
        if status:
            conn.execute(update(requests_table).where(requests_table.c.id == request["id"])
                         .values(status=status))
        queue_notice(conn, {**request, "appointment_start": start, "appointment_end": end},
                     "moved", notice_targets, previous_start=request["appointment_start"])
    return True


def list_notices(engine: Engine, request_id: int) -> list[dict]:
    """A request's notices to the patient, oldest first (for the console and tests)."""
    with engine.connect() as conn:
        rows = conn.execute(select(notices_table).where(notices_table.c.request_id == request_id)
                            .order_by(notices_table.c.id)).mappings().all()
    return [dict(row) for row in rows]


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
