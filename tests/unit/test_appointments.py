"""Calendar mode's small parts: which offered slot a reply means, what an event carries, and
older databases getting the new columns."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, inspect, text

from actions import appointments
from actions.clinic import EventDetails, get_clinic
from actions.slots import Slot
from actions.storage import add_missing_columns

START = datetime(2026, 12, 8, 20, 0, tzinfo=timezone.utc)  # 3:00 pm in New York
OFFERED = [Slot(START + timedelta(minutes=30 * i), START + timedelta(minutes=30 * i + 60))
           .as_dict() for i in range(3)]


@pytest.mark.parametrize(("reply", "index"), [
    ("Tuesday 8 December, 3:30 pm", 1), ("2", 1), ("the third one", 2), ("first", 0),
    ("3pm please", 0), ("the 4:00 one", 2), ("tomorrow", None), ("9", None),
])
def test_a_reply_names_an_offered_slot(reply, index):
    clinic = get_clinic()
    chosen = appointments.choice_from(reply, OFFERED, clinic)
    assert (None if chosen is None else OFFERED.index(chosen.as_dict())) == index


def test_other_times_and_call_me():
    assert appointments.wants_more("other times") and appointments.wants_more("anything later?")
    assert appointments.wants_call("please call me instead")
    assert not appointments.wants_more("yes") and not appointments.wants_call("3pm")


@pytest.mark.parametrize(("details", "has_reason", "has_name"), [
    (EventDetails.REFERENCE_ONLY, False, False), (EventDetails.REASON, True, False),
    (EventDetails.NAME_AND_REASON, True, True),
])
def test_the_event_carries_only_what_the_clinic_chose(details, has_reason, has_name):
    clinic = get_clinic()
    clinic = replace(clinic, booking=replace(clinic.booking, event_details=details))
    summary, description = appointments.event_texts(clinic, "PMR-7KQ4TZ", "new", "migraines",
                                                    "Maria Lopez")
    both = summary + description
    assert "PMR-7KQ4TZ" in summary and "Patient: new" in description
    assert ("migraines" in both) is has_reason and ("Maria Lopez" in both) is has_name


def test_an_older_database_gets_the_calendar_columns(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE requests (id INTEGER PRIMARY KEY, reference TEXT)"))
    add_missing_columns(engine)
    add_missing_columns(engine)  # a second start finds them there
    names = {c["name"] for c in inspect(engine).get_columns("requests")}
    assert {"appointment_start", "appointment_end", "calendar_uid"} <= names
