"""Calendar mode end to end: a real CalDAV server (Radicale) as the practitioner's calendar, the
real action server and Rasa server with ``CALENDAR_URL`` pointing at it, patients over REST.

Busy times (a weekly recurring block, an all-day event) are never offered; choosing a slot
holds it and "yes" books exactly one event with the reference; ten patients choosing the same
slot at once give one booking; a calendar that is down turns the booking into a request for the
front desk, stored as today.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from actions.notify import patient_uid
from actions.storage import get_engine
from tests.conftest import render
from tests.e2e.calendar_rig import TZ, CalendarRig


@pytest.fixture()
def rig(calendar_rig: CalendarRig) -> CalendarRig:
    """The calendar-mode servers of tests/e2e/calendar_rig.py, shared by the calendar tests."""
    return calendar_rig


@lru_cache(maxsize=1)
def domain_yml() -> dict[str, Any]:
    return yaml.safe_load((Path(__file__).resolve().parents[2] / "domain.yml").read_text())


def to_the_offer(rig: CalendarRig, when: str, status: str = "I'm a new patient"
                 ) -> tuple[str, list[dict[str, Any]]]:
    """A new conversation through the form up to the offered slots; returns them."""
    sender = f"cal-{uuid.uuid4().hex[:10]}"
    rig.send(sender, "/session_start")
    # calendar mode says so from the start (booking_mode, set when the conversation starts)
    assert rig.texts(sender, "I'd like to book an appointment")[0] == render(
        domain_yml(), "utter_booking_start", slots={"booking_mode": "calendar"})
    rig.send(sender, "Maria Lopez")
    rig.send(sender, "212 555 0123")
    rig.send(sender, when)
    rig.send(sender, "migraines twice a week")
    replies = rig.send(sender, status)
    return sender, replies


def offered(replies: list[dict[str, Any]]) -> list[str]:
    questions = [m for m in replies if m.get("buttons")]
    assert len(questions) == 1, replies
    [question] = questions
    return [b["title"] for b in question["buttons"]
            if b["title"] not in ("Other times", "Please call me instead")]


def test_free_slots_are_offered_and_one_is_booked(rig, domain):
    sender, replies = to_the_offer(rig, "next tuesday afternoon")
    titles = offered(replies)
    assert replies[-1]["text"].startswith("These are the earliest free times")
    # the weekly meeting (12:00-15:00) is never offered: the afternoon's first is 3:00 pm
    assert titles and all(t.startswith("Tuesday") for t in titles)
    assert titles[0].endswith("3:00 pm"), titles
    # choose the first: held now, named in the read-back
    [summary] = rig.texts(sender, titles[0])
    assert titles[0] in summary
    assert len(rig.calendar.event_names()) == 3  # meeting, day off, the hold
    [booked] = rig.texts(sender, "yes")
    [row] = rig.requests_of(sender)
    assert booked == render(domain, "utter_appointment_booked", name="Maria Lopez",
                            reference=row["reference"], when=titles[0])
    start = row["appointment_start"].replace(tzinfo=timezone.utc)
    assert start.astimezone(TZ).strftime("%H:%M") == "15:00"
    assert row["calendar_uid"] and row["reference"].startswith("PMR-")
    busy = rig.client().busy(start, start + timedelta(hours=1), TZ)
    assert [(b.start, b.end) for b in busy] == [(start, start + timedelta(hours=1))]


def test_a_day_off_is_never_offered(rig):
    _, replies = to_the_offer(rig, "next wednesday morning")
    assert replies[-1]["text"].startswith("Nothing is free")
    assert not any(t.startswith("Wednesday") for t in offered(replies))


def test_ten_patients_choosing_the_same_slot_give_one_booking(rig, domain):
    patients = [to_the_offer(rig, "next thursday at 10am", "I've been before")
                for _ in range(10)]
    choice = offered(patients[0][1])[0]
    assert all(offered(replies)[0] == choice for _, replies in patients)
    answers: dict[str, list[str]] = {}

    def choose(sender: str) -> None:
        answers[sender] = rig.texts(sender, choice)

    threads = [threading.Thread(target=choose, args=(sender,)) for sender, _ in patients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    taken = render(domain, "utter_slot_taken")
    winners = [s for s, texts in answers.items() if taken not in texts]
    assert len(winners) == 1, answers
    assert all(taken in texts for s, texts in answers.items() if s not in winners)
    holds = [n for n in rig.calendar.event_names() if n.startswith("slot-")]
    assert len(holds) == len(set(holds))  # one event per slot, never two


def test_calendar_down_turns_the_booking_into_a_request(rig, domain):
    sender = f"cal-{uuid.uuid4().hex[:10]}"
    rig.send(sender, "/session_start")
    for text in ("I'd like to book an appointment", "Ana Silva", "212 555 0177",
                 "next monday morning", "back pain"):
        rig.send(sender, text)
    rig.calendar.stop()
    try:
        texts = rig.texts(sender, "I'm a new patient")
        assert texts[0] == render(domain, "utter_calendar_unavailable")
        assert "Here is your request" in texts[-1]  # the read-back, as in request mode
        [done] = rig.texts(sender, "yes")
    finally:
        rig.calendar.start()
    [row] = rig.requests_of(sender)
    assert done == render(domain, "utter_booking_submitted", name="Ana Silva",
                          reference=row["reference"])
    assert row["appointment_start"] is None and row["preferred_text"]
    assert [d["target"] for d in row["deliveries"]] == ["file"]



def test_a_booking_with_an_email_address_sends_the_patient_an_invitation(rig, tmp_path):
    import dataclasses
    import email
    import email.policy

    import icalendar

    from actions.outbox import run_once
    from actions.settings import get_settings

    sender = f"cal-{uuid.uuid4().hex[:10]}"
    rig.send(sender, "/session_start")
    for text in ("I'd like to book an appointment", "Maria Lopez",
                 "212 555 0123, maria.lopez@example.com", "next monday afternoon",
                 "migraines twice a week"):
        rig.send(sender, text)
    titles = offered(rig.send(sender, "I'm a new patient"))
    rig.texts(sender, titles[0])
    rig.texts(sender, "yes")
    [row] = rig.requests_of(sender)
    assert row["email"] == "maria.lopez@example.com" and row["appointment_start"]
    assert sorted(d["target"] for d in row["deliveries"]) == ["file", "patient_file"]

    # one pass of the delivery worker (not part of this rig) over the rig's database
    settings = dataclasses.replace(get_settings(), database_url=rig.database_url,
                                   outbox_dir=tmp_path)
    run_once(get_engine(rig.database_url), settings)
    path = tmp_path / f"{row['reference']}-patient.eml"
    mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert mail["To"] == "maria.lopez@example.com"
    assert mail["Subject"].endswith(titles[0])
    assert "migraines" not in path.read_text()
    [part] = [p for p in mail.iter_attachments() if p.get_filename() == "appointment.ics"]
    [event] = icalendar.Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")
    start = row["appointment_start"].replace(tzinfo=timezone.utc)
    assert event.decoded("DTSTART") == start
    assert event.decoded("DTEND") == row["appointment_end"].replace(tzinfo=timezone.utc)
    assert str(event["UID"]) == patient_uid(row["reference"])  # stable when it moves
    assert start.astimezone(TZ).strftime("%A") == "Monday"
    desk = email.message_from_bytes((tmp_path / f"{row['reference']}.eml").read_bytes(),
                                    policy=email.policy.default).get_content()
    assert f"Appointment:      {titles[0]}" in desk and "(in the calendar)" in desk
