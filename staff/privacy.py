"""Privacy operations: retention and forget-me, shared by the console and ``staff.manage``.

* Retention deletes conversations whose last event is older than RETENTION_DAYS, and closed
  requests created before then (with their deliveries, notices and status history).
* Forget-me deletes everything about one person, found by conversation id (sender id), phone
  number or e-mail address: the conversations of those senders (for a phone number also the
  SMS/WhatsApp conversation whose sender id is that number, and any conversation where the
  booking form stored that number or address), every request with that phone/e-mail or made in
  those conversations, their deliveries, status history and intent corrections.

Both write an audit entry with counts only (never the identifier), and replace the conversation
id in earlier audit entries about the deleted conversations with ``[deleted]`` (an SMS sender id
is a phone number). Both can run as a dry run that only counts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, and_, cast, func, or_, select, update
from sqlalchemy.engine import Connection, Engine

from actions import live_store
from actions.contact import find_email, find_phone
from actions.storage import deliveries_table, notices_table, requests_table, utcnow
from staff.conversations import json_field
from staff.db import (
    audit,
    audit_table,
    chunked,
    corrections_table,
    delete_where_in,
    events_table,
    has_events_table,
    history_table,
)

logger = logging.getLogger(__name__)

DELETED = "[deleted]"
# Audit entries whose target is a conversation id: "[deleted]" once the conversation is.
CONVERSATION_ACTIONS = ("view", "export_transcript", "live.accept", "live.release",
                        "live.close")


@dataclass
class DeletionCounts:
    conversations: int = 0
    events: int = 0
    requests: int = 0
    deliveries: int = 0
    history: int = 0
    corrections: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def summary(self) -> str:
        return ", ".join(f"{value} {name}" for name, value in self.as_dict().items())


@dataclass(frozen=True)
class Person:
    """Who to forget: any of a conversation id, a phone number, an e-mail address."""

    sender: str | None = None
    phone: str | None = None  # E.164
    email: str | None = None  # lower-case

    @classmethod
    def parse(cls, sender: str | None, phone: str | None, email: str | None,
              region: str) -> Person:
        sender = (sender or "").strip() or None
        phone_e164 = None
        if (phone or "").strip():
            phone_e164 = find_phone(phone or "", region)
            if phone_e164 is None:
                raise ValueError("not a valid phone number")
        email_norm = None
        if (email or "").strip():
            email_norm = find_email(email or "")
            if email_norm is None or email_norm != (email or "").strip().lower():
                raise ValueError("not a valid e-mail address")
        if not (sender or phone_e164 or email_norm):
            raise ValueError("give a conversation id, a phone number or an e-mail address")
        return cls(sender=sender, phone=phone_e164, email=email_norm)

    def kinds(self) -> list[str]:
        return [name for name in ("sender", "phone", "email") if getattr(self, name)]


class Privacy:
    def __init__(self, staff: Engine, tracker: Engine) -> None:
        self.staff = staff
        self.tracker = tracker

    # ---- retention ----

    def retention(self, days: int, actor: str, dry_run: bool = False,
                  now: datetime | None = None) -> DeletionCounts:
        if days < 1:
            raise ValueError("the retention period must be at least one day")
        cutoff = (now or utcnow()) - timedelta(days=days)
        senders: list[str] = []
        if has_events_table(self.tracker):
            with self.tracker.connect() as conn:
                senders = list(conn.execute(
                    select(events_table.c.sender_id).group_by(events_table.c.sender_id)
                    .having(func.max(events_table.c.timestamp) < cutoff.timestamp())
                ).scalars())
        with self.staff.connect() as conn:
            request_ids = list(conn.execute(
                select(requests_table.c.id).where(requests_table.c.status == "closed")
                .where(requests_table.c.created_at < cutoff)
            ).scalars())
        counts = self._delete(senders, request_ids, dry_run)
        if not dry_run:
            audit(self.staff, actor, "retention", None, {"days": days, **counts.as_dict()})
            logger.info("Retention (%d days) by %s deleted %s", days, actor, counts.summary())
        return counts

    # ---- forget-me ----

    def forget(self, person: Person, actor: str, dry_run: bool = False) -> DeletionCounts:
        senders = self._senders_of(person)
        request_ids = self._requests_of(person, senders)
        counts = self._delete(sorted(senders), request_ids, dry_run)
        if not dry_run:
            audit(self.staff, actor, "forget", None, {"by": person.kinds(), **counts.as_dict()})
            logger.info("Forget-me (by %s) by %s deleted %s", "/".join(person.kinds()), actor,
                        counts.summary())
        return counts

    def _senders_of(self, person: Person) -> set[str]:
        senders: set[str] = set()
        if person.sender:
            senders.add(person.sender)
        conditions = []
        if person.phone:
            conditions.append(requests_table.c.phone == person.phone)
        if person.email:
            conditions.append(func.lower(requests_table.c.email) == person.email)
        if conditions:
            with self.staff.connect() as conn:
                senders.update(conn.execute(
                    select(requests_table.c.sender_id).distinct().where(or_(*conditions))
                ).scalars())
        if (person.phone or person.email) and has_events_table(self.tracker):
            ev = events_table.c
            value = cast(json_field(ev.data, "value", self.tracker.dialect.name), String)
            slot_conditions = []
            if person.phone:
                slot_conditions.append(and_(ev.action_name == "patient_phone",
                                            value == person.phone))
                with self.tracker.connect() as conn:
                    senders.update(conn.execute(
                        select(ev.sender_id).distinct().where(ev.sender_id.in_(
                            [person.phone, f"whatsapp:{person.phone}"]))
                    ).scalars())
            if person.email:
                slot_conditions.append(and_(ev.action_name == "patient_email",
                                            func.lower(value) == person.email))
            with self.tracker.connect() as conn:
                senders.update(conn.execute(
                    select(ev.sender_id).distinct()
                    .where(ev.type_name == "slot").where(or_(*slot_conditions))
                ).scalars())
        return senders

    def _requests_of(self, person: Person, senders: Iterable[str]) -> list[int]:
        ids: set[int] = set()
        with self.staff.connect() as conn:
            for chunk in chunked(sorted(senders)):
                ids.update(conn.execute(select(requests_table.c.id)
                                        .where(requests_table.c.sender_id.in_(chunk))).scalars())
            if person.phone:
                ids.update(conn.execute(select(requests_table.c.id)
                                        .where(requests_table.c.phone == person.phone)).scalars())
            if person.email:
                ids.update(conn.execute(
                    select(requests_table.c.id)
                    .where(func.lower(requests_table.c.email) == person.email)).scalars())
        return sorted(ids)

    # ---- deleting ----

    def _delete(self, senders: list[str], request_ids: list[int],
                dry_run: bool) -> DeletionCounts:
        counts = DeletionCounts()
        if dry_run:
            return self._count(senders, request_ids)
        if senders and has_events_table(self.tracker):
            with self.tracker.begin() as conn:
                counts.conversations = self._count_conversations(conn, senders)
                counts.events = delete_where_in(conn, events_table, events_table.c.sender_id,
                                                senders)
        with self.staff.begin() as conn:
            counts.corrections = delete_where_in(conn, corrections_table,
                                                 corrections_table.c.sender_id, senders)
            counts.history = delete_where_in(conn, history_table, history_table.c.request_id,
                                             request_ids)
            counts.deliveries = delete_where_in(conn, deliveries_table,
                                                deliveries_table.c.request_id, request_ids)
            # notices to the patient count as deliveries (they are: to the patient)
            counts.deliveries += delete_where_in(conn, notices_table,
                                                 notices_table.c.request_id, request_ids)
            counts.requests = delete_where_in(conn, requests_table, requests_table.c.id,
                                              request_ids)
            # live chats with staff: who took the conversation (the messages are its events)
            delete_where_in(conn, live_store.live_chats_table,
                            live_store.live_chats_table.c.sender_id, senders)
            for chunk in chunked(senders):
                conn.execute(update(audit_table).where(audit_table.c.target.in_(chunk))
                             .where(audit_table.c.action.in_(CONVERSATION_ACTIONS))
                             .values(target=DELETED))
        return counts

    @staticmethod
    def _count_conversations(conn: Connection, senders: list[str]) -> int:
        total = 0
        for chunk in chunked(senders):
            total += conn.execute(
                select(func.count(func.distinct(events_table.c.sender_id)))
                .where(events_table.c.sender_id.in_(chunk))
            ).scalar_one()
        return total

    def _count(self, senders: list[str], request_ids: list[int]) -> DeletionCounts:
        counts = DeletionCounts(requests=len(request_ids))
        if senders and has_events_table(self.tracker):
            with self.tracker.connect() as conn:
                counts.conversations = self._count_conversations(conn, senders)
                for chunk in chunked(senders):
                    counts.events += conn.execute(
                        select(func.count()).where(events_table.c.sender_id.in_(chunk))
                    ).scalar_one()
        with self.staff.connect() as conn:
            for chunk in chunked(senders):
                counts.corrections += conn.execute(
                    select(func.count()).where(corrections_table.c.sender_id.in_(chunk))
                ).scalar_one()
            for chunk in chunked(request_ids):
                counts.history += conn.execute(
                    select(func.count()).where(history_table.c.request_id.in_(chunk))
                ).scalar_one()
                for table in (deliveries_table, notices_table):
                    counts.deliveries += conn.execute(
                        select(func.count()).where(table.c.request_id.in_(chunk))
                    ).scalar_one()
        return counts
