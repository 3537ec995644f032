"""Retention and forget-me delete exactly what they should, in both databases."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine

from actions.storage import (
    deliveries_table,
    notices_table,
    queue_notice,
    requests_table,
    store_request,
)
from staff.db import (
    audit,
    audit_table,
    change_request,
    corrections_table,
    events_table,
    history_table,
    save_correction,
    staff_engine,
    tracker_engine,
)
from staff.privacy import DELETED, Person, Privacy
from tests.unit.test_staff_conversations import Conversation, store

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=timezone.utc)
DAY = 86_400
PHONE = "+12125550123"


@pytest.fixture()
def dbs(tmp_path) -> tuple[Engine, Engine]:
    return (staff_engine(f"sqlite:///{tmp_path / 'clinic.db'}"),
            tracker_engine(f"sqlite:///{tmp_path / 'conversations.db'}"))


def conversation(sender: str, days_ago: float, **kwargs) -> Conversation:
    return Conversation(sender, NOW.timestamp() - days_ago * DAY, **kwargs).faq()


def add_request(engine: Engine, reference_key: str, sender: str, status: str = "new",
                days_ago: float = 0, phone: str | None = None, email: str | None = None,
                kind: str = "appointment") -> str:
    fields = {"kind": kind, "name": "Maria Lopez", "phone": phone, "email": email,
              "channel": "rest", "sender_id": sender, "reason": "migraines"}
    stored = store_request(engine, fields, reference_key, ["email", "file"])
    with engine.begin() as conn:
        conn.execute(update(requests_table).where(requests_table.c.id == stored.id).values(
            status=status, created_at=NOW - timedelta(days=days_ago)))
    return stored.reference


def senders(tracker: Engine) -> set[str]:
    with tracker.connect() as conn:
        return set(conn.execute(select(events_table.c.sender_id).distinct()).scalars())


def column(engine: Engine, col) -> list:
    with engine.connect() as conn:
        return sorted(conn.execute(select(col)).scalars())


def count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def request_ids(engine: Engine, *references: str) -> list[int]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(requests_table.c.id)
                                   .where(requests_table.c.reference.in_(references))).scalars())


def test_retention_deletes_old_conversations_and_old_closed_requests(dbs):
    staff, tracker = dbs
    store(tracker, conversation("old-a", 200), conversation("old-b", 181),
          conversation("recent", 179), conversation("fresh", 1))
    old_closed = add_request(staff, "k1", "old-a", "closed", days_ago=200)
    new_closed = add_request(staff, "k2", "recent", "closed", days_ago=10)
    old_open = add_request(staff, "k3", "old-b", "contacted", days_ago=200)
    fresh = add_request(staff, "k4", "fresh")
    for reference in (old_closed, new_closed):
        change_request(staff, reference, "alice", "closed", "called back")
    save_correction(staff, "old-a", 1, "blorp", "faq", "greet", "alice")
    save_correction(staff, "fresh", 1, "flibber", "faq", "greet", "alice")
    audit(staff, "alice", "view", "old-a")
    audit(staff, "alice", "view", "fresh")
    events_before = count(tracker, events_table)
    fresh_events = len(conversation("fresh", 1).events) * 2  # recent + fresh, same length

    privacy = Privacy(staff, tracker)
    preview = privacy.retention(180, "admin", dry_run=True, now=NOW)
    assert senders(tracker) == {"old-a", "old-b", "recent", "fresh"}  # a dry run deletes nothing
    counts = privacy.retention(180, "admin", now=NOW)

    assert preview == counts
    assert counts.as_dict() == {"conversations": 2, "events": events_before - fresh_events,
                                "requests": 1, "deliveries": 2, "history": 1, "corrections": 1}
    assert senders(tracker) == {"recent", "fresh"}
    assert column(staff, requests_table.c.reference) == sorted([new_closed, old_open, fresh])
    assert count(staff, deliveries_table) == 6
    assert column(staff, history_table.c.request_id) == request_ids(staff, new_closed)
    assert column(staff, corrections_table.c.sender_id) == ["fresh"]
    with staff.connect() as conn:
        entries = conn.execute(select(audit_table).order_by(audit_table.c.id)).mappings().all()
    assert [(e["action"], e["target"]) for e in entries] == [
        ("view", DELETED), ("view", "fresh"), ("retention", None)]
    assert json.loads(entries[-1]["details"])["conversations"] == 2


def phone_world(staff: Engine, tracker: Engine) -> dict[str, str]:
    """Two conversations that left this phone number, an SMS conversation from it, one where
    the form stored it before the patient cancelled, and unrelated ones."""
    cancelled = conversation("cancelled", 3).slot("patient_phone", PHONE)
    store(tracker, conversation("web-1", 5), conversation("web-2", 4), conversation(PHONE, 2,
          channel="twilio"), cancelled, conversation("web-3", 1), conversation("email-1", 1)
          .slot("patient_email", "maria@example.com"))
    refs = {
        "web-1": add_request(staff, "k1", "web-1", phone=PHONE),
        "web-2": add_request(staff, "k2", "web-2", phone=PHONE, email="maria@example.com",
                             kind="handoff"),
        "web-2b": add_request(staff, "k2b", "web-2", phone="+13125550100"),  # same person
        "web-3": add_request(staff, "k3", "web-3", phone="+13125550199"),
        "email-1": add_request(staff, "k4", "email-1", email="Maria@Example.com"),
    }
    for reference in refs.values():
        change_request(staff, reference, "alice", "contacted", None)
    for sender in ("web-1", "web-3"):
        save_correction(staff, sender, 1, "blorp", "faq", "greet", "alice")
    audit(staff, "alice", "view", PHONE)
    return refs


def test_forget_by_phone(dbs):
    staff, tracker = dbs
    refs = phone_world(staff, tracker)
    privacy = Privacy(staff, tracker)
    person = Person.parse(None, "(212) 555-0123", None, "US")
    assert person.phone == PHONE
    preview = privacy.forget(person, "admin", dry_run=True)
    counts = privacy.forget(person, "admin")
    assert preview == counts
    assert counts.conversations == 4 and counts.requests == 3
    assert counts.deliveries == 6 and counts.history == 3 and counts.corrections == 1
    assert senders(tracker) == {"web-3", "email-1"}
    assert column(staff, requests_table.c.reference) == sorted([refs["web-3"], refs["email-1"]])
    assert column(staff, corrections_table.c.sender_id) == ["web-3"]
    assert count(staff, history_table) == 2 and count(staff, deliveries_table) == 4
    with staff.connect() as conn:
        entries = conn.execute(select(audit_table).order_by(audit_table.c.id)).mappings().all()
    assert entries[0]["target"] == DELETED  # the SMS sender id was the phone number
    assert entries[-1]["action"] == "forget" and entries[-1]["target"] is None
    assert PHONE not in entries[-1]["details"] and "555" not in entries[-1]["details"]
    assert json.loads(entries[-1]["details"])["by"] == ["phone"]


def test_forget_deletes_the_notices_to_the_patient_too(dbs):
    staff, tracker = dbs
    refs = phone_world(staff, tracker)
    kept = refs["web-3"]
    with staff.begin() as conn:
        for reference in (refs["web-1"], kept):
            row = conn.execute(select(requests_table).where(
                requests_table.c.reference == reference)).mappings().one()
            queue_notice(conn, dict(row), "confirmed", ["patient_sms"])
    person = Person.parse(None, "(212) 555-0123", None, "US")
    preview = Privacy(staff, tracker).forget(person, "admin", dry_run=True)
    counts = Privacy(staff, tracker).forget(person, "admin")
    assert preview == counts and counts.deliveries == 7  # 6 deliveries and the one notice
    assert column(staff, notices_table.c.request_id) == request_ids(staff, kept)


def test_forget_by_email(dbs):
    staff, tracker = dbs
    refs = phone_world(staff, tracker)
    counts = Privacy(staff, tracker).forget(Person.parse(None, None, "MARIA@example.com", "US"),
                                            "admin")
    # web-2's conversation and both its requests; email-1 (stored in another case) and its slot
    assert counts.requests == 3 and counts.conversations == 2
    assert senders(tracker) == {"web-1", PHONE, "cancelled", "web-3"}
    assert column(staff, requests_table.c.reference) == sorted([refs["web-1"], refs["web-3"]])


def test_forget_by_sender_deletes_only_that_conversation_and_its_requests(dbs):
    staff, tracker = dbs
    refs = phone_world(staff, tracker)
    counts = Privacy(staff, tracker).forget(Person(sender="web-1"), "admin")
    assert counts.as_dict() == {"conversations": 1,
                                "events": len(conversation("web-1", 5).events),
                                "requests": 1, "deliveries": 2, "history": 1, "corrections": 1}
    assert "web-1" not in senders(tracker) and len(senders(tracker)) == 5
    assert refs["web-1"] not in column(staff, requests_table.c.reference)
    assert count(staff, requests_table) == 4


def test_forget_nobody_deletes_nothing(dbs):
    staff, tracker = dbs
    phone_world(staff, tracker)
    counts = Privacy(staff, tracker).forget(Person(email="nobody@example.com"), "admin")
    assert set(counts.as_dict().values()) == {0}
    assert len(senders(tracker)) == 6 and count(staff, requests_table) == 5


def test_person_parsing():
    assert Person.parse(" abc ", "", "", "US") == Person(sender="abc")
    assert Person.parse(None, "212 555 0123", None, "US").phone == PHONE
    assert Person.parse(None, None, " Maria@Example.com ", "US").email == "maria@example.com"
    for sender, phone, email in ((None, None, None), (None, "12", None),
                                 (None, None, "not-an-address")):
        with pytest.raises(ValueError):
            Person.parse(sender, phone, email, "US")
