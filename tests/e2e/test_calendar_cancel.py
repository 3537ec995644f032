"""Calendar mode: a patient cancels or moves an appointment in a new conversation with the
reference and the phone number or e-mail it was booked with; the calendar follows, staff are
told. Wrong details change nothing."""

from __future__ import annotations

import uuid
from datetime import timezone

import icalendar

from actions.clinic import get_clinic
from actions.slots import Slot
from actions.storage import get_engine, list_notices, list_requests
from tests.conftest import render
from tests.e2e.test_calendar_booking import offered, rig, to_the_offer  # noqa: F401 - fixture


def book(rig) -> tuple[str, str]:  # noqa: F811
    sender, replies = to_the_offer(rig, "next thursday afternoon", "I've been before")
    rig.texts(sender, offered(replies)[0])
    rig.texts(sender, "yes")
    [row] = rig.requests_of(sender)
    return sender, row["reference"]


def test_cancel_with_reference_and_phone(rig, domain):  # noqa: F811
    _, reference = book(rig)
    holds_before = [n for n in rig.calendar.event_names() if n.startswith("slot-")]
    patient = f"cal-{uuid.uuid4().hex[:10]}"
    rig.send(patient, "/session_start")
    assert rig.texts(patient, f"I need to cancel my appointment {reference}") == \
        [render(domain, "utter_ask_booking_contact")]
    [done] = rig.texts(patient, "212 555 0123")
    assert done.startswith(f"Your appointment {reference} on ") and "is cancelled" in done
    holds_after = [n for n in rig.calendar.event_names() if n.startswith("slot-")]
    assert len(holds_after) == len(holds_before) - 1
    [original] = [r for r in list_requests(get_engine(rig.database_url))
                  if r["reference"] == reference]
    assert original["status"] == "closed"
    [message] = rig.requests_of(patient)
    assert message["kind"] == "handoff" and reference in message["message"]


def test_wrong_details_cancel_nothing(rig, domain):  # noqa: F811
    _, reference = book(rig)
    before = rig.calendar.event_names()
    patient = f"cal-{uuid.uuid4().hex[:10]}"
    rig.send(patient, "/session_start")
    rig.texts(patient, f"please cancel {reference}")
    assert rig.texts(patient, "someone.else@example.com") == \
        [render(domain, "utter_cancel_details_mismatch")]
    assert rig.calendar.event_names() == before
    [original] = [r for r in list_requests(get_engine(rig.database_url))
                  if r["reference"] == reference]
    assert original["status"] == "new"


def test_calendar_down_at_the_confirmation_keeps_the_booking(rig, domain):  # noqa: F811
    sender, replies = to_the_offer(rig, "next friday morning")
    rig.texts(sender, offered(replies)[0])
    rig.calendar.stop()
    try:
        texts = rig.texts(sender, "yes")
    finally:
        rig.calendar.start()
    [row] = rig.requests_of(sender)
    assert texts == [render(domain, "utter_calendar_unavailable"),
                     render(domain, "utter_booking_submitted", name="Maria Lopez",
                            reference=row["reference"])]
    assert row["appointment_start"] is None and row["preferred_text"]  # the chosen time
    assert [d["target"] for d in row["deliveries"]] == ["file"]


def events_of(rig, reference: str) -> list[icalendar.Event]:  # noqa: F811
    """The calendar's events carrying this reference, read from the server's storage."""
    found = []
    for name in rig.calendar.event_names():
        parsed = icalendar.Calendar.from_ical(rig.calendar.stored_text(rig.calendar.calendar,
                                                                        name))
        found += [e for e in parsed.walk("VEVENT")
                  if str(e.get("X-CLINIC-REFERENCE", "")) == reference]
    return found


def the_request(rig, reference: str) -> dict:  # noqa: F811
    [row] = [r for r in list_requests(get_engine(rig.database_url))
             if r["reference"] == reference]
    return row


def test_move_with_reference_and_phone(rig, domain):  # noqa: F811
    tz = get_clinic().tz
    _, reference = book(rig)
    before = the_request(rig, reference)
    old_start = before["appointment_start"].replace(tzinfo=timezone.utc)
    previous = Slot(old_start, before["appointment_end"].replace(tzinfo=timezone.utc)
                    ).describe(tz)
    patient = f"cal-{uuid.uuid4().hex[:10]}"
    rig.send(patient, "/session_start")
    assert rig.texts(patient, f"Can I move my appointment {reference} to another day?") == \
        [render(domain, "utter_ask_booking_contact")]
    # verified: the form runs again with the details kept, and asks only for the new time
    assert rig.texts(patient, "my number is 212 555 0123") == [
        render(domain, "utter_reschedule_start", reference=reference, when=previous),
        render(domain, "utter_ask_preferred_time")]
    replies = rig.send(patient, "next friday morning")
    titles = offered(replies)
    assert titles and all(t.startswith("Friday") for t in titles)
    assert rig.texts(patient, titles[1]) == [render(
        domain, "utter_reschedule_summary", reference=reference, previous=previous,
        when=titles[1])]
    assert rig.texts(patient, "yes") == [render(
        domain, "utter_appointment_moved", reference=reference, when=titles[1],
        previous=previous)]

    # one event with the reference, at the new time, booked; the old time is free
    [event] = events_of(rig, reference)
    moved = the_request(rig, reference)
    new_start = moved["appointment_start"].replace(tzinfo=timezone.utc)
    assert Slot(new_start, moved["appointment_end"].replace(tzinfo=timezone.utc)
                ).describe(tz) == titles[1]
    assert event.decoded("DTSTART") == new_start and str(event["STATUS"]) == "CONFIRMED"
    assert str(event["X-CLINIC-ASSISTANT"]) == "booking"
    assert moved["calendar_uid"] == str(event["UID"]) != before["calendar_uid"]
    assert (moved["reference"], moved["name"], moved["status"]) == (reference, "Maria Lopez",
                                                                    "new")
    assert list_notices(get_engine(rig.database_url), moved["id"]) == []  # no e-mail given
    # staff are told; the conversation made no new appointment request
    [message] = rig.requests_of(patient)
    assert message["kind"] == "handoff" and f"moved appointment {reference}" in \
        message["message"] and titles[1] in message["message"]


def test_a_move_given_up_keeps_the_appointment(rig, domain):  # noqa: F811
    _, reference = book(rig)
    before = the_request(rig, reference)
    patient = f"cal-{uuid.uuid4().hex[:10]}"
    rig.send(patient, "/session_start")
    # not the e-mail it was booked with: asked for the booking's details, and the phone matches
    assert rig.texts(patient, f"I need to reschedule {reference}, my email is "
                              "nobody@example.com") == [render(domain, "utter_ask_booking_contact")]
    assert rig.texts(patient, "212 555 0123")[0].startswith("Let's find a new time")
    replies = rig.send(patient, "next monday morning")
    titles = offered(replies)
    rig.texts(patient, titles[0])  # held for the patient
    texts = rig.texts(patient, "never mind")
    assert texts[0].startswith(f"Okay, nothing is changed: appointment {reference} stays on")
    assert the_request(rig, reference)["calendar_uid"] == before["calendar_uid"]
    [event] = events_of(rig, reference)  # the hold is given back, the appointment stays
    assert str(event["UID"]) == before["calendar_uid"]


def test_calendar_down_at_the_move_keeps_the_appointment_and_tells_staff(rig, domain):  # noqa: F811
    _, reference = book(rig)
    before = the_request(rig, reference)
    patient = f"cal-{uuid.uuid4().hex[:10]}"
    rig.send(patient, "/session_start")
    rig.texts(patient, f"please move {reference}")
    rig.texts(patient, "212 555 0123")
    titles = offered(rig.send(patient, "next monday afternoon"))
    rig.texts(patient, titles[0])
    rig.calendar.stop()
    try:
        texts = rig.texts(patient, "yes")
    finally:
        rig.calendar.start()
    assert texts == [render(domain, "utter_calendar_unavailable"),
                     render(domain, "utter_cancel_request_recorded", reference=reference)]
    after = the_request(rig, reference)
    assert (after["calendar_uid"], after["appointment_start"]) == (
        before["calendar_uid"], before["appointment_start"])
    assert [str(e["UID"]) for e in events_of(rig, reference)
            if str(e["X-CLINIC-ASSISTANT"]) == "booking"] == [before["calendar_uid"]]
    [message] = rig.requests_of(patient)  # the wish reaches staff
    assert f"Move appointment {reference}" in message["message"] and titles[0] in \
        message["message"]
