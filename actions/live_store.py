"""Live chats with staff: who is waiting for a person, who has taken which conversation.

Two tables, in the clinic database (``DATABASE_URL``, beside ``requests``), shared by the action
server (a patient asks for a person), the staff console (accept, reply, hand back, close) and the
delivery worker (a wait that ran out):

* ``live_chats``     - one row per hand-off to a person: the conversation (``sender_id``), its
  channel and language, why (``asked``: the patient asked; ``staff``: staff picked it, e.g. a
  flagged one), its status (``waiting`` -> ``taken`` -> ``released`` / ``closed``, or
  ``waiting`` -> ``expired`` when no one accepted in time), who took it and when. A
  conversation has at most one open chat (``open_key`` is its sender id while the chat is open
  and NULL after: a unique column, so two processes cannot open two). An expired chat is
  handed back to the assistant by a delivery worker, which claims it with a lease
  (``hand_back_lease``) and records ``handed_back_at`` once Rasa took it: a hand-back that
  failed, or a worker that stopped meanwhile, is retried by any worker, never lost.
* ``staff_presence`` - one row per staff member with the console open: whether they are
  available for live chats and when the console last said so. Someone is signed in and
  available while ``last_seen`` is recent (:data:`PRESENCE_SECONDS`).

Every change is one conditional UPDATE, so two staff racing to accept the same conversation get
one winner, whichever server each talks to. No message text is stored here: the transcript is
the conversation in Rasa's tracker store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from actions.storage import add_missing_columns, as_utc, create_tables, utcnow

logger = logging.getLogger(__name__)

metadata = MetaData()

WAITING, TAKEN, RELEASED, CLOSED, EXPIRED = "waiting", "taken", "released", "closed", "expired"
OPEN = (WAITING, TAKEN)
REASONS = ("asked", "staff", "emergency")
# A console that has not said it is there for this long counts as signed out.
PRESENCE_SECONDS = 90

live_chats_table = Table(
    "live_chats",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(128), nullable=False, index=True),
    # the sender id while the chat is open, NULL once it ended: one open chat per conversation
    Column("open_key", String(128), unique=True),
    Column("channel", String(32), nullable=False),
    Column("language", String(8), nullable=False, default="en"),
    Column("reason", String(16), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    # a waiting chat not taken by then gets the leave-a-message flow
    Column("wait_until", DateTime(timezone=True), nullable=False),
    Column("taken_by", String(64)),
    Column("taken_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("ended_by", String(64)),
    # an expired chat: claimed by a worker until then, handed back to the assistant at
    Column("hand_back_lease", DateTime(timezone=True)),
    Column("handed_back_at", DateTime(timezone=True)),
)
# added after the first version of the table (a database made before gets them)
LATER_COLUMNS = {"live_chats": ("hand_back_lease", "handed_back_at")}
HAND_BACK_LEASE = timedelta(seconds=30)
# an expired chat not handed back by then (Rasa unreachable for a day) is left alone
HAND_BACK_GIVE_UP = timedelta(hours=24)

staff_presence_table = Table(
    "staff_presence",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("available", Boolean, nullable=False, default=True),
    Column("last_seen", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class LiveChat:
    id: int
    sender_id: str
    channel: str
    language: str
    reason: str
    status: str
    requested_at: datetime
    wait_until: datetime
    taken_by: str | None
    taken_at: datetime | None
    ended_at: datetime | None
    ended_by: str | None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def as_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {"id": self.id, "sender_id": self.sender_id, "channel": self.channel,
                "language": self.language, "reason": self.reason, "status": self.status,
                "requested_at": iso(self.requested_at), "wait_until": iso(self.wait_until),
                "taken_by": self.taken_by, "taken_at": iso(self.taken_at),
                "ended_at": iso(self.ended_at), "ended_by": self.ended_by}


def _chat(row: Any) -> LiveChat:
    return LiveChat(
        id=row.id, sender_id=row.sender_id, channel=row.channel, language=row.language,
        reason=row.reason, status=row.status, requested_at=as_utc(row.requested_at),
        wait_until=as_utc(row.wait_until), taken_by=row.taken_by,
        taken_at=as_utc(row.taken_at), ended_at=as_utc(row.ended_at), ended_by=row.ended_by)


def ensure_tables(engine: Engine) -> None:
    create_tables(metadata, engine)
    add_missing_columns(engine, metadata, LATER_COLUMNS)


def open_chat(engine: Engine, sender_id: str, channel: str, language: str, reason: str,
              wait: timedelta, now: datetime | None = None) -> tuple[LiveChat, bool]:
    """The conversation's open chat, opened now if it had none: (chat, opened now)."""
    if reason not in REASONS:
        raise ValueError(f"unknown reason {reason!r}")
    now = now or utcnow()
    existing = open_chat_of(engine, sender_id)
    if existing:
        return existing, False
    try:
        with engine.begin() as conn:
            conn.execute(live_chats_table.insert().values(
                sender_id=sender_id, open_key=sender_id, channel=channel[:32],
                language=language[:8], reason=reason, status=WAITING, requested_at=now,
                wait_until=now + wait))
    except IntegrityError:  # another process opened it a moment ago
        pass
    chat = open_chat_of(engine, sender_id)
    if chat is None:  # opened and ended in between: open a new one
        return open_chat(engine, sender_id, channel, language, reason, wait, now)
    return chat, chat.requested_at == now


def open_chat_of(engine: Engine, sender_id: str) -> LiveChat | None:
    with engine.connect() as conn:
        row = conn.execute(select(live_chats_table)
                           .where(live_chats_table.c.open_key == sender_id)).first()
    return _chat(row) if row else None


def open_chats(engine: Engine) -> list[LiveChat]:
    """Waiting and taken chats, longest waiting first."""
    with engine.connect() as conn:
        rows = conn.execute(select(live_chats_table)
                            .where(live_chats_table.c.status.in_(OPEN))
                            .order_by(live_chats_table.c.requested_at)).all()
    return [_chat(row) for row in rows]


def accept(engine: Engine, sender_id: str, username: str,
           now: datetime | None = None) -> LiveChat | None:
    """Take a waiting chat. The one who took it gets it (again); anyone else gets None."""
    now = now or utcnow()
    table = live_chats_table
    with engine.begin() as conn:
        conn.execute(update(table).where(
            table.c.open_key == sender_id, table.c.status == WAITING,
        ).values(status=TAKEN, taken_by=username, taken_at=now))
    chat = open_chat_of(engine, sender_id)
    return chat if chat and chat.status == TAKEN and chat.taken_by == username else None


def end_chat(engine: Engine, sender_id: str, username: str, status: str,
             now: datetime | None = None) -> LiveChat | None:
    """End an open chat (``released``: back to the assistant; ``closed``). Only the staff member
    who has it may end a taken chat; a waiting one anyone may. None when there was nothing to
    end."""
    if status not in (RELEASED, CLOSED):
        raise ValueError(f"cannot end a chat as {status!r}")
    return _end(engine, sender_id, status, username, now, only_taken_by=username)


def expire_waiting(engine: Engine, now: datetime | None = None) -> list[LiveChat]:
    """The waiting chats whose wait ran out, marked ``expired`` (each by exactly one caller)."""
    now = now or utcnow()
    table = live_chats_table
    with engine.connect() as conn:
        due = conn.execute(select(table.c.sender_id).where(
            table.c.status == WAITING, table.c.wait_until <= now)).scalars().all()
    expired = []
    for sender_id in due:
        chat = _end(engine, sender_id, EXPIRED, None, now, only_waiting=True)
        if chat:
            expired.append(chat)
    return expired


def claim_hand_backs(engine: Engine, now: datetime | None = None) -> list[LiveChat]:
    """Expired chats not handed back to the assistant yet, each claimed for
    :data:`HAND_BACK_LEASE` by this caller only (several workers: one each). A claim whose
    worker failed or stopped runs out, and the chat is claimed again."""
    now = now or utcnow()
    table = live_chats_table
    pending = and_(table.c.status == EXPIRED, table.c.handed_back_at.is_(None),
                   table.c.ended_at > now - HAND_BACK_GIVE_UP,
                   or_(table.c.hand_back_lease.is_(None), table.c.hand_back_lease <= now))
    with engine.connect() as conn:
        ids = conn.execute(select(table.c.id).where(pending).order_by(table.c.id)
                           ).scalars().all()
    claimed = []
    for chat_id in ids:
        with engine.begin() as conn:
            won = conn.execute(update(table).where(table.c.id == chat_id, pending).values(
                hand_back_lease=now + HAND_BACK_LEASE)).rowcount
            if won:
                claimed.append(_chat(conn.execute(select(table).where(table.c.id == chat_id)
                                                  ).first()))
    return claimed


def mark_handed_back(engine: Engine, chat_id: int, now: datetime | None = None) -> None:
    """The expired chat ``chat_id`` is back with the assistant."""
    table = live_chats_table
    with engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == chat_id).values(
            handed_back_at=now or utcnow(), hand_back_lease=None))


def _end(engine: Engine, sender_id: str, status: str, username: str | None,
         now: datetime | None, only_taken_by: str | None = None,
         only_waiting: bool = False) -> LiveChat | None:
    now = now or utcnow()
    table = live_chats_table
    condition = table.c.open_key == sender_id
    if only_waiting:
        condition = and_(condition, table.c.status == WAITING)
    elif only_taken_by is not None:
        condition = and_(condition, or_(table.c.status == WAITING,
                                        table.c.taken_by == only_taken_by))
    with engine.begin() as conn:
        row = conn.execute(select(table.c.id).where(condition)).first()
        if row is None:
            return None
        done = conn.execute(update(table).where(table.c.id == row.id, condition).values(
            status=status, open_key=None, ended_at=now, ended_by=username)).rowcount
        if not done:
            return None
        ended = conn.execute(select(table).where(table.c.id == row.id)).first()
    return _chat(ended)


def mark_present(engine: Engine, username: str, available: bool = True,
                 now: datetime | None = None) -> None:
    """The console of ``username`` is open (and available for live chats or not)."""
    now = now or utcnow()
    table = staff_presence_table
    with engine.begin() as conn:
        done = conn.execute(update(table).where(table.c.username == username)
                            .values(available=available, last_seen=now)).rowcount
        if not done:
            try:
                with conn.begin_nested():
                    conn.execute(table.insert().values(username=username, available=available,
                                                       last_seen=now))
            except IntegrityError:  # the same user's other tab, a moment ago
                conn.execute(update(table).where(table.c.username == username)
                             .values(available=available, last_seen=now))


def mark_absent(engine: Engine, username: str) -> None:
    with engine.begin() as conn:
        conn.execute(staff_presence_table.delete()
                     .where(staff_presence_table.c.username == username))


def available_staff(engine: Engine, now: datetime | None = None,
                    within: int = PRESENCE_SECONDS) -> list[str]:
    """Who has the console open and is available, seen in the last ``within`` seconds."""
    now = now or utcnow()
    table = staff_presence_table
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.username).where(
            table.c.available.is_(True),
            table.c.last_seen >= now - timedelta(seconds=within),
        ).order_by(table.c.username)).scalars().all()
    return list(rows)
