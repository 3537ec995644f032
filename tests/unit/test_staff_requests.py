"""Requests in the console: status changes with history, filters, CSV export."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from actions.storage import requests_table, store_request
from staff import service
from staff.db import audit_entries, change_request, find_requests, get_request, staff_engine


@pytest.fixture()
def context(tmp_path) -> SimpleNamespace:
    engine = staff_engine(f"sqlite:///{tmp_path / 'clinic.db'}")
    for key, kind, name, phone in (("k1", "appointment", "Maria Lopez", "+12125550123"),
                                   ("k2", "handoff", "=HYPERLINK(\"x\")", None)):
        stored = store_request(engine, {"kind": kind, "name": name, "phone": phone,
                                        "email": "maria@example.com", "channel": "rest",
                                        "sender_id": f"conv-{key}", "reason": "migraines"},
                               key, ["email"])
        with engine.begin() as conn:
            conn.execute(update(requests_table).where(requests_table.c.id == stored.id).values(
                created_at=datetime(2026, 3, 2, 15, int(key[1]), tzinfo=timezone.utc)))
    return SimpleNamespace(engine=engine, tz=ZoneInfo("America/New_York"))


def test_status_change_and_note_are_recorded_with_who_and_when(context):
    engine = context.engine
    reference = find_requests(engine, kind="appointment")[0]["reference"]
    assert change_request(engine, reference, "alice", "contacted", "left a voicemail")
    assert change_request(engine, reference, "bob", None, "  patient called back  ")
    assert change_request(engine, reference, "bob", "contacted", None) == {"changed": False}
    assert change_request(engine, "PMR-NOPE00", "bob", "closed", None) is None
    with pytest.raises(ValueError):
        change_request(engine, reference, "bob", "cancelled", None)
    request, history = service.request_details(context, reference)
    assert request["status"] == "contacted"
    assert [(h["username"], h["old_status"], h["new_status"], h["note"]) for h in history] == [
        ("alice", "new", "contacted", "left a voicemail"),
        ("bob", None, None, "patient called back"),
    ]
    assert all(h["at"].tzinfo is not None for h in history)
    assert get_request(engine, reference)["status"] == "contacted"


def test_filters_by_status_and_kind(context):
    engine = context.engine
    handoff = find_requests(engine, kind="handoff")
    assert [r["kind"] for r in handoff] == ["handoff"]
    change_request(engine, handoff[0]["reference"], "alice", "closed", None)
    assert [r["kind"] for r in find_requests(engine, status="closed")] == ["handoff"]
    assert [r["kind"] for r in find_requests(engine, status="new")] == ["appointment"]
    assert [r["kind"] for r in find_requests(engine)] == ["handoff", "appointment"]  # newest first
    assert service.check_request_filters("lost", None) is not None
    assert service.check_request_filters(None, "letter") is not None


def test_csv_export_is_spreadsheet_safe_and_audited(context):
    text = service.requests_csv(context, None, None, "alice")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["kind"] for r in rows] == ["handoff", "appointment"]
    appointment = rows[1]
    assert appointment["name"] == "Maria Lopez"
    assert appointment["phone"] == "'+12125550123"  # a leading + would start a formula
    assert appointment["created"] == "2026-03-02 10:01"  # clinic time zone
    assert appointment["conversation"] == "conv-k1"
    assert rows[0]["name"] == "'=HYPERLINK(\"x\")"
    only_new = list(csv.DictReader(io.StringIO(service.requests_csv(context, "new", None,
                                                                    "alice"))))
    assert len(only_new) == 2
    entries = audit_entries(context.engine, 10)
    assert [e["action"] for e in entries] == ["export_requests", "export_requests"]
    assert entries[1]["details"] == {"kind": None, "rows": 2, "status": None}
