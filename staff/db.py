"""Staff tables (their own MetaData, in the DATABASE_URL database) and their queries.

* ``staff_users``           accounts: argon2 password hash, admin or not
* ``staff_sessions``        server-side sessions: the SHA-256 of the cookie's session id, expiry
* ``staff_login_attempts``  sign-in attempts per username (lock-out)
* ``request_history``       status changes and notes on appointment requests, who and when
* ``audit_log``             transcript views, exports, privacy operations
* ``intent_corrections``    user messages staff marked as misunderstood, with the right intent

The appointment requests themselves (``requests``, ``deliveries``) belong to ``actions.storage``;
this module reads them and changes only their ``status``. Rasa's ``events`` table (in the
TRACKER_DATABASE_URL database) is described here, read-only except for privacy deletions, in its
own MetaData that is never created by this package (Rasa creates it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Engine

from actions import live_store
from actions.storage import (
    as_utc,
    create_tables,
    get_engine,
    new_engine,
    queue_notice,
    record_move,
    requests_table,
    utcnow,
)

logger = logging.getLogger(__name__)

STATUSES: tuple[str, ...] = ("new", "contacted", "booked", "closed")
KINDS: tuple[str, ...] = ("appointment", "handoff")
CHUNK = 500  # ids per IN (...) list

metadata = MetaData()

users_table = Table(
    "staff_users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_login_at", DateTime(timezone=True)),
)

sessions_table = Table(
    "staff_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

login_attempts_table = Table(
    "staff_login_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("succeeded", Boolean, nullable=False),
)

history_table = Table(
    "request_history",
    metadata,
    Column("id", Integer, primary_key=True),
    # requests.id (no foreign key: the requests table is in actions.storage's MetaData; the
    # privacy operations delete history rows together with their request)
    Column("request_id", Integer, nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("username", String(64), nullable=False),
    Column("old_status", String(16)),
    Column("new_status", String(16)),
    Column("note", Text),
)

audit_table = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("username", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("target", String(255), index=True),  # conversation id or request reference
    Column("details", Text),  # JSON: filters, counts (never message text)
)

corrections_table = Table(
    "intent_corrections",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("event_id", Integer, nullable=False),  # events.id of the user message
    Column("text", Text, nullable=False),
    Column("predicted_intent", String(128)),
    Column("correct_intent", String(128), nullable=False),
    Column("username", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("sender_id", "event_id", name="uq_correction_message"),
)

# Rasa's SQLTrackerStore table (rasa.core.tracker_store.SQLTrackerStore.SQLEvent).
tracker_metadata = MetaData()
events_table = Table(
    "events",
    tracker_metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)


def staff_engine(url: str) -> Engine:
    """The DATABASE_URL engine (shared with actions.storage) with the staff tables created."""
    engine = get_engine(url)
    create_tables(metadata, engine)
    live_store.ensure_tables(engine)  # live chats: written by the action server and the console
    return engine


@lru_cache(maxsize=4)
def tracker_engine(url: str) -> Engine:
    """An engine on Rasa's conversation database. Tables are Rasa's to create."""
    return new_engine(url)


def has_events_table(engine: Engine) -> bool:
    """False until Rasa has stored its first conversation (it creates the table then)."""
    return inspect(engine).has_table("events")


def chunked(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


# ---- requests and their history ----------------------------------------------------------------


def request_view(row: Any) -> dict[str, Any]:
    data = dict(row)
    for name in ("created_at", "appointment_start", "appointment_end"):
        data[name] = as_utc(data.get(name))
    data.pop("idempotency_key", None)
    return data


def find_requests(
    engine: Engine,
    status: str | None = None,
    kind: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Requests, newest first, optionally of one status and/or kind."""
    query = select(requests_table).order_by(requests_table.c.created_at.desc(),
                                            requests_table.c.id.desc())
    if status:
        query = query.where(requests_table.c.status == status)
    if kind:
        query = query.where(requests_table.c.kind == kind)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    with engine.connect() as conn:
        return [request_view(row) for row in conn.execute(query).mappings()]


def get_request(engine: Engine, reference: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(requests_table).where(requests_table.c.reference == reference)
        ).mappings().first()
    return request_view(row) if row is not None else None


def requests_of_senders(engine: Engine, senders: Sequence[str]) -> list[dict[str, Any]]:
    """Requests made in these conversations, oldest first."""
    found: list[dict[str, Any]] = []
    with engine.connect() as conn:
        for chunk in chunked(list(senders)):
            query = (select(requests_table).where(requests_table.c.sender_id.in_(chunk))
                     .order_by(requests_table.c.id))
            found += [request_view(row) for row in conn.execute(query).mappings()]
    return found


def appointment_senders(engine: Engine) -> list[str]:
    """Conversation ids that produced an appointment request (for the list's flag filter)."""
    with engine.connect() as conn:
        return list(conn.execute(
            select(requests_table.c.sender_id).distinct()
            .where(requests_table.c.kind == "appointment")
        ).scalars())


def request_history(engine: Engine, request_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(history_table).where(history_table.c.request_id == request_id)
            .order_by(history_table.c.at, history_table.c.id)
        ).mappings().all()
    return [{**dict(row), "at": as_utc(row["at"])} for row in rows]


def change_request(
    engine: Engine, reference: str, username: str, status: str | None, note: str | None
) -> dict[str, Any] | None:
    """Set a request's status and/or add a note; record who and when. None: no such request."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    note = (note or "").strip() or None
    with engine.begin() as conn:
        row = conn.execute(
            select(requests_table.c.id, requests_table.c.status)
            .where(requests_table.c.reference == reference)
        ).first()
        if row is None:
            return None
        new_status = status if status is not None and status != row.status else None
        if new_status is None and note is None:
            return {"changed": False}
        if new_status is not None:
            conn.execute(update(requests_table).where(requests_table.c.id == row.id)
                         .values(status=new_status))
        conn.execute(history_table.insert().values(
            request_id=row.id, at=utcnow(), username=username,
            old_status=row.status if new_status else None, new_status=new_status, note=note,
        ))
    logger.info("Request %s changed by %s%s", reference, username,
                f" (status {row.status} -> {new_status})" if new_status else " (note)")
    return {"changed": True}


def record_appointment_decision(
    engine: Engine, reference: str, username: str, status: str, note: str,
    uid: str, forget_event: bool, notice: str | None = None,
    notice_targets: Sequence[str] = (),
) -> bool:
    """After staff confirmed or declined a calendar appointment: the request's status, a
    history entry, (declined) the event's UID cleared, and the notice to the patient queued,
    in one transaction. False when the request no longer has that event (changed at the same
    moment): nothing is written then."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    with engine.begin() as conn:
        row = conn.execute(
            select(requests_table).where(requests_table.c.reference == reference)
            .where(requests_table.c.calendar_uid == uid)
        ).mappings().first()
        if row is None:
            return False
        values: dict[str, Any] = {"status": status}
        if forget_event:
            values["calendar_uid"] = None
        conn.execute(update(requests_table).where(requests_table.c.id == row["id"])
                     .values(**values))
        _history(conn, row["id"], username, row["status"], status, note)
        if notice:
            queue_notice(conn, dict(row), notice, list(notice_targets))
    logger.info("Request %s: appointment %s by %s", reference,
                "declined" if forget_event else "confirmed", username)
    return True


def record_appointment_move(
    engine: Engine, reference: str, username: str, old_uid: str, new_uid: str,
    start: datetime, end: datetime, note: str, notice_targets: Sequence[str] = (),
) -> bool:
    """After staff moved a calendar appointment to [start, end) (event ``new_uid``): the
    request's appointment, a history entry and the patient's notice, in one transaction.
    False when the request no longer has ``old_uid``: nothing is written then."""
    with engine.begin() as conn:
        row = conn.execute(select(requests_table).where(requests_table.c.reference == reference)
                           ).mappings().first()
        if row is None or not record_move(conn, row["id"], old_uid, new_uid, start, end):
            return False
        _history(conn, row["id"], username, row["status"], row["status"], note)
        moved = {**dict(row), "appointment_start": start, "appointment_end": end}
        queue_notice(conn, moved, "moved", list(notice_targets),
                     previous_start=row["appointment_start"])
    logger.info("Request %s: appointment moved by %s", reference, username)
    return True


def _history(conn: Any, request_id: int, username: str, old: str, new: str, note: str) -> None:
    changed = new != old
    conn.execute(history_table.insert().values(
        request_id=request_id, at=utcnow(), username=username,
        old_status=old if changed else None, new_status=new if changed else None, note=note))


# ---- audit log ---------------------------------------------------------------------------------


def audit(engine: Engine, username: str, action: str, target: str | None = None,
          details: dict[str, Any] | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(audit_table.insert().values(
            at=utcnow(), username=username, action=action, target=target,
            details=json.dumps(details, sort_keys=True) if details else None,
        ))


def audit_entries(engine: Engine, limit: int, offset: int = 0,
                  action: str | None = None) -> list[dict[str, Any]]:
    query = select(audit_table).order_by(audit_table.c.id.desc()).limit(limit).offset(offset)
    if action:
        query = query.where(audit_table.c.action == action)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [{**dict(row), "at": as_utc(row["at"]),
             "details": json.loads(row["details"]) if row["details"] else {}} for row in rows]


# ---- intent corrections ------------------------------------------------------------------------


def save_correction(engine: Engine, sender_id: str, event_id: int, text: str,
                    predicted: str | None, correct: str, username: str) -> None:
    """Mark one user message as misunderstood (again: the latest choice wins)."""
    values = {"text": text, "predicted_intent": predicted, "correct_intent": correct,
              "username": username, "at": utcnow()}
    with engine.begin() as conn:
        changed = conn.execute(
            update(corrections_table)
            .where(corrections_table.c.sender_id == sender_id)
            .where(corrections_table.c.event_id == event_id)
            .values(**values)
        ).rowcount
        if not changed:
            conn.execute(corrections_table.insert().values(
                sender_id=sender_id, event_id=event_id, **values))


def delete_correction(engine: Engine, sender_id: str, event_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(delete(corrections_table)
                     .where(corrections_table.c.sender_id == sender_id)
                     .where(corrections_table.c.event_id == event_id))


def corrections(engine: Engine, sender_id: str | None = None) -> list[dict[str, Any]]:
    query = select(corrections_table).order_by(corrections_table.c.at.desc(),
                                               corrections_table.c.id.desc())
    if sender_id is not None:
        query = query.where(corrections_table.c.sender_id == sender_id)
    with engine.connect() as conn:
        return [{**dict(row), "at": as_utc(row["at"])} for row in conn.execute(query).mappings()]


def delete_where_in(conn: Any, table: Table, column: Any, values: Iterable[Any]) -> int:
    """DELETE ... WHERE column IN (values), in chunks; the number of rows deleted."""
    total = 0
    values = list(values)
    for chunk in chunked(values):
        total += conn.execute(delete(table).where(column.in_(chunk))).rowcount or 0
    return total
