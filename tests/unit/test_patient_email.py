"""The patient's confirmation of a calendar booking: an e-mail with an ``appointment.ics``,
queued through the outbox like the front desk's e-mail (SMTP, or a file without SMTP)."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timezone

import icalendar
import pytest

from actions import appointments
from actions.clinic import get_clinic
from actions.handoff import ActionSubmitBooking
from actions.notify import (
    PATIENT_EMAIL,
    PATIENT_FILE,
    build_email,
    build_patient_email,
    patient_targets,
    patient_uid,
)
from actions.outbox import run_once
from actions.settings import get_settings
from actions.storage import get_engine, list_requests, store_request
from scripts.serve import free_port
from tests.smtp_sink import SmtpSink

START = datetime(2026, 12, 1, 20, 0, tzinfo=timezone.utc)  # 3:00 pm in New York
END = datetime(2026, 12, 1, 21, 0, tzinfo=timezone.utc)
UID = "slot-20261201T200000Z@clinic.example"
REASON = "migraines twice a week"
BOOKED = {
    "kind": "appointment", "name": "Maria Lopez", "phone": "+12125550123",
    "email": "maria@example.com", "preferred_day": None, "preferred_start": None,
    "preferred_end": None, "preferred_text": "Tuesday 1 December, 3:00 pm", "reason": REASON,
    "patient_status": "new", "channel": "rest", "sender_id": "web-1",
    "appointment_start": START, "appointment_end": END, "calendar_uid": UID,
}


def request_row(**changes):
    return {**BOOKED, "reference": "PMR-7KQ4TZ",
            "created_at": datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc), **changes}


def setup(monkeypatch, **env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    settings = get_settings()
    return settings, get_engine(settings.database_url)


def the_event(message):
    [part] = [p for p in message.iter_attachments() if p.get_filename() == "appointment.ics"]
    assert part.get_content_type() == "text/calendar"
    calendar = icalendar.Calendar.from_ical(part.get_payload(decode=True))
    assert calendar["METHOD"] in ("PUBLISH", "REQUEST")
    [event] = calendar.walk("VEVENT")
    return event


def body_of(message):
    return message.get_body(preferencelist=("plain",)).get_content()


def test_the_patient_email_names_the_appointment_but_not_the_reason(settings_env):
    clinic, settings = get_clinic(), get_settings()
    message = build_patient_email(request_row(), clinic, settings)
    assert message["From"] == settings.clinic_sender
    assert message["To"] == "maria@example.com"
    assert message["Subject"] == (
        f"Your appointment at {clinic.name} on Tuesday 1 December, 3:00 pm")
    body = body_of(message)
    assert "Tuesday 1 December, 3:00 pm to 4:00 pm (America/New_York time)" in body
    assert clinic.address in body and "PMR-7KQ4TZ" in body and clinic.phone in body
    assert "write to the assistant" in body
    raw = bytes(message).decode()
    assert REASON not in raw and "migraine" not in raw.lower()


def test_the_ics_has_a_stable_uid_the_utc_times_and_the_address(settings_env):
    clinic = get_clinic()
    event = the_event(build_patient_email(request_row(), clinic, get_settings()))
    # the reference's, not the calendar event's (that changes when the appointment moves): a
    # later notice's .ics updates this same event in the patient's calendar
    assert str(event["UID"]) == patient_uid("PMR-7KQ4TZ") == "pmr-7kq4tz@clinic-assistant"
    assert int(event["SEQUENCE"]) == 0
    assert event.decoded("DTSTART") == START and event.decoded("DTEND") == END
    assert event["DTSTART"].to_ical() == b"20261201T200000Z"
    assert str(event["LOCATION"]) == clinic.address
    assert str(event["SUMMARY"]) == f"Appointment at {clinic.name}"
    assert "migraine" not in event.to_ical().decode().lower()


def test_only_a_calendar_booking_with_an_email_gets_a_patient_delivery(settings_env,
                                                                        monkeypatch):
    settings = get_settings()
    assert patient_targets(request_row(), settings) == [PATIENT_FILE]
    assert patient_targets(request_row(email=None), settings) == []
    assert patient_targets(request_row(appointment_start=None, appointment_end=None,
                                       calendar_uid=None), settings) == []
    settings, _ = setup(monkeypatch, SMTP_HOST="127.0.0.1")
    assert patient_targets(request_row(), settings) == [PATIENT_EMAIL]


def test_without_smtp_the_patient_email_lands_in_the_outbox_folder(settings_env, monkeypatch):
    settings, engine = setup(monkeypatch)
    stored = store_request(engine, BOOKED, "p1", ["file", PATIENT_FILE])
    assert run_once(engine, settings) == 2
    desk = email.message_from_bytes((settings.outbox_dir / f"{stored.reference}.eml")
                                    .read_bytes(), policy=email.policy.default).get_content()
    assert "Appointment:" in desk and "Tuesday 1 December, 3:00 pm" in desk
    assert "(in the calendar)" in desk and REASON in desk
    assert "Preferred time" not in desk and "not a confirmed appointment" not in desk
    path = settings.outbox_dir / f"{stored.reference}-patient.eml"
    patient = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert patient["To"] == "maria@example.com"
    assert str(the_event(patient)["UID"]) == patient_uid(stored.reference)
    assert run_once(engine, settings) == 0


def test_the_patient_email_is_retried_until_smtp_is_back(settings_env, monkeypatch):
    port = free_port()
    settings, engine = setup(monkeypatch, SMTP_HOST="127.0.0.1", SMTP_PORT=str(port),
                             CLINIC_INBOX="desk@clinic.example", DELIVERY_RETRY_SECONDS="0")
    stored = store_request(engine, BOOKED, "p2", ["email", PATIENT_EMAIL])
    assert run_once(engine, settings) == 0
    with SmtpSink(port) as sink:
        assert run_once(engine, settings) == 2
        assert run_once(engine, settings) == 0
    by_to = {m["To"]: m for m in sink.messages}
    assert set(by_to) == {"desk@clinic.example", "maria@example.com"}
    assert stored.reference in body_of(by_to["maria@example.com"])
    assert the_event(by_to["maria@example.com"]).decoded("DTSTART") == START
    assert "Appointment:" in body_of(by_to["desk@clinic.example"])
    assert sorted((d["target"], d["status"], d["attempts"]) for r in list_requests(engine)
                  for d in r["deliveries"]) == [("email", "delivered", 2),
                                                (PATIENT_EMAIL, "delivered", 2)]


def test_the_front_desk_email_shows_the_booked_appointment(settings_env):
    body = build_email(request_row(), get_clinic(), get_settings()).get_content()
    assert ("Appointment:      Tuesday 1 December, 3:00 pm (America/New_York) "
            "(in the calendar)") in body


FORM = {
    "patient_name": "Maria Lopez", "patient_contact": "(212) 555-0123",
    "patient_phone": "+12125550123", "preferred_time": "Tuesday 1 December, 3:00 pm",
    "visit_reason": REASON, "patient_status": "new", "booking_confirmed": True,
    "appointment_uid": UID, "appointment_slot": START.isoformat(),
    "appointment_reference": "PMR-7KQ4TZ",
}
ACTIVATED = [{"event": "active_loop", "name": "booking_form", "timestamp": 1764000000.0}]


@pytest.mark.parametrize(("address", "smtp", "targets"), [
    ("maria@example.com", "", ["file", PATIENT_FILE]),
    ("maria@example.com", "127.0.0.1", ["email", PATIENT_EMAIL]),
    (None, "", ["file"]),
])
async def test_a_calendar_booking_queues_the_patient_email_when_there_is_an_address(
    settings_env, monkeypatch, make_tracker, dispatcher, domain, address, smtp, targets
):
    if smtp:
        monkeypatch.setenv("SMTP_HOST", smtp)
    get_settings.cache_clear()
    monkeypatch.setattr(appointments, "book", lambda *args: True)
    tracker = make_tracker(slots={**FORM, "patient_email": address}, events=ACTIVATED)
    await ActionSubmitBooking().run(dispatcher, tracker, domain)
    [row] = list_requests(get_engine(get_settings().database_url))
    assert row["calendar_uid"] == UID and row["reference"] == "PMR-7KQ4TZ"
    assert [d["target"] for d in row["deliveries"]] == targets


async def test_a_request_without_a_calendar_booking_gets_no_patient_email(
    settings_env, make_tracker, dispatcher, domain
):
    slots = {key: value for key, value in FORM.items() if not key.startswith("appointment_")}
    tracker = make_tracker(slots={**slots, "patient_email": "maria@example.com"},
                           events=ACTIVATED)
    await ActionSubmitBooking().run(dispatcher, tracker, domain)
    [row] = list_requests(get_engine(get_settings().database_url))
    assert [d["target"] for d in row["deliveries"]] == ["file"]


def test_the_front_desk_email_notes_the_patients_language(settings_env):
    clinic = get_clinic()
    spanish = build_email(request_row(language="es"), clinic, get_settings()).get_content()
    english = build_email(request_row(), clinic, get_settings()).get_content()
    assert "Language:" in spanish and "the patient wrote in Spanish: reply in Spanish" in spanish
    assert "Language:         English" in english
